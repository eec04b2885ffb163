package podrunner

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// backoffPolicy is the restart delay: initial, doubling per restart, capped at max. A process
// that ran for longer than resetAfter restarts after initial again, as with the kubelet.
type backoffPolicy struct {
	initial time.Duration
	max     time.Duration
}

const resetAfter = 10 * time.Minute

// podProcess supervises the host process of one pod.
type podProcess struct {
	key     string
	uid     types.UID
	binary  string
	args    []string
	env     []string
	logPath string
	grace   time.Duration
	backoff backoffPolicy
	logger  *slog.Logger

	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}

	mu  sync.Mutex
	cmd *exec.Cmd
}

// supervise runs the process and restarts it after a backoff whenever it exits, until stop.
func (p *podProcess) supervise() {
	defer close(p.done)
	delay := p.backoff.initial
	for restarts := 0; ; restarts++ {
		started := time.Now()
		exited, err := p.startOnce(restarts)
		if err != nil {
			p.logger.Error("process did not start", "binary", p.binary, "error", err)
		} else {
			select {
			case err := <-exited:
				p.logger.Warn("process exited while its pod is Running", "exit", describeExit(err), "ran", time.Since(started).Round(time.Millisecond))
			case <-p.stopCh:
				p.terminate(exited)
				return
			}
		}
		if time.Since(started) > resetAfter {
			delay = p.backoff.initial
		}
		p.logger.Info("restarting process after backoff", "backoff", delay, "restarts", restarts+1)
		select {
		case <-time.After(delay):
		case <-p.stopCh:
			return
		}
		delay = min(delay*2, p.backoff.max)
	}
}

// startOnce starts the process, its output appended to the pod's log, and returns a channel
// that receives its exit.
func (p *podProcess) startOnce(restarts int) (<-chan error, error) {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pod log: %w", err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "--- pod runner: start %s (restart %d) at %s\n", p.binary, restarts, time.Now().UTC().Format(time.RFC3339))

	cmd := exec.Command(p.binary, p.args...)
	cmd.Env = p.env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// NOTE: no new process group: the processes stay in the runner's group, so killing the
	// runner's group (what `sim down` does after the grace period) also kills them.
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	p.logger.Info("process started", "pid", cmd.Process.Pid, "log", p.logPath)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}

// terminate sends SIGTERM, waits up to the grace period, then kills the process.
func (p *podProcess) terminate(exited <-chan error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		p.logger.Info("process stopped", "pid", cmd.Process.Pid, "exit", describeExit(err))
	case <-time.After(p.grace):
		_ = cmd.Process.Kill()
		err := <-exited
		p.logger.Warn("process killed after the grace period", "pid", cmd.Process.Pid, "grace", p.grace, "exit", describeExit(err))
	}
}

// stop signals supervise to end the process and waits until the process has exited.
func (p *podProcess) stop() {
	p.stopOnce.Do(func() { close(p.stopCh) })
	<-p.done
}

func describeExit(err error) string {
	if err == nil {
		return "status 0"
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return "signal " + status.Signal().String()
		}
		return fmt.Sprintf("status %d", exitErr.ExitCode())
	}
	return err.Error()
}
