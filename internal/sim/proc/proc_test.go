// Tests for detached processes: Start records the pid, Alive checks the recorded binary so a
// reused pid is not mistaken for the process, and Stop escalates to SIGKILL after the grace.
package proc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lookSleep(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary on PATH")
	}
	resolved, err := filepath.EvalSymlinks(path)
	require.NoError(t, err)
	return resolved
}

func TestStartRecordStop(t *testing.T) {
	sleep := lookSleep(t)
	dir := t.TempDir()

	rec, err := Start(Spec{Name: "sleeper", Binary: sleep, Args: []string{"60"}, Log: filepath.Join(dir, "logs", "sleeper.log")}, dir)
	require.NoError(t, err)
	defer func() { _ = rec.Stop(context.Background(), time.Second) }()

	assert.True(t, rec.Alive())
	records, err := ReadRecords(dir)
	require.NoError(t, err)
	require.Len(t, records, 1)
	assert.Equal(t, rec.PID, records[0].PID)
	assert.Equal(t, sleep, records[0].Binary)

	require.NoError(t, rec.Stop(context.Background(), 5*time.Second))
	assert.False(t, rec.Alive(), "the process must be gone after Stop")
	require.NoError(t, rec.Remove(dir))
	records, err = ReadRecords(dir)
	require.NoError(t, err)
	assert.Empty(t, records)
}

func TestRunningChecksBinary(t *testing.T) {
	sleep := lookSleep(t)
	dir := t.TempDir()
	rec, err := Start(Spec{Name: "sleeper", Binary: sleep, Args: []string{"60"}, Log: filepath.Join(dir, "sleeper.log")}, dir)
	require.NoError(t, err)
	defer func() { _ = rec.Stop(context.Background(), time.Second) }()

	assert.True(t, Running(rec.PID, sleep))
	assert.True(t, Running(rec.PID, ""), "an empty binary skips the executable check")
	assert.False(t, Running(rec.PID, "/usr/bin/not-the-recorded-binary"), "a pid running another binary is not the recorded process")
	assert.False(t, Running(0, ""))
}

func TestStopKillsAfterGrace(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	sh, err = filepath.EvalSymlinks(sh)
	require.NoError(t, err)
	dir := t.TempDir()

	// The shell ignores SIGTERM, so only the SIGKILL after the grace period ends it.
	rec, err := Start(Spec{Name: "stubborn", Binary: sh, Args: []string{"-c", "trap '' TERM; while :; do sleep 1; done"}, Log: filepath.Join(dir, "stubborn.log")}, dir)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)

	require.NoError(t, rec.Stop(context.Background(), 500*time.Millisecond))
	assert.False(t, rec.Alive())
}

func TestStopOfExitedProcessIsNoop(t *testing.T) {
	assert.NoError(t, Stop(context.Background(), "gone", 1<<22, "", time.Second))
}

func TestReadPIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etcd.pid")
	require.NoError(t, os.WriteFile(path, []byte("1234\n"), 0o644))
	pid, err := ReadPIDFile(path)
	require.NoError(t, err)
	assert.Equal(t, 1234, pid)

	require.NoError(t, os.WriteFile(path, []byte("abc"), 0o644))
	_, err = ReadPIDFile(path)
	assert.ErrorContains(t, err, "etcd.pid")
}

func TestStopAlsoStopsOrphanedChildren(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	sh, err = filepath.EvalSymlinks(sh)
	require.NoError(t, err)
	dir := t.TempDir()

	// The shell starts a child in its session and then exits, as a helper killed with SIGKILL
	// would leave its consumer processes behind.
	rec, err := Start(Spec{Name: "parent", Binary: sh, Args: []string{"-c", "sleep 60 & echo $! > " + filepath.Join(dir, "child.pid")}, Log: filepath.Join(dir, "parent.log")}, dir)
	require.NoError(t, err)
	var child int
	require.Eventually(t, func() bool {
		child, err = ReadPIDFile(filepath.Join(dir, "child.pid"))
		return err == nil && child > 0
	}, 5*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return !rec.Alive() }, 5*time.Second, 50*time.Millisecond, "the parent exits at once")
	assert.True(t, Running(child, ""), "the child outlives the parent")
	assert.Contains(t, SessionMembers(rec.PID, rec.Started), child)

	require.NoError(t, rec.Stop(context.Background(), time.Second))
	assert.False(t, Running(child, ""), "Stop must end the orphaned child")
}
