// Tests the consumer as a real process built with go build: exit status 2 for invalid
// configuration and for a pod without the workload identity label, --check, SIGKILL in the
// middle of a batch, and SIGTERM under load. Every message must end as exactly one row.
package consumer_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/datapathtest"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/storage"
)

// consumerProcess is a started consumer binary with its captured output.
type consumerProcess struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

func startProcess(t *testing.T, env []string, args ...string) *consumerProcess {
	t.Helper()
	binary := datapathtest.Binary(t, "./src/consumer")
	p := &consumerProcess{stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	// A killed test binary takes its consumer with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit status, failing the test if the process runs longer than limit.
func (p *consumerProcess) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("consumer still running after %s; stderr:\n%s", limit, p.stderr.String())
		return -1
	}
}

func runProcess(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	p := startProcess(t, env, args...)
	status := p.wait(t, 2*time.Minute)
	return status, p.stdout.String(), p.stderr.String()
}

func TestProcessExitsTwoOnInvalidConfig(t *testing.T) {
	cases := []struct {
		name    string
		env     []string
		args    []string
		wantErr string
	}{
		{"missing queue", []string{"AZURE_STORAGE_CONNECTION_STRING=UseDevelopmentStorage=true", "AZURE_TABLE_NAME=rows"}, nil,
			"consumer: missing queue name: set --queue or AZURE_QUEUE_NAME\n"},
		{"malformed connection string", []string{"AZURE_STORAGE_CONNECTION_STRING=AccountName=x;AccountKey", "AZURE_QUEUE_NAME=orders", "AZURE_TABLE_NAME=rows"}, nil,
			"consumer: invalid AZURE_STORAGE_CONNECTION_STRING: segment 2 has no '='"},
		{"batch size", []string{"AZURE_STORAGE_CONNECTION_STRING=UseDevelopmentStorage=true", "AZURE_QUEUE_NAME=orders", "AZURE_TABLE_NAME=rows"}, []string{"--batch-size", "64"},
			"consumer: invalid --batch-size 64 (EDW_BATCH_SIZE): must be 1 to 32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, stderr := runProcess(t, tc.env, tc.args...)
			assert.Equal(t, config.ExitUsage, status)
			assert.Contains(t, stderr, tc.wantErr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "expected one line, got %q", stderr)
		})
	}
}

func TestProcessWithoutWorkloadIdentityLabel(t *testing.T) {
	t.Log("A pod whose ServiceAccount has the client-id annotation but whose template lacks the label")
	env := []string{
		"AZURE_STORAGE_ACCOUNT_NAME=edwprod",
		"AZURE_QUEUE_NAME=orders",
		"AZURE_TABLE_NAME=rows",
		"AZURE_CLIENT_ID=11111111-2222-3333-4444-555555555555",
		"AZURE_TENANT_ID=66666666-7777-8888-9999-000000000000",
		"KUBERNETES_SERVICE_HOST=10.0.0.1",
	}

	status, _, stderr := runProcess(t, env)
	assert.Equal(t, config.ExitUsage, status)
	assert.Contains(t, stderr, `add the label azure.workload.identity/use: "true" to the pod template`)
	assert.Contains(t, stderr, "AZURE_FEDERATED_TOKEN_FILE is not set")
}

func TestProcessCheck(t *testing.T) {
	names := datapathtest.Names(t, emulator, "cons")
	datapathtest.Clients(t, names)

	t.Log("All three resources exist: three ok lines, exit 0")
	status, stdout, _ := runProcess(t, datapathtest.Env(names), "--check")
	assert.Equal(t, 0, status)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3)
	for _, line := range lines {
		assert.True(t, strings.HasPrefix(line, "ok "), line)
	}
	assert.Contains(t, lines[0], names.QueueName)
	assert.Contains(t, lines[2], names.TableName)

	t.Log("A table that does not exist: a FAIL line naming it, exit 1")
	missing := names
	missing.TableName = names.TableName + "absent"
	status, stdout, _ = runProcess(t, datapathtest.Env(missing), "--check")
	assert.Equal(t, 1, status)
	assert.Contains(t, stdout, "FAIL  table        "+missing.TableName+": table "+missing.TableName+" not found")
}

// countVisible receives every visible message once, with a 2 s visibility timeout, and
// returns how many distinct messages it saw.
func countVisible(t *testing.T, clients *storage.Clients) int {
	t.Helper()
	seen := map[string]bool{}
	batch := int32(32)
	visibility := int32(2)
	for {
		response, err := clients.Queue.DequeueMessages(context.Background(), &azqueue.DequeueMessagesOptions{NumberOfMessages: &batch, VisibilityTimeout: &visibility})
		require.NoError(t, err)
		repeated := len(response.Messages) == 0
		for _, m := range response.Messages {
			repeated = repeated || seen[*m.MessageID]
			seen[*m.MessageID] = true
		}
		if repeated {
			return len(seen)
		}
	}
}

