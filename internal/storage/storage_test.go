// Tests client construction against a real Azurite started by TestMain. Connection-string
// clients reach the queue and table, CreateResources is idempotent and Check reports missing
// resources. The identity tests cover the choice of credential, including the fail-fast
// error for a pod that lacks the workload identity label.
package storage_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
)

var emulator *azurite.Server

func TestMain(m *testing.M) {
	server, err := azurite.Start(context.Background(), azurite.WithInMemory())
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting Azurite: %v\n", err)
		os.Exit(1)
	}
	emulator = server
	code := m.Run()
	_ = server.Stop()
	os.Exit(code)
}

var nameCounter atomic.Int64

// uniqueNames returns queue and table names no other test uses.
func uniqueNames(t *testing.T) config.Storage {
	n := nameCounter.Add(1)
	suffix := fmt.Sprintf("%d%d", time.Now().UnixNano()%1_000_000, n)
	return config.Storage{
		ConnectionString: emulator.ConnectionString(),
		EndpointSuffix:   config.DefaultEndpointSuffix,
		AuthMode:         config.AuthAuto,
		QueueName:        "st-" + suffix,
		PoisonQueueName:  "st-" + suffix + "-poison",
		TableName:        "st" + suffix,
	}
}

func quietPolicy() retry.Policy {
	return retry.DefaultPolicy(5*time.Second, slog.New(slog.DiscardHandler))
}

func TestConnectionStringClients(t *testing.T) {
	ctx := context.Background()
	cfg := uniqueNames(t)

	clients, err := storage.New(cfg)
	require.NoError(t, err)
	assert.Equal(t, "connection string (shared key)", clients.Auth)
	assert.Equal(t, emulator.QueueEndpoint, clients.QueueEndpoint)

	t.Log("Creating the resources twice: the second call finds them and succeeds")
	require.NoError(t, clients.CreateResources(ctx, quietPolicy()))
	require.NoError(t, clients.CreateResources(ctx, quietPolicy()))

	t.Log("Every resource passes the check")
	results := clients.Check(ctx, quietPolicy())
	require.Len(t, results, 3)
	for _, result := range results {
		assert.NoError(t, result.Err, result.Kind)
	}
	assert.Equal(t, "about 0 messages", results[0].Detail)
}

func TestCheckReportsMissingResources(t *testing.T) {
	cfg := uniqueNames(t)
	clients, err := storage.New(cfg)
	require.NoError(t, err)

	results := clients.Check(context.Background(), quietPolicy())
	require.Len(t, results, 3)
	for _, result := range results {
		require.Error(t, result.Err, result.Kind)
		assert.Contains(t, result.Err.Error(), "not found")
		assert.Contains(t, result.Err.Error(), "create it, or fix the name")
	}
	assert.Contains(t, results[2].Err.Error(), "TableNotFound")
}

func TestProducerClientsHaveNoTable(t *testing.T) {
	cfg := uniqueNames(t)
	cfg.TableName = ""

	clients, err := storage.New(cfg)
	require.NoError(t, err)
	assert.Nil(t, clients.Table)
	assert.Len(t, clients.Check(context.Background(), quietPolicy()), 2)
}

// staticCredential returns a fixed token in place of Microsoft Entra ID, which the tests
// cannot reach.
type staticCredential struct{}

