package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
)

const (
	// DefaultReleaseName and DefaultNamespace match the installer's defaults.
	DefaultReleaseName = "aks-edw"
	DefaultNamespace   = "aks-edw"

	// snapshotTimeout bounds one snapshot, so a hung API server or queue endpoint shows up as an
	// error in the snapshot instead of stalling a watch.
	snapshotTimeout = 20 * time.Second
)

// Option configures a Collector.
type Option func(*Collector)

// WithKubeconfig reads the cluster from a kubeconfig file and context (kubectl's defaults when
// empty). WithRESTConfig wins over it.
func WithKubeconfig(source kubeconfig.Source) Option {
	return func(c *Collector) { c.kube = source }
}

// WithRESTConfig uses a client configuration that the caller already has.
func WithRESTConfig(config *rest.Config) Option {
	return func(c *Collector) { c.restConfig = config }
}

// WithRelease sets the Helm release and its namespace (defaults DefaultReleaseName and
// DefaultNamespace).
func WithRelease(namespace, name string) Option {
	return func(c *Collector) {
		if namespace != "" {
			c.namespace = namespace
		}
		if name != "" {
			c.release = name
		}
	}
}

// WithQueueReader reads queue depths through reader instead of a client built from the
// consumer's settings.
func WithQueueReader(reader QueueReader) Option {
	return func(c *Collector) { c.queueReader = reader }
}

// WithStorage overrides what the Collector would read from the consumer Deployment's env:
// the connection string (a secret, never logged), the account name and the endpoint suffix.
// Empty fields keep the Deployment's values.
func WithStorage(settings StorageSettings) Option {
	return func(c *Collector) { c.storage = settings }
}

// WithQueueNames overrides the queue and poison queue names read from the Deployment's env.
func WithQueueNames(queue, poison string) Option {
	return func(c *Collector) { c.queueName, c.poisonName = queue, poison }
}

// WithSecretLookup turns reading the connection string from the Secret that the consumer
// Deployment references on or off (default on). It is used only when no connection string was
// given through WithStorage.
func WithSecretLookup(enabled bool) Option {
	return func(c *Collector) { c.secretLookup = enabled }
}

// WithCredential sets the Azure credential for an account name without a connection string.
// Without it, azidentity's DefaultAzureCredential is used.
func WithCredential(credential azcore.TokenCredential) Option {
	return func(c *Collector) { c.credential = credential }
}

// WithLogger sets the structured logger (default: discard).
func WithLogger(logger *slog.Logger) Option {
	return func(c *Collector) {
		if logger != nil {
			c.logger = logger
		}
	}
}

// Collector reads Snapshots of one release. Build it with NewCollector; it is safe for use by
// one goroutine at a time.
type Collector struct {
	kube         kubeconfig.Source
	restConfig   *rest.Config
	namespace    string
	release      string
	storage      StorageSettings
	queueName    string
	poisonName   string
	secretLookup bool
	credential   azcore.TokenCredential
	logger       *slog.Logger

	kubeClient kubernetes.Interface
	dynamic    dynamic.Interface

	queueMu     sync.Mutex
	queueReader QueueReader
	queueSource string
}

// NewCollector builds a Collector and its Kubernetes clients. It contacts nothing yet.
func NewCollector(opts ...Option) (*Collector, error) {
	c := &Collector{
		namespace:    DefaultNamespace,
		release:      DefaultReleaseName,
		secretLookup: true,
		logger:       slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.queueReader != nil {
		c.queueSource = "caller's queue client"
	}

	if c.restConfig == nil {
		config, err := c.kube.RESTConfig()
		if err != nil {
			return nil, err
		}
		c.restConfig = config
	}
	config := rest.CopyConfig(c.restConfig)
	if config.Timeout == 0 {
		config.Timeout = snapshotTimeout
	}

	var err error
	if c.kubeClient, err = kubernetes.NewForConfig(config); err != nil {
		return nil, fmt.Errorf("create Kubernetes client for %s: %w", config.Host, err)
	}
	if c.dynamic, err = dynamic.NewForConfig(config); err != nil {
		return nil, fmt.Errorf("create dynamic client for %s: %w", config.Host, err)
	}
	return c, nil
}

// ErrUnreachable marks the error of CheckReachable.
var ErrUnreachable = errors.New("API server unreachable")

// CheckReachable requests the API server's version and returns an error wrapping
// ErrUnreachable, with the server address and the fix, when that fails. Snapshot records each
// read error per part instead, which reads as "not found" when no server responds at all.
func (c *Collector) CheckReachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()

	_, err := c.kubeClient.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()

	// Only a transport error means unreachable. An HTTP error status such as 401 comes from the
	// server, and Snapshot then shows it on the parts it affects. The URL error repeats the
	// whole request URL, so only its cause is kept.
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		return nil
	}
	return fmt.Errorf("%w: %s (%v): check --kubeconfig and --context (on AKS: az aks get-credentials --resource-group <group> --name <cluster>) and that the cluster is running",
		ErrUnreachable, c.restConfig.Host, urlErr.Err)
}

// Snapshot reads every part once. Errors are recorded per part in the snapshot, so the result is
// always usable; see Snapshot.Errors.
func (c *Collector) Snapshot(ctx context.Context) Snapshot {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()

	snapshot := Snapshot{Time: time.Now(), Release: c.release, Namespace: c.namespace}
	deployment, env := c.readDeployment(ctx)
	snapshot.Deployment = deployment
	snapshot.ScaledObject = c.readScaledObject(ctx)
	snapshot.HPA = c.readHPA(ctx, snapshot.ScaledObject)
	snapshot.NodePool = c.readNodePool(ctx)
	snapshot.Queue = c.readQueue(ctx, env)
	return snapshot
}

// Watch takes a snapshot at once and then every interval, and passes each to observe, until ctx
// ends. It returns nil when ctx was cancelled (Ctrl-C or SIGTERM) and ctx's error otherwise.
func (c *Collector) Watch(ctx context.Context, interval time.Duration, observe func(Snapshot)) error {
	if interval <= 0 {
		return fmt.Errorf("watch interval %s is not positive: use a duration such as 5s", interval)
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		snapshot := c.Snapshot(ctx)
		if ctx.Err() != nil {
			break
		}
		observe(snapshot)
		select {
		case <-ctx.Done():
		case <-ticker.C:
			continue
		}
		break
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
