package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/status"
	"github.com/aks-edw/aks-edw/internal/storage"
	"github.com/aks-edw/aks-edw/src/producer/producer"
)

// storageRetryTimeout bounds the retries of one storage call from the test process, including
// HTTP 403 while a new role assignment propagates on Azure.
const storageRetryTimeout = 5 * time.Minute

// queueStore is the scenario's view of its queue, poison queue and table.
type queueStore struct {
	clients *storage.Clients
	names   config.Storage
	policy  retry.Policy
	logger  *slog.Logger
	// owned is true when the scenario creates and deletes the resources itself.
	owned bool
}

// newQueueStore builds the clients for the queue and table names.
func newQueueStore(target Storage, queue, table string, owned bool, logger *slog.Logger) (*queueStore, error) {
	names := config.Storage{
		ConnectionString: target.ConnectionString,
		AccountName:      target.AccountName,
		EndpointSuffix:   target.EndpointSuffix,
		QueueName:        queue,
		PoisonQueueName:  queue + "-poison",
		TableName:        table,
		AuthMode:         config.AuthConnectionString,
	}
	if names.EndpointSuffix == "" {
		names.EndpointSuffix = config.DefaultEndpointSuffix
	}
	var options []storage.Option
	if target.ConnectionString == "" {
		names.AuthMode = config.AuthDefaultCredential
		if target.Credential != nil {
			options = append(options, storage.WithCredential(target.Credential))
		}
	}
	clients, err := storage.New(names, options...)
	if err != nil {
		return nil, fmt.Errorf("create storage clients for queue %s: %w", queue, err)
	}
	return &queueStore{clients: clients, names: names, policy: retry.DefaultPolicy(storageRetryTimeout, logger), logger: logger, owned: owned}, nil
}

// Create creates the queue, the poison queue and the table when the scenario owns them.
func (q *queueStore) Create(ctx context.Context) error {
	if !q.owned {
		return nil
	}
	return q.clients.CreateResources(ctx, q.policy)
}

// Delete deletes the queue, the poison queue and the table, ignoring ones already gone, when
// the scenario owns them.
func (q *queueStore) Delete(ctx context.Context) error {
	if !q.owned {
		return nil
	}
	for _, queue := range []*azqueue.QueueClient{q.clients.Queue, q.clients.Poison} {
		if _, err := queue.Delete(ctx, nil); err != nil && retry.ErrorCode(err) != "QueueNotFound" {
			return fmt.Errorf("delete queue %s: %s", queue.URL(), retry.Describe(err))
		}
	}
	if _, err := q.clients.Table.Delete(ctx, nil); err != nil && retry.ErrorCode(err) != "TableNotFound" && retry.ErrorCode(err) != "ResourceNotFound" {
		return fmt.Errorf("delete table %s: %s", q.names.TableName, retry.Describe(err))
	}
	return nil
}

// Produce sends count messages with the producer library and returns how many it sent.
func (q *queueStore) Produce(ctx context.Context, count int) (int64, error) {
	cfg := config.DefaultProducer()
	cfg.Storage = q.names
	cfg.TableName = ""
	cfg.Count = count
	cfg.Encoding = message.Text
	cfg.RetryTimeout = storageRetryTimeout
	summary, err := producer.Run(ctx, cfg, q.clients, producer.WithLogger(q.logger))
	if err != nil {
		return summary.Sent, fmt.Errorf("produce %d messages to queue %s: %w", count, q.names.QueueName, err)
	}
	if summary.Errors > 0 {
		return summary.Sent, fmt.Errorf("produce %d messages to queue %s: %s", count, q.names.QueueName, summary)
	}
	return summary.Sent, nil
}

// Depth returns the queue's approximate message count, which includes invisible messages.
func (q *queueStore) Depth(ctx context.Context) (int64, error) {
	return approximateCount(ctx, q.policy, q.clients.Queue)
}

// PoisonDepth returns the poison queue's approximate message count.
func (q *queueStore) PoisonDepth(ctx context.Context) (int64, error) {
	return approximateCount(ctx, q.policy, q.clients.Poison)
}

func approximateCount(ctx context.Context, policy retry.Policy, queue *azqueue.QueueClient) (int64, error) {
	var count int64
	err := policy.Do(ctx, "read queue properties", func(ctx context.Context) error {
		properties, err := queue.GetProperties(ctx, nil)
		if err != nil {
			return err
		}
		count = int64(*properties.ApproximateMessagesCount)
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("read the message count of queue %s: %s", queue.URL(), retry.Describe(err))
	}
	return count, nil
}

// Rows counts the table's entities, reading only their row keys.
func (q *queueStore) Rows(ctx context.Context) (int64, error) {
	selectRowKey := "RowKey"
	pager := q.clients.Table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: &selectRowKey})
	var rows int64
	for pager.More() {
		var page aztables.ListEntitiesResponse
		err := q.policy.Do(ctx, "list table entities", func(ctx context.Context) error {
			var err error
			page, err = pager.NextPage(ctx)
			return err
		})
		if err != nil {
			return -1, fmt.Errorf("count the rows of table %s: %s", q.names.TableName, retry.Describe(err))
		}
		rows += int64(len(page.Entities))
	}
	return rows, nil
}

// QueueReader returns the reader the status collector uses for the timeline's depth.
func (q *queueStore) QueueReader() status.QueueReader {
	return status.ServiceQueueReader{Client: q.clients.Queues}
}
