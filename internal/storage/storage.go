// Package storage builds the Azure Queue and Table clients for the configured account. A
// connection string (shared key or SAS, as for Azurite) takes precedence. Without one, the
// clients use the account name with an Azure identity: workload identity in a pod, else
// DefaultAzureCredential, for example the Azure CLI on a laptop. Endpoints use the
// configured suffix, for sovereign clouds.
package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/retry"
)

// Clients are the queue, poison queue and table of one configuration.
type Clients struct {
	Queues *azqueue.ServiceClient
	Tables *aztables.ServiceClient
	Queue  *azqueue.QueueClient
	Poison *azqueue.QueueClient
	// Table is nil when the configuration names no table (the producer's).
	Table *aztables.Client

	// Auth describes how the clients authenticate, for logs. It contains no secret.
	Auth          string
	QueueEndpoint string
	TableEndpoint string

	names config.Storage
	// sharedKey and sas tell how a connection string authenticates, for the fix of a 403.
	sharedKey, sas bool
}

type options struct {
	getenv     config.Getenv
	httpClient *http.Client
	credential azcore.TokenCredential
}

// Option configures New.
type Option func(*options)

// WithGetenv replaces os.Getenv for the workload identity variables, for tests.
func WithGetenv(getenv config.Getenv) Option { return func(o *options) { o.getenv = getenv } }

// WithHTTPClient sends every request through client instead of the package's pooled client.
func WithHTTPClient(client *http.Client) Option { return func(o *options) { o.httpClient = client } }

// WithCredential uses credential instead of choosing one from the environment.
func WithCredential(credential azcore.TokenCredential) Option {
	return func(o *options) { o.credential = credential }
}

// tryTimeout bounds one HTTP request. Queue and table calls return in milliseconds, so a try
// that takes this long has hung, and the retry policy sends it again.
const tryTimeout = 30 * time.Second

// New builds the clients for cfg, which must have passed validation. It fails at once, with a
// *config.UsageError naming the pod label to fix, when the pod is set up for workload identity
// but the token file was not injected.
func New(cfg config.Storage, opts ...Option) (*Clients, error) {
	o := options{getenv: os.Getenv}
	for _, opt := range opts {
		opt(&o)
	}
	if o.httpClient == nil {
		o.httpClient = newHTTPClient()
	}

	clientOptions := azcore.ClientOptions{
		Transport: redactingTransport{client: o.httpClient},
		// NOTE: the SDK's own retries are off because retry.Policy retries the same failures
		// and more (403 during role propagation), with a time bound and a log line per retry.
		Retry: policy.RetryOptions{MaxRetries: -1, TryTimeout: tryTimeout},
	}
	queueOptions := &azqueue.ClientOptions{ClientOptions: clientOptions}
	tableOptions := &aztables.ClientOptions{ClientOptions: clientOptions}

	c := &Clients{names: cfg}
	var err error
	if cfg.ConnectionString != "" && cfg.AuthMode != config.AuthWorkloadIdentity && cfg.AuthMode != config.AuthDefaultCredential {
		err = c.fromConnectionString(cfg, queueOptions, tableOptions)
	} else {
		err = c.fromIdentity(cfg, o, queueOptions, tableOptions)
	}
	if err != nil {
		return nil, err
	}

	c.Queue = c.Queues.NewQueueClient(cfg.QueueName)
	c.Poison = c.Queues.NewQueueClient(cfg.PoisonQueueName)
	if cfg.TableName != "" {
		c.Table = c.Tables.NewClient(cfg.TableName)
	}
	return c, nil
}