// enqueueNumbered sends count valid messages with ids prefix-0000 upwards and returns the ids.
func enqueueNumbered(t *testing.T, clients *storage.Clients, prefix string, count int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i := range count {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		ids[id] = true
		datapathtest.EnqueueBody(t, clients.Queue, datapathtest.Body(id), message.Text)
	}
	return ids
}

// requireExactlyOneRowEach checks that the table holds one row per id and nothing else, and
// that the queues are empty.
func requireExactlyOneRowEach(t *testing.T, clients *storage.Clients, ids map[string]bool) {
	t.Helper()
	rows := datapathtest.Rows(t, clients.Table)
	seen := map[string]int{}
	for _, row := range rows {
		seen[row.RowKey]++
	}
	for id := range ids {
		assert.Equal(t, 1, seen[id], "rows for %s", id)
	}
	assert.Len(t, rows, len(ids))
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Poison))
}

func TestProcessKilledMidBatch(t *testing.T) {
	const count = 400
	names := datapathtest.Names(t, emulator, "cons")
	clients := datapathtest.Clients(t, names)
	ids := enqueueNumbered(t, clients, "crash", count)

	t.Log("Starting a consumer with a 2 s visibility timeout and killing it with SIGKILL once it is busy")
	env := datapathtest.Env(names, "EDW_VISIBILITY_TIMEOUT=2s", "EDW_HTTP_ADDR=127.0.0.1:0")
	p := startProcess(t, env)
	require.Eventually(t, func() bool {
		return datapathtest.ApproximateCount(t, clients.Queue) < count-40
	}, time.Minute, 10*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(t, 30*time.Second)
	remaining := datapathtest.ApproximateCount(t, clients.Queue)
	t.Logf("Killed with %d messages left in the queue, some of them invisible", remaining)
	require.Greater(t, remaining, int32(0), "the consumer finished before it was killed; the test proves nothing")

	t.Log("Restarting with --until-empty: the killed consumer's messages come back when their visibility timeout ends")
	status, stdout, stderr := runProcess(t, append(env, "EDW_UNTIL_EMPTY=true", "EDW_IDLE_TIMEOUT=1s"))
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, stdout, "processed ")

	requireExactlyOneRowEach(t, clients, ids)
}

func TestProcessSIGTERMDrains(t *testing.T) {
	const count = 600
	const grace = 5 * time.Second
	names := datapathtest.Names(t, emulator, "cons")
	clients := datapathtest.Clients(t, names)
	ids := enqueueNumbered(t, clients, "drain", count)

	t.Log("Starting a consumer and sending SIGTERM while it works through the queue")
	env := datapathtest.Env(names, "EDW_VISIBILITY_TIMEOUT=20s", "EDW_HTTP_ADDR=127.0.0.1:0",
		fmt.Sprintf("EDW_SHUTDOWN_GRACE=%s", grace))
	p := startProcess(t, env)
	require.Eventually(t, func() bool {
		return datapathtest.ApproximateCount(t, clients.Queue) < count-40
	}, time.Minute, 10*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))

	// The limit is the grace period plus time for the process to return, not a speed target.
	status := p.wait(t, grace+10*time.Second)
	assert.Equal(t, 0, status, p.stderr.String())
	assert.Contains(t, p.stderr.String(), `"msg":"shutdown requested: no new receives; finishing in-flight messages"`)
	assert.NotContains(t, p.stderr.String(), azurite.AccountKey[:20], "the account key reached the log")
	assert.Contains(t, p.stdout.String(), "processed ")
	remaining := datapathtest.ApproximateCount(t, clients.Queue)
	t.Logf("Stopped with %d messages left", remaining)
	require.Greater(t, remaining, int32(0), "the consumer finished before SIGTERM; the test proves nothing")

	t.Log("Every unfinished message is visible at once: none was left invisible until its timeout")
	assert.Equal(t, int(remaining), countVisible(t, clients))

	t.Log("A new consumer processes the rest")
	var restartErr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	restart := exec.CommandContext(ctx, datapathtest.Binary(t, "./src/consumer"))
	restart.Env = append(env, "EDW_UNTIL_EMPTY=true", "EDW_IDLE_TIMEOUT=1s")
	restart.Stderr = &restartErr
	require.NoError(t, restart.Run(), restartErr.String())

	requireExactlyOneRowEach(t, clients, ids)
}