func (staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestIdentityEndpointsUseSuffix(t *testing.T) {
	cfg := config.Storage{
		AccountName:     "edwprod",
		EndpointSuffix:  "core.chinacloudapi.cn",
		AuthMode:        config.AuthAuto,
		QueueName:       "orders",
		PoisonQueueName: "orders-poison",
		TableName:       "rows",
	}

	clients, err := storage.New(cfg, storage.WithCredential(staticCredential{}))
	require.NoError(t, err)
	assert.Equal(t, "https://edwprod.queue.core.chinacloudapi.cn", clients.QueueEndpoint)
	assert.Equal(t, "https://edwprod.table.core.chinacloudapi.cn", clients.TableEndpoint)
	assert.Equal(t, "https://edwprod.queue.core.chinacloudapi.cn/orders", clients.Queue.URL())
}

func TestNewCredentialChoice(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("header.payload.signature"), 0o600))

	cases := []struct {
		name     string
		mode     string
		env      map[string]string
		wantAuth string
		wantErr  string
	}{
		{
			name:    "pod without the label",
			mode:    config.AuthAuto,
			env:     map[string]string{"AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555", "AZURE_TENANT_ID": "tenant", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
			wantErr: `AZURE_FEDERATED_TOKEN_FILE is not set, so the workload identity webhook injected no token into this pod: add the label azure.workload.identity/use: "true" to the pod template`,
		},
		{
			name:    "explicit mode without token",
			mode:    config.AuthWorkloadIdentity,
			env:     map[string]string{},
			wantErr: `azure.workload.identity/use: "true"`,
		},
		{
			name:    "token file missing",
			mode:    config.AuthAuto,
			env:     map[string]string{"AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "tenant", "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"},
			wantErr: `workload identity token file /var/run/secrets/azure/tokens/azure-identity-token (AZURE_FEDERATED_TOKEN_FILE) cannot be read`,
		},
		{
			name:    "token without client id",
			mode:    config.AuthAuto,
			env:     map[string]string{"AZURE_TENANT_ID": "tenant", "AZURE_FEDERATED_TOKEN_FILE": tokenFile},
			wantErr: "workload identity needs AZURE_CLIENT_ID and AZURE_TENANT_ID",
		},
		{
			name:     "injected pod",
			mode:     config.AuthAuto,
			env:      map[string]string{"AZURE_CLIENT_ID": "id-1", "AZURE_TENANT_ID": "tenant", "AZURE_FEDERATED_TOKEN_FILE": tokenFile},
			wantAuth: "workload identity (client id-1)",
		},
		{
			name:     "laptop with service principal",
			mode:     config.AuthAuto,
			env:      map[string]string{"AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "tenant", "AZURE_CLIENT_SECRET": "s", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
			wantAuth: "DefaultAzureCredential",
		},
		{
			name:     "laptop with Azure CLI",
			mode:     config.AuthAuto,
			env:      map[string]string{"AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "tenant"},
			wantAuth: "DefaultAzureCredential",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(name string) string { return tc.env[name] }

			_, auth, err := storage.NewCredential(tc.mode, getenv)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.True(t, config.IsUsage(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantAuth, auth)
		})
	}
}

func TestNewFailsFastWithoutToken(t *testing.T) {
	cfg := config.Storage{
		AccountName: "edwprod", EndpointSuffix: config.DefaultEndpointSuffix, AuthMode: config.AuthAuto,
		QueueName: "orders", PoisonQueueName: "orders-poison", TableName: "rows",
	}
	env := map[string]string{"AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "tenant", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}

	_, err := storage.New(cfg, storage.WithGetenv(func(name string) string { return env[name] }))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "azure.workload.identity/use")
}

func TestCheckWrongKeyNamesKeyFix(t *testing.T) {
	names := uniqueNames(t)
	require.NoError(t, mustNew(t, names).CreateResources(context.Background(), quietPolicy()))

	t.Log("Checking with a connection string whose AccountKey is another valid key")
	wrongKey := base64.StdEncoding.EncodeToString([]byte("not the key of devstoreaccount1, 64 bytes long at least.........."))
	names.ConnectionString = strings.Replace(emulator.ConnectionString(), azurite.AccountKey, wrongKey, 1)
	results := mustNew(t, names).Check(context.Background(), retry.DefaultPolicy(0, slog.New(slog.DiscardHandler)))

	require.Len(t, results, 3)
	for _, result := range results {
		require.Error(t, result.Err, result.Kind)
		assert.Contains(t, result.Err.Error(), "HTTP 403", result.Kind)
		assert.Contains(t, result.Err.Error(), "the AccountKey in AZURE_STORAGE_CONNECTION_STRING is wrong", result.Kind)
		assert.NotContains(t, result.Err.Error(), "role", result.Kind)
	}
}

func mustNew(t *testing.T, names config.Storage) *storage.Clients {
	t.Helper()
	clients, err := storage.New(names)
	require.NoError(t, err)
	return clients
}