func (c *Clients) fromConnectionString(cfg config.Storage, queueOptions *azqueue.ClientOptions, tableOptions *aztables.ClientOptions) error {
	cs, err := config.ParseConnectionString(cfg.ConnectionString, cfg.EndpointSuffix)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	c.QueueEndpoint = cs.QueueEndpoint
	c.TableEndpoint = cs.TableEndpoint

	if cs.AccountKey != "" {
		c.Auth = "connection string (shared key)"
		c.sharedKey = true
		queueKey, err := azqueue.NewSharedKeyCredential(cs.AccountName, cs.AccountKey)
		if err != nil {
			return &config.UsageError{Err: errors.New("invalid AZURE_STORAGE_CONNECTION_STRING: the SDK rejected AccountKey")}
		}
		tableKey, err := aztables.NewSharedKeyCredential(cs.AccountName, cs.AccountKey)
		if err != nil {
			return &config.UsageError{Err: errors.New("invalid AZURE_STORAGE_CONNECTION_STRING: the SDK rejected AccountKey")}
		}
		if c.Queues, err = azqueue.NewServiceClientWithSharedKeyCredential(cs.QueueEndpoint, queueKey, queueOptions); err != nil {
			return fmt.Errorf("creating the queue client for %s: %w", cs.QueueEndpoint, err)
		}
		if c.Tables, err = aztables.NewServiceClientWithSharedKey(cs.TableEndpoint, tableKey, tableOptions); err != nil {
			return fmt.Errorf("creating the table client for %s: %w", cs.TableEndpoint, err)
		}
		return nil
	}

	c.Auth = "connection string (shared access signature)"
	c.sas = true
	if c.Queues, err = azqueue.NewServiceClientWithNoCredential(cs.QueueEndpoint+"/?"+cs.SAS, queueOptions); err != nil {
		return fmt.Errorf("creating the queue client for %s: %w", cs.QueueEndpoint, err)
	}
	if c.Tables, err = aztables.NewServiceClientWithNoCredential(cs.TableEndpoint+"/?"+cs.SAS, tableOptions); err != nil {
		return fmt.Errorf("creating the table client for %s: %w", cs.TableEndpoint, err)
	}
	return nil
}

func (c *Clients) fromIdentity(cfg config.Storage, o options, queueOptions *azqueue.ClientOptions, tableOptions *aztables.ClientOptions) error {
	c.QueueEndpoint = fmt.Sprintf("https://%s.queue.%s", cfg.AccountName, cfg.EndpointSuffix)
	c.TableEndpoint = fmt.Sprintf("https://%s.table.%s", cfg.AccountName, cfg.EndpointSuffix)

	credential := o.credential
	c.Auth = "given credential"
	if credential == nil {
		var err error
		credential, c.Auth, err = NewCredential(cfg.AuthMode, o.getenv)
		if err != nil {
			return err
		}
	}

	var err error
	if c.Queues, err = azqueue.NewServiceClient(c.QueueEndpoint, credential, queueOptions); err != nil {
		return fmt.Errorf("creating the queue client for %s: %w", c.QueueEndpoint, err)
	}
	if c.Tables, err = aztables.NewServiceClient(c.TableEndpoint, credential, tableOptions); err != nil {
		return fmt.Errorf("creating the table client for %s: %w", c.TableEndpoint, err)
	}
	return nil
}

// redactingTransport sends requests through client and strips the query string from the URL
// in a transport error. http.Client wraps a connection failure in a *url.Error whose message
// contains the whole request URL, and with a SAS connection string that URL carries the
// signature, which would then reach every log line and error that prints the error.
type redactingTransport struct{ client *http.Client }

func (t redactingTransport) Do(request *http.Request) (*http.Response, error) {
	response, err := t.client.Do(request)
	var urlErr *url.Error
	if err != nil && errors.As(err, &urlErr) {
		urlErr.URL = RedactURL(urlErr.URL)
	}
	return response, err
}

// RedactURL returns rawURL without its query string, which may contain a SAS token.
func RedactURL(rawURL string) string {
	base, _, found := strings.Cut(rawURL, "?")
	if !found {
		return rawURL
	}
	return base + "?REDACTED"
}

// newHTTPClient returns a client whose idle pool keeps a connection per concurrent worker:
// the SDK's default keeps 10 per host, so 16 workers would keep opening connections.
func newHTTPClient() *http.Client {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: transport}
}

// Names returns the configuration the clients were built from.
func (c *Clients) Names() config.Storage { return c.names }

// CreateResources creates the queue, the poison queue and the table if they do not exist yet.
// It is for Azurite and tests: on Azure the infrastructure code creates them.
func (c *Clients) CreateResources(ctx context.Context, p retry.Policy) error {
	for _, queue := range []*azqueue.QueueClient{c.Queue, c.Poison} {
		err := p.Do(ctx, "create queue", func(ctx context.Context) error {
			_, err := queue.Create(ctx, nil)
			if retry.ErrorCode(err) == "QueueAlreadyExists" {
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("creating queue %s: %s", RedactURL(queue.URL()), retry.Describe(err))
		}
	}
	if c.Table == nil {
		return nil
	}
	err := p.Do(ctx, "create table", func(ctx context.Context) error {
		_, err := c.Table.CreateTable(ctx, nil)
		if retry.ErrorCode(err) == "TableAlreadyExists" {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("creating table %s: %s", c.names.TableName, retry.Describe(err))
	}
	return nil
}
