// Package azurite starts and stops Azurite, the Azure Storage emulator, as a child process on
// 127.0.0.1 for tests, `edwctl local`, the benchmark and the simulated cluster.
//
// Each Server listens on ports the kernel picks (port 0), keeps its data in a directory of its
// own and is stopped by Stop or by cancelling the context passed to Start. The binary is the
// one pinned in tools/azurite (installed by `make azurite`), found relative to the repository
// root, or the one named by the EDW_AZURITE_BIN environment variable.
package azurite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// AccountName is Azurite's well-known development account.
	AccountName = "devstoreaccount1"

	// AccountKey is the published key of Azurite's development account. It is not a secret:
	// every Azurite install accepts it, and it grants access to nothing outside the emulator.
	AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

	// BinaryEnv names the environment variable that overrides the Azurite binary's path.
	BinaryEnv = "EDW_AZURITE_BIN"

	// binaryInRepo is the path of the pinned binary relative to the repository root.
	binaryInRepo = "tools/azurite/node_modules/.bin/azurite"
)

// Server is a running Azurite process.
type Server struct {
	cmd     *exec.Cmd
	dataDir string
	ownsDir bool

	// BlobEndpoint, QueueEndpoint and TableEndpoint are the service URLs including the
	// account path, for example http://127.0.0.1:41234/devstoreaccount1.
	BlobEndpoint  string
	QueueEndpoint string
	TableEndpoint string

	exited  chan struct{}
	waitErr error
	tail    *tailWriter

	stopOnce sync.Once
	stopErr  error
}

type options struct {
	binary       string
	dataDir      string
	inMemory     bool
	loose        bool
	output       io.Writer
	startTimeout time.Duration
	stopTimeout  time.Duration
	queuePort    int
	tablePort    int
}

// Option configures Start.
type Option func(*options)

// WithBinary sets the path of the azurite executable. It takes precedence over EDW_AZURITE_BIN
// and the repository's pinned install.
func WithBinary(path string) Option { return func(o *options) { o.binary = path } }

// WithDataDir keeps Azurite's files in dir, which Stop leaves in place. Without it each Server
// uses a new temporary directory that Stop removes.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithInMemory keeps queues and tables in memory only (Azurite's --inMemoryPersistence).
func WithInMemory() Option { return func(o *options) { o.inMemory = true } }

// WithLoose sets Azurite's --loose mode, which ignores unsupported headers and parameters.
// It is on by default.
func WithLoose(loose bool) Option { return func(o *options) { o.loose = loose } }

// WithOutput copies Azurite's stdout and stderr to w. Without it the output goes to
// azurite.log in the data directory.
func WithOutput(w io.Writer) Option { return func(o *options) { o.output = w } }

// WithStartTimeout bounds the wait for Azurite to listen. The default is 60 s, because the
// first start of Node on a busy machine can take several seconds.
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.startTimeout = d } }

// WithPorts fixes the queue and table ports. Zero, the default, lets the kernel pick a free one.
func WithPorts(queuePort, tablePort int) Option {
	return func(o *options) {
		o.queuePort = queuePort
		o.tablePort = tablePort
	}
}

// listeningLine matches Azurite's readiness lines, for example
// "Azurite Queue service is successfully listening at http://127.0.0.1:41234".
var listeningLine = regexp.MustCompile(`Azurite (Blob|Queue|Table) service is successfully listening at (http://\S+)`)

// Start runs Azurite and returns once its queue and table services listen. Cancelling ctx
// stops the process, as Stop does.
func Start(ctx context.Context, opts ...Option) (*Server, error) {
	o := options{
		loose:        true,
		startTimeout: 60 * time.Second,
		stopTimeout:  10 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}

	binary, err := findBinary(o.binary)
	if err != nil {
		return nil, err
	}

	s := &Server{dataDir: o.dataDir, exited: make(chan struct{})}
	if s.dataDir == "" {
		s.dataDir, err = os.MkdirTemp("", "azurite-")
		if err != nil {
			return nil, fmt.Errorf("creating Azurite's data directory: %w", err)
		}
		s.ownsDir = true
	} else if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating Azurite's data directory %s: %w", s.dataDir, err)
	}

	output := o.output
	var logFile *os.File
	if output == nil {
		logFile, err = os.Create(filepath.Join(s.dataDir, "azurite.log"))
		if err != nil {
			s.removeDataDir()
			return nil, fmt.Errorf("creating Azurite's log file: %w", err)
		}
		output = logFile
	}

	args := []string{
		"--silent",
		"--disableTelemetry",
		"--skipApiVersionCheck",
		"--blobHost", "127.0.0.1", "--blobPort", "0",
		"--queueHost", "127.0.0.1", "--queuePort", fmt.Sprint(o.queuePort),
		"--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(o.tablePort),
	}
	if o.loose {
		args = append(args, "--loose")
	}
	if o.inMemory {
		// Azurite rejects --location together with --inMemoryPersistence.
		args = append(args, "--inMemoryPersistence")
	} else {
		args = append(args, "--location", s.dataDir)
	}

	// NOTE: Azurite's combined binary always starts the blob service as well, so it listens on
	// a third port that no client uses. Running azurite-queue and azurite-table instead would cost a
	// second Node process.
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = s.dataDir
	s.cmd.Env = os.Environ()
	// A process group of its own lets Stop signal Node and anything it forks, and keeps a
	// terminal's Ctrl-C from reaching Azurite before the parent has finished with it.
	// Pdeathsig stops Azurite when the parent is killed without a chance to call Stop, as a
	// test binary is on a timeout.
	// NOTE: Linux sends Pdeathsig when the OS thread that started the child exits, not the
	// whole process. Go keeps that thread unless a goroutine locked to it exits, so this holds
	// for the callers here, none of which lock threads.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	s.tail = &tailWriter{}
	output = io.MultiWriter(output, s.tail)
	s.cmd.Stderr = output

	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		closeIfOpen(logFile)
		s.removeDataDir()
		return nil, fmt.Errorf("connecting to Azurite's output: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		closeIfOpen(logFile)
		s.removeDataDir()
		return nil, fmt.Errorf("starting Azurite %s: %w", binary, err)
	}

	endpoints := make(chan [2]string, 3)
	go func() {
		scanEndpoints(stdout, output, endpoints)
		s.waitErr = s.cmd.Wait()
		closeIfOpen(logFile)
		close(s.exited)
	}()

	if err := s.waitReady(ctx, endpoints, o.startTimeout); err != nil {
		_ = s.stop(o.stopTimeout)
		return nil, err
	}

	go func() {
		select {
		case <-ctx.Done():
			_ = s.stop(o.stopTimeout)
		case <-s.exited:
		}
	}()
	return s, nil
}

