// Tests that Start runs the pinned Azurite, that its connection string reaches working queue
// and table services, and that Stop and context cancellation end the process and clean up.
package azurite_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
)

func TestStartServesQueueAndTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Log("Starting Azurite on kernel-chosen ports")
	server, err := azurite.Start(ctx)
	require.NoError(t, err)
	defer server.Stop()

	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/devstoreaccount1$`, server.QueueEndpoint)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/devstoreaccount1$`, server.TableEndpoint)

	name := fmt.Sprintf("azurite-test-%d", time.Now().UnixNano())

	t.Log("Creating a queue and sending a message through the connection string")
	queues, err := azqueue.NewServiceClientFromConnectionString(server.ConnectionString(), nil)
	require.NoError(t, err)
	queue := queues.NewQueueClient(name)
	_, err = queue.Create(ctx, nil)
	require.NoError(t, err)
	_, err = queue.EnqueueMessage(ctx, "hello", nil)
	require.NoError(t, err)
	props, err := queue.GetProperties(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, props.ApproximateMessagesCount)
	assert.Equal(t, int32(1), *props.ApproximateMessagesCount)

	t.Log("Creating a table through the same connection string")
	tables, err := aztables.NewServiceClientFromConnectionString(server.ConnectionString(), nil)
	require.NoError(t, err)
	tableName := fmt.Sprintf("azuritetest%d", time.Now().UnixNano()%1_000_000_000)
	_, err = tables.CreateTable(ctx, tableName, nil)
	require.NoError(t, err)

	t.Log("Stopping Azurite removes its temporary data directory")
	dir := server.DataDir()
	require.NoError(t, server.Stop())
	assert.NoDirExists(t, dir)
	select {
	case <-server.Done():
	default:
		t.Fatal("Done is still open after Stop returned")
	}
}

func TestStartStopsOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	server, err := azurite.Start(ctx, azurite.WithInMemory())
	require.NoError(t, err)
	defer server.Stop()

	t.Log("Cancelling the context passed to Start")
	cancel()
	select {
	case <-server.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Azurite still runs 30 s after its context was cancelled")
	}
}

func TestStartKeepsGivenDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	server, err := azurite.Start(context.Background(), azurite.WithDataDir(dir))
	require.NoError(t, err)
	require.NoError(t, server.Stop())

	assert.FileExists(t, filepath.Join(dir, "azurite.log"))
}

func TestStartErrors(t *testing.T) {
	notExecutable := filepath.Join(t.TempDir(), "azurite")
	require.NoError(t, os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644))

	exitsAtOnce := filepath.Join(t.TempDir(), "azurite")
	require.NoError(t, os.WriteFile(exitsAtOnce, []byte("#!/bin/sh\necho broken >&2\nexit 3\n"), 0o755))

	cases := []struct {
		name    string
		binary  string
		wantErr string
	}{
		{"missing binary", "/nonexistent/azurite", `"/nonexistent/azurite" from WithBinary not found`},
		{"not executable", notExecutable, "is not an executable file"},
		{"exits before listening", exitsAtOnce, "azurite exited before it listened (exit status 3); its last output: broken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := azurite.Start(context.Background(), azurite.WithBinary(tc.binary))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestAzuriteStopsWhenParentIsKilled(t *testing.T) {
	if os.Getenv("AZURITE_TEST_PARENT") == "1" {
		// Child mode: start Azurite, print its pid and wait to be killed.
		server, err := azurite.Start(context.Background(), azurite.WithInMemory(), azurite.WithDataDir(os.Getenv("AZURITE_TEST_DIR")))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("pid", server.PID())
		time.Sleep(time.Minute)
		return
	}

	t.Log("Running this test binary as a parent that starts Azurite, then killing it with SIGKILL")
	parent := exec.Command(os.Args[0], "-test.run=^TestAzuriteStopsWhenParentIsKilled$")
	// The data directory is the test's, because the killed parent cannot remove it.
	parent.Env = append(os.Environ(), "AZURITE_TEST_PARENT=1", "AZURITE_TEST_DIR="+t.TempDir())
	stdout, err := parent.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, parent.Start())
	defer parent.Process.Kill()

	var pid int
	_, err = fmt.Fscanf(stdout, "pid %d\n", &pid)
	require.NoError(t, err)
	// If the test fails, the orphan must not outlive it.
	defer syscall.Kill(pid, syscall.SIGKILL)
	require.NoError(t, parent.Process.Kill())
	_ = parent.Wait()

	require.Eventually(t, func() bool {
		return syscall.Kill(pid, 0) != nil
	}, 30*time.Second, 100*time.Millisecond, "Azurite (pid %d) outlived its killed parent", pid)
}
