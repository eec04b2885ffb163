package status

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/storage"
)

// QueueReader reads a queue's approximate message count.
type QueueReader interface {
	ApproximateMessageCount(ctx context.Context, queue string) (int64, error)
}

// StorageSettings locate the storage account. ConnectionString is a secret: it is never logged
// or shown.
type StorageSettings struct {
	ConnectionString string
	AccountName      string
	EndpointSuffix   string
}

// ServiceQueueReader reads queue depths with an azqueue service client.
type ServiceQueueReader struct {
	Client *azqueue.ServiceClient
	// Auth describes how Client authenticates, such as "DefaultAzureCredential". It contains
	// no secret.
	Auth string
}

// ApproximateMessageCount returns the queue's x-ms-approximate-messages-count, which counts
// visible and invisible messages.
func (r ServiceQueueReader) ApproximateMessageCount(ctx context.Context, queue string) (int64, error) {
	properties, err := r.Client.NewQueueClient(queue).GetProperties(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("read properties of queue %s: %w", queue, err)
	}
	if properties.ApproximateMessagesCount == nil {
		return -1, fmt.Errorf("queue %s returned no approximate message count", queue)
	}
	return int64(*properties.ApproximateMessagesCount), nil
}

// NewQueueReader builds a ServiceQueueReader with the apps' storage clients. It uses the
// connection string (account key or SAS, or Azurite's explicit QueueEndpoint) when one is set.
// Otherwise it uses the account name and endpoint suffix with credential, or with the identity
// internal/storage chooses when credential is nil. Errors never contain the connection string.
func NewQueueReader(settings StorageSettings, queue, poison string, credential azcore.TokenCredential) (*ServiceQueueReader, error) {
	if settings.ConnectionString == "" && settings.AccountName == "" {
		return nil, errors.New("no storage account: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME (--account-name) with an Azure login (az login)")
	}
	names := config.Storage{
		ConnectionString: settings.ConnectionString,
		AccountName:      settings.AccountName,
		EndpointSuffix:   settings.EndpointSuffix,
		QueueName:        queue,
		PoisonQueueName:  poison,
		AuthMode:         config.AuthAuto,
	}
	if names.EndpointSuffix == "" {
		names.EndpointSuffix = config.DefaultEndpointSuffix
	}

	var opts []storage.Option
	if credential != nil {
		opts = append(opts, storage.WithCredential(credential))
	}
	// NOTE: internal/storage turns the SDK's retries off, so a refused connection fails the
	// read at once and the next poll tries again. The snapshot timeout bounds a hung read.
	clients, err := storage.New(names, opts...)
	if err != nil {
		return nil, err
	}
	return &ServiceQueueReader{Client: clients.Queues, Auth: clients.Auth}, nil
}

// readQueue reads the depth of the queue and the poison queue. Names come from WithQueueNames,
// else the consumer Deployment's env. The reader is built once and reused.
func (c *Collector) readQueue(ctx context.Context, env consumerEnv) Queue {
	state := Queue{Name: c.queueName, PoisonName: c.poisonName, Depth: -1, PoisonDepth: -1}
	if state.Name == "" {
		state.Name = env.queue
	}
	if state.PoisonName == "" {
		state.PoisonName = env.poison
	}
	if state.PoisonName == "" && state.Name != "" {
		state.PoisonName = state.Name + "-poison"
	}
	if state.Name == "" {
		state.Err = "queue name unknown: the consumer Deployment was not found and no --queue was given"
		return state
	}

	reader, source, err := c.queueClient(ctx, env, state.Name, state.PoisonName)
	state.Source = source
	if err != nil {
		state.Err = err.Error()
		return state
	}

	depth, err := reader.ApproximateMessageCount(ctx, state.Name)
	if err != nil {
		state.Err = err.Error()
		return state
	}
	state.Depth = depth

	poisonDepth, err := reader.ApproximateMessageCount(ctx, state.PoisonName)
	if err != nil {
		// NOTE: a missing poison queue is normal until the first poison message; the depth
		// stays -1 and only a debug line records why.
		c.logger.Debug("poison queue depth unavailable", "queue", state.PoisonName, "error", err)
		return state
	}
	state.PoisonDepth = poisonDepth
	return state
}

// queueClient returns the reader, building it on first use from, in order: WithQueueReader, the
// WithStorage connection string, the Secret the Deployment references, a literal connection
// string in the Deployment, and the account name with an Azure credential.
func (c *Collector) queueClient(ctx context.Context, env consumerEnv, queue, poison string) (QueueReader, string, error) {
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	if c.queueReader != nil {
		return c.queueReader, c.queueSource, nil
	}

	settings := c.storage
	if settings.AccountName == "" {
		settings.AccountName = env.account
	}
	if settings.EndpointSuffix == "" {
		settings.EndpointSuffix = env.suffix
	}

	source := "connection string from the caller"
	if settings.ConnectionString == "" && c.secretLookup && env.secretName != "" {
		secret, err := c.kubeClient.CoreV1().Secrets(c.namespace).Get(ctx, env.secretName, metav1.GetOptions{})
		if err != nil {
			return nil, "", fmt.Errorf("read the connection string from Secret %s/%s: %w (set AZURE_STORAGE_CONNECTION_STRING instead)", c.namespace, env.secretName, err)
		}
		value, ok := secret.Data[env.secretKey]
		if !ok {
			return nil, "", fmt.Errorf("Secret %s/%s has no key %s (the consumer Deployment reads AZURE_STORAGE_CONNECTION_STRING from it)", c.namespace, env.secretName, env.secretKey)
		}
		settings.ConnectionString = string(value)
		source = fmt.Sprintf("connection string from Secret %s/%s", c.namespace, env.secretName)
	}
	if settings.ConnectionString == "" && env.connectionString != "" {
		settings.ConnectionString = env.connectionString
		source = "connection string from the consumer Deployment's env"
	}
	if settings.ConnectionString == "" {
		source = fmt.Sprintf("account %s with an Azure credential", settings.AccountName)
	}

	reader, err := NewQueueReader(settings, queue, poison, c.credential)
	if err != nil {
		return nil, source, err
	}
	if settings.ConnectionString == "" {
		source = fmt.Sprintf("account %s with %s", settings.AccountName, reader.Auth)
	}
	c.queueReader, c.queueSource = reader, source
	c.logger.Debug("queue client ready", "source", source)
	return reader, source, nil
}
