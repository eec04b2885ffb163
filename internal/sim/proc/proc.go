// Package proc starts host processes detached from the caller, records them in a state
// directory and stops them by pid. A record names the binary, so a pid that the kernel has
// reused for another program is never signalled.
package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record describes one started process. It is stored as <dir>/<Name>.json.
type Record struct {
	Name    string    `json:"name"`
	PID     int       `json:"pid"`
	Binary  string    `json:"binary"`
	Args    []string  `json:"args"`
	Log     string    `json:"log"`
	Started time.Time `json:"started"`
}

// Spec is a process to start.
type Spec struct {
	Name   string
	Binary string
	Args   []string
	// Env is the complete environment. Nil inherits the caller's.
	Env []string
	// Dir is the working directory. Empty means the caller's.
	Dir string
	// Log receives stdout and stderr, appended.
	Log string
}

// Start runs spec in a session of its own, so it outlives the caller and a terminal's signals
// do not reach it, and writes its Record into recordDir.
func Start(spec Spec, recordDir string) (*Record, error) {
	if err := os.MkdirAll(filepath.Dir(spec.Log), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: create log directory: %w", spec.Name, err)
	}
	logFile, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", spec.Name, err)
	}
	defer logFile.Close()

	cmd := exec.Command(spec.Binary, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Binary, err)
	}
	// NOTE: Wait reaps the child if it exits while the caller still runs (a test, for
	// example), so a dead process never lingers as a zombie that looks alive. When the caller
	// exits first, init adopts and reaps the child.
	go func() { _ = cmd.Wait() }()

	rec := &Record{
		Name:    spec.Name,
		PID:     cmd.Process.Pid,
		Binary:  spec.Binary,
		Args:    spec.Args,
		Log:     spec.Log,
		Started: time.Now().UTC(),
	}
	if err := rec.Write(recordDir); err != nil {
		_ = syscall.Kill(-rec.PID, syscall.SIGKILL)
		return nil, err
	}
	return rec, nil
}

// Write stores the record as <dir>/<Name>.json.
func (r *Record) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write record of %s: %w", r.Name, err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write record of %s: %w", r.Name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.Name+".json"), data, 0o644); err != nil {
		return fmt.Errorf("write record of %s: %w", r.Name, err)
	}
	return nil
}

// Remove deletes the record file.
func (r *Record) Remove(dir string) error {
	err := os.Remove(filepath.Join(dir, r.Name+".json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove record of %s: %w", r.Name, err)
	}
	return nil
}

// ReadRecords returns every record in dir, oldest first.
func ReadRecords(dir string) ([]*Record, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read process records in %s: %w", dir, err)
	}
	var records []*Record
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read process record %s: %w", e.Name(), err)
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("parse process record %s: %w", e.Name(), err)
		}
		records = append(records, &r)
	}
	slices.SortFunc(records, func(a, b *Record) int { return a.Started.Compare(b.Started) })
	return records, nil
}

// Alive reports whether the recorded process still runs the recorded binary.
func (r *Record) Alive() bool { return Running(r.PID, r.Binary) }

// Running reports whether pid is a live, non-zombie process whose executable is binary. An
// empty binary skips the executable check.
func Running(pid int, binary string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the command name, which is in parentheses and may contain spaces.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	if binary == "" {
		return true
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	// NOTE: the kernel appends " (deleted)" when the file was replaced after the start, as a
	// rebuild does. The process is still the one that was started.
	exe = strings.TrimSuffix(exe, " (deleted)")
	want, err := filepath.EvalSymlinks(binary)
	if err != nil {
		want = binary
	}
	return exe == want || exe == binary
}

// Stop sends SIGTERM to the recorded process, waits up to grace for it to exit, then sends
// SIGKILL to its whole process group. Processes it started that outlive it (in its session,
// started after it) get the same treatment, so a helper killed earlier leaves nothing behind.
// It returns nil when everything is already gone.
func (r *Record) Stop(ctx context.Context, grace time.Duration) error {
	members := SessionMembers(r.PID, r.Started)
	if err := Stop(ctx, r.Name, r.PID, r.Binary, grace); err != nil {
		return err
	}
	var errs []error
	for _, pid := range members {
		if err := Stop(ctx, fmt.Sprintf("%s child", r.Name), pid, "", grace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// userHZ is the unit of process start times in /proc/<pid>/stat; Linux reports them in
// USER_HZ, which is 100 on every architecture Go supports.
const userHZ = 100

// SessionMembers returns the live processes, other than sid itself, in the session that sid
// leads and that started at or after since. The start-time filter keeps a session that a reused
// pid leads now from being mistaken for the recorded one.
func SessionMembers(sid int, since time.Time) []int {
	boot, err := bootTime()
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var members []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == sid {
			continue
		}
		fields, err := statFields(pid)
		// After the command name: state(0) ppid(1) pgrp(2) session(3) ... starttime(19).
		if err != nil || len(fields) < 20 || fields[0] == "Z" || fields[3] != strconv.Itoa(sid) {
			continue
		}
		ticks, err := strconv.ParseInt(fields[19], 10, 64)
		if err != nil {
			continue
		}
		started := boot.Add(time.Duration(ticks) * time.Second / userHZ)
		// The record's time is taken just after the start, so allow a second of slack.
		if started.Before(since.Add(-time.Second)) {
			continue
		}
		members = append(members, pid)
	}
	return members
}

// statFields returns the fields of /proc/<pid>/stat that follow the command name.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strings.Fields(string(data[i+1:])), nil
}

// bootTime reads the system boot time from /proc/stat.
func bootTime() (time.Time, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if value, ok := strings.CutPrefix(line, "btime "); ok {
			seconds, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			return time.Unix(seconds, 0), nil
		}
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}

// Stop terminates pid as Record.Stop does; name is used in errors only.
func Stop(ctx context.Context, name string, pid int, binary string, grace time.Duration) error {
	if !Running(pid, binary) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", name, pid, err)
	}
	if waitExit(ctx, pid, binary, grace) {
		return nil
	}
	// NOTE: processes started by Start lead their own session, so -pid is their process
	// group. For a pid that is not a group leader the group kill fails and the pid is killed.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill %s (pid %d): %w", name, pid, err)
		}
	}
	if !waitExit(ctx, pid, binary, 5*time.Second) {
		return fmt.Errorf("kill %s (pid %d): still running after SIGKILL", name, pid)
	}
	return nil
}

func waitExit(ctx context.Context, pid int, binary string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !Running(pid, binary) {
			return true
		}
		select {
		case <-ctx.Done():
			return !Running(pid, binary)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return !Running(pid, binary)
}

// ReadPIDFile parses a file that contains one decimal pid, as kwokctl writes them.
func ReadPIDFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("parse pid file %s: %w", path, err)
	}
	return pid, nil
}