// scanEndpoints copies Azurite's stdout to output and sends each service URL it announces.
func scanEndpoints(stdout io.Reader, output io.Writer, endpoints chan<- [2]string) {
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		line := scanner.Text()
		fmt.Fprintln(output, line)
		if m := listeningLine.FindStringSubmatch(line); m != nil {
			select {
			case endpoints <- [2]string{m[1], m[2]}:
			default:
			}
		}
	}
	// NOTE: the scanner stops on a line longer than 64 KiB. Draining the rest keeps Azurite
	// from blocking on a full pipe.
	_, _ = io.Copy(output, stdout)
}

func (s *Server) waitReady(ctx context.Context, endpoints <-chan [2]string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	for s.QueueEndpoint == "" || s.TableEndpoint == "" || s.BlobEndpoint == "" {
		select {
		case ep := <-endpoints:
			url := ep[1] + "/" + AccountName
			switch ep[0] {
			case "Blob":
				s.BlobEndpoint = url
			case "Queue":
				s.QueueEndpoint = url
			case "Table":
				s.TableEndpoint = url
			}
		case <-s.exited:
			return fmt.Errorf("azurite exited before it listened (%v); its last output: %s",
				s.waitErr, s.tail.String())
		case <-timer.C:
			return fmt.Errorf("azurite did not listen within %s; its last output: %s", timeout, s.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("waiting for Azurite to listen: %w", ctx.Err())
		}
	}
	return nil
}

// ConnectionString returns a storage connection string for the development account with the
// blob, queue and table endpoints of this Server.
func (s *Server) ConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;QueueEndpoint=%s;TableEndpoint=%s;",
		AccountName, AccountKey, s.BlobEndpoint, s.QueueEndpoint, s.TableEndpoint)
}

// DataDir returns the directory that holds Azurite's files and its log.
func (s *Server) DataDir() string { return s.dataDir }

// PID returns the Azurite process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Done is closed when the Azurite process has exited.
func (s *Server) Done() <-chan struct{} { return s.exited }

// Stop sends SIGTERM to Azurite, waits up to 10 s for it to exit, then kills it, and removes
// the data directory unless it came from WithDataDir. Calling Stop again returns the first
// result.
func (s *Server) Stop() error {
	return s.stop(10 * time.Second)
}

func (s *Server) stop(timeout time.Duration) error {
	s.stopOnce.Do(func() {
		s.stopErr = s.terminate(timeout)
		s.removeDataDir()
	})
	return s.stopErr
}

func (s *Server) terminate(timeout time.Duration) error {
	pgid := -s.cmd.Process.Pid
	select {
	case <-s.exited:
		return nil
	default:
	}

	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping Azurite (pid %d): %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(timeout):
	}

	if err := syscall.Kill(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing Azurite (pid %d) after %s: %w", s.cmd.Process.Pid, timeout, err)
	}
	<-s.exited
	return nil
}

func (s *Server) removeDataDir() {
	if s.ownsDir {
		_ = os.RemoveAll(s.dataDir)
	}
}

// tailWriter keeps the last bytes written to it, for error messages.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 2048

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailSize {
		w.buf = w.buf[len(w.buf)-tailSize:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	text := strings.TrimSpace(string(w.buf))
	if text == "" {
		return "(none)"
	}
	return strings.ReplaceAll(text, "\n", " | ")
}

func closeIfOpen(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

// findBinary returns the first of: explicit, $EDW_AZURITE_BIN, the pinned install under the
// repository root found from the working directory upwards.
func findBinary(explicit string) (string, error) {
	if explicit != "" {
		return checkExecutable(explicit, "WithBinary")
	}
	if env := os.Getenv(BinaryEnv); env != "" {
		return checkExecutable(env, BinaryEnv)
	}

	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("finding Azurite: %w; set %s to the azurite binary", err, BinaryEnv)
	}
	path := filepath.Join(root, binaryInRepo)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("azurite not found at %s: run `make azurite` (npm ci in tools/azurite) or set %s", path, BinaryEnv)
	}
	return path, nil
}

func checkExecutable(path, source string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("azurite binary %q from %s not found: %w", path, source, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("azurite binary %q from %s is not an executable file", path, source)
	}
	return path, nil
}

// RepoRoot returns the nearest directory at or above the working directory whose go.mod
// declares the aks-edw module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("reading the working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/aks-edw/aks-edw\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no aks-edw go.mod in the working directory or above it")
		}
		dir = parent
	}
}
