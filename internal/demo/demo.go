// Package demo runs the aks-edw demonstration on one machine, with no Azure and no container
// engine. It builds the simulated cluster's components (cached after the first run) and starts
// the simulated cluster with Azurite. Then it installs the chart with the installer library,
// sends a burst of messages, and prints a live timeline (queue depth, desired and ready
// replicas, nodes, NodeClaims) while KEDA and Karpenter scale the consumer out and back in. It
// ends with a summary and takes the cluster down, also when the context is cancelled (Ctrl-C,
// SIGTERM).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/installer"
	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
	"github.com/aks-edw/aks-edw/internal/preflight"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/sim"
	"github.com/aks-edw/aks-edw/internal/sim/build"
	"github.com/aks-edw/aks-edw/internal/storage"
)

// Names of what the demonstration creates in its own simulated cluster.
const (
	// ClusterName is the kwokctl cluster name, distinct from `edwctl sim up`'s default so that
	// both can run at once.
	ClusterName = "aks-edw-demo"
	Namespace   = "aks-edw"
	ReleaseName = "aks-edw"
	QueueName   = "edw-demo"
	TableName   = "edwdemo"
	// secretName is the Secret that holds Azurite's connection string for the consumer pods
	// and KEDA.
	secretName = "aks-edw-demo-storage"
)

// Config is one demonstration run.
type Config struct {
	// RepoRoot is the repository checkout, for the chart and the consumer's source.
	RepoRoot string
	// StateDir holds the simulated cluster's state; empty means <RepoRoot>/.work/demo.
	StateDir string
	// CacheDir is the build cache root; empty means build's default ($EDW_CACHE_DIR or
	// ~/.cache/aks-edw).
	CacheDir string
	// HelperCommand runs edwctl's sim subcommands, such as ["/path/to/edwctl", "sim"]; the
	// simulated cluster starts Azurite and the pod runner through it.
	HelperCommand []string

	// Messages is the size of the burst.
	Messages int
	// QueueLength and MaxReplicas are the ScaledObject's queueLength and maxReplicaCount.
	QueueLength int
	MaxReplicas int
	// Interval is the time between two lines of the live view.
	Interval time.Duration
	// Timeout bounds the wait for the scale-out and scale-in after the burst.
	Timeout time.Duration
	// Keep leaves the cluster running at the end, for a look with kubectl or edwctl status.
	Keep bool
}

// DefaultConfig returns the demonstration's defaults. For 3000 messages and a queueLength of
// 200 the formula gives ceil(3000/200) = 15 replicas, clamped to 10.
func DefaultConfig() Config {
	return Config{
		Messages:    3000,
		QueueLength: 200,
		MaxReplicas: 10,
		Interval:    2 * time.Second,
		Timeout:     10 * time.Minute,
	}
}

// Validate returns an error naming the first invalid field and the fix.
func (c Config) Validate() error {
	switch {
	case c.RepoRoot == "":
		return errors.New("repository root is empty: run the demo from the aks-edw repository")
	case len(c.HelperCommand) == 0:
		return errors.New("no helper command: the demo needs the edwctl binary to run Azurite and the pod runner")
	case c.Messages < 1:
		return config.Invalid("--messages %d is not positive: send at least one message, for example --messages 3000", c.Messages)
	case c.QueueLength < 1:
		return config.Invalid("--queue-length %d is not positive: use the messages per replica, for example --queue-length 200", c.QueueLength)
	case c.MaxReplicas < 1:
		return config.Invalid("--max-replicas %d is not positive: use the highest replica count, for example --max-replicas 10", c.MaxReplicas)
	case c.Interval <= 0:
		return config.Invalid("--interval %s is not positive: use a duration such as 2s", c.Interval)
	case c.Timeout <= 0:
		return config.Invalid("--timeout %s is not positive: use a duration such as 10m", c.Timeout)
	}
	return nil
}

// Option configures Run.
type Option func(*runner)

// WithOutput sets where the progress, the live view and the summary go (default stdout).
func WithOutput(w io.Writer) Option { return func(r *runner) { r.out = w } }

// WithLogger sets the structured logger of the components (default: discard).
func WithLogger(logger *slog.Logger) Option { return func(r *runner) { r.logger = logger } }

// runner carries one run's settings and clients from step to step.
type runner struct {
	cfg     Config
	out     io.Writer
	logger  *slog.Logger
	summary Summary

	cluster *sim.Cluster
	simInfo *sim.Summary
	clients *storage.Clients
	// baseRows is the table's row count before the burst.
	baseRows int64
}

// Run runs the demonstration and returns its summary, which is also printed. Unless cfg.Keep
// is set, it takes the simulated cluster down before it returns, also after a failure or a
// cancelled ctx. After a stop, the summary holds what was measured until then.
func Run(ctx context.Context, cfg Config, opts ...Option) (summary *Summary, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(cfg.RepoRoot, ".work", "demo")
	}
	r := &runner{cfg: cfg, out: os.Stdout, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(r)
	}
	start := time.Now()
	r.summary.Messages = cfg.Messages
	r.summary.Rows, r.summary.Poison = -1, -1

	defer func() {
		if r.cluster != nil && !cfg.Keep {
			if downErr := r.teardown(ctx); downErr != nil {
				err = errors.Join(err, downErr)
			}
		}
		r.summary.Total = time.Since(start)
		r.summary.WriteTo(r.out)
		if r.cluster != nil && cfg.Keep {
			fmt.Fprintf(r.out, "\nThe simulated cluster is still running. Look at it with:\n  export KUBECONFIG=%s\n  edwctl status --namespace %s\nStop it with:\n  edwctl sim down --state-dir %s --name %s\n",
				r.cluster.KubeconfigPath(), Namespace, cfg.StateDir, ClusterName)
		}
		summary = &r.summary
	}()

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"build the simulated cluster's components (cached after the first run)", r.build},
		{"start the simulated cluster", r.startCluster},
		{"create the queue and install the chart", r.install},
		{"send the burst and watch the scaling", r.burstAndWatch},
		{"count the table rows", r.count},
	}
	for _, step := range steps {
		fmt.Fprintf(r.out, "\n==> %s\n", step.name)
		if err := step.run(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("demo stopped during %q: %w", step.name, context.Cause(ctx))
			}
			return nil, fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return nil, nil
}

// build makes sure every component is in the build cache and builds the consumer.
func (r *runner) build(ctx context.Context) error {
	started := time.Now()
	builder := build.New(build.WithCacheDir(r.cfg.CacheDir), build.WithProgress(r.out), build.WithLogger(r.logger))
	_, locateErr := builder.Locate()
	r.summary.BuildCached = locateErr == nil
	binaries, err := builder.Ensure(ctx)
	if err != nil {
		return err
	}
	consumer := filepath.Join(r.cfg.StateDir, "bin", "consumer")
	fmt.Fprintf(r.out, "building the consumer (go build %s)\n", sim.ConsumerPackage)
	built, err := sim.BuildConsumer(ctx, r.cfg.RepoRoot, consumer)
	if err != nil {
		return err
	}
	if !built {
		return fmt.Errorf("%s has no Go files in %s: run the demo from a complete checkout", sim.ConsumerPackage, r.cfg.RepoRoot)
	}
	r.summary.Build = time.Since(started)

	r.cluster = sim.New(r.cfg.StateDir,
		sim.WithName(ClusterName),
		sim.WithBinaries(binaries),
		sim.WithHelperCommand(r.cfg.HelperCommand...),
		sim.WithConsumerBinary(consumer),
		sim.WithProgress(r.out),
		sim.WithLogger(r.logger),
	)
	return nil
}

// startCluster brings the simulated cluster up.
func (r *runner) startCluster(ctx context.Context) error {
	started := time.Now()
	info, err := r.cluster.Up(ctx)
	if errors.Is(err, sim.ErrAlreadyRunning) {
		// NOTE: the running cluster belongs to another demo, so this run must not tear it down.
		cluster := r.cluster
		r.cluster = nil
		return fmt.Errorf("%w: stop the other demo, or run edwctl sim down --state-dir %s --name %s", err, cluster.StateDir(), ClusterName)
	}
	if err != nil {
		return err
	}
	r.simInfo = info
	r.summary.ClusterStart = time.Since(started)
	return nil
}

// install creates the queue, the poison queue and the table in Azurite, the namespace with its
// Secret, and installs the chart.
func (r *runner) install(ctx context.Context) error {
	started := time.Now()
	connection, err := os.ReadFile(r.simInfo.ConnectionStringFile)
	if err != nil {
		return fmt.Errorf("read Azurite's connection string: %w", err)
	}
	connectionString := strings.TrimSpace(string(connection))

	names := config.Storage{
		ConnectionString: connectionString,
		EndpointSuffix:   config.DefaultEndpointSuffix,
		QueueName:        QueueName,
		PoisonQueueName:  QueueName + "-poison",
		TableName:        TableName,
		AuthMode:         config.AuthConnectionString,
	}
	r.clients, err = storage.New(names)
	if err != nil {
		return err
	}
	policy := retry.DefaultPolicy(time.Minute, r.logger)
	if err := r.clients.CreateResources(ctx, policy); err != nil {
		return err
	}
	// NOTE: Azurite keeps its data in the state directory across runs, so an earlier run,
	// perhaps stopped with Ctrl-C, may have left messages and rows behind.
	for _, queue := range []*azqueue.QueueClient{r.clients.Queue, r.clients.Poison} {
		if _, err := queue.ClearMessages(ctx, nil); err != nil {
			return fmt.Errorf("clear queue %s: %s", queue.URL(), retry.Describe(err))
		}
	}
	if r.baseRows, err = r.countRows(ctx); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "queue %s, poison queue %s and table %s ready in Azurite (queues emptied, table holds %d rows from earlier runs)\n",
		names.QueueName, names.PoisonQueueName, names.TableName, r.baseRows)

	if err := r.createNamespace(ctx, connectionString); err != nil {
		return err
	}
	inst, err := installer.New(
		installer.WithKubeconfig(r.simInfo.Kubeconfig),
		installer.WithNamespace(Namespace),
		installer.WithReleaseName(ReleaseName),
		installer.WithChart(filepath.Join(r.cfg.RepoRoot, installer.DefaultChartDir)),
		installer.WithValuesFiles(filepath.Join(r.cfg.RepoRoot, installer.DefaultChartDir, "ci", "sim-kwok-values.yaml")),
		installer.WithValues(r.values()),
		installer.WithProgress(r.out),
		installer.WithLogger(r.logger),
	)
	if err != nil {
		return err
	}
	if _, err := inst.Install(ctx); err != nil {
		return err
	}
	r.summary.Install = time.Since(started)
	return nil
}

// values are the demonstration's chart values over the simulated cluster's values file.
func (r *runner) values() map[string]any {
	return map[string]any{
		"storage": map[string]any{
			"queueName":       QueueName,
			"poisonQueueName": QueueName + "-poison",
			"tableName":       TableName,
		},
		"auth": map[string]any{"connectionString": map[string]any{
			"existingSecret": secretName,
			"secretKey":      "connection-string",
		}},
		"scaledObject": map[string]any{
			"queueLength":     r.cfg.QueueLength,
			"maxReplicaCount": r.cfg.MaxReplicas,
			// NOTE: Kubernetes' default HPA behavior adds at most max(4 pods, 100%) per 15 s,
			// and its scale-down window (300 s) keeps the highest recommendation of the last five
			// minutes. Together they held a burst at five replicas and then scaled out further
			// with an empty queue, until KEDA's cooldown took the Deployment to 0. Without the
			// windows and with a higher rate limit each HPA decision follows the queue count it
			// read: ceil(count / queueLength), clamped to [1, maxReplicaCount].
			"advanced": map[string]any{"horizontalPodAutoscalerConfig": map[string]any{"behavior": map[string]any{
				"scaleDown": map[string]any{"stabilizationWindowSeconds": 0},
				"scaleUp": map[string]any{
					"stabilizationWindowSeconds": 0,
					"policies":                   []any{map[string]any{"type": "Pods", "value": 100, "periodSeconds": 15}},
				},
			}}},
		},
		// Two messages at a time per pod keep one pod from draining the burst before the HPA
		// reacts. With 500m CPU per pod, the pods of the scale-out do not fit the node that
		// Karpenter made for the first pod (the cheapest that fits, a 2-vCPU
		// Standard_D2s_v5), so Karpenter adds nodes.
		"consumer": map[string]any{
			"concurrency": 2,
			"batchSize":   4,
			"resources":   map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "64Mi"}},
		},
	}
}

// createNamespace creates the release namespace, labelled to enforce Pod Security restricted,
// and the Secret with Azurite's connection string.
func (r *runner) createNamespace(ctx context.Context, connectionString string) error {
	restConfig, err := kubeconfig.Source{Path: r.simInfo.Kubeconfig}.RESTConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create Kubernetes client: %w", err)
	}
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{
		preflight.PodSecurityEnforceLabel: preflight.PodSecurityRestricted,
	}}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", Namespace, err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: Namespace},
		StringData: map[string]string{"connection-string": connectionString},
	}
	if _, err := kube.CoreV1().Secrets(Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Secret %s/%s: %w", Namespace, secretName, err)
	}
	fmt.Fprintf(r.out, "created namespace %s (%s=%s) and Secret %s\n", Namespace, preflight.PodSecurityEnforceLabel, preflight.PodSecurityRestricted, secretName)
	return nil
}

// count reads the rows the burst added to the table and the poison queue's depth once the
// queue has drained.
func (r *runner) count(ctx context.Context) error {
	rows, err := r.countRows(ctx)
	if err != nil {
		return err
	}
	r.summary.Rows = rows - r.baseRows

	properties, err := r.clients.Poison.GetProperties(ctx, nil)
	if err != nil {
		return fmt.Errorf("read the poison queue: %s", retry.Describe(err))
	}
	r.summary.Poison = int64(*properties.ApproximateMessagesCount)
	fmt.Fprintf(r.out, "the burst added %d rows to table %s for %d messages sent; poison queue %s holds %d\n",
		r.summary.Rows, TableName, r.summary.Sent, QueueName+"-poison", r.summary.Poison)
	return nil
}

// countRows counts the table's entities, reading only their row keys.
func (r *runner) countRows(ctx context.Context) (int64, error) {
	selectRowKey := "RowKey"
	pager := r.clients.Table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: &selectRowKey})
	var rows int64
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return -1, fmt.Errorf("count the rows of table %s: %s", TableName, retry.Describe(err))
		}
		rows += int64(len(page.Entities))
	}
	return rows, nil
}

// teardown stops the simulated cluster, on a context that outlives a cancelled ctx.
func (r *runner) teardown(ctx context.Context) error {
	fmt.Fprintf(r.out, "\n==> take the simulated cluster down\n")
	started := time.Now()
	err := r.cluster.Down(context.WithoutCancel(ctx))
	r.summary.Teardown = time.Since(started)
	if err != nil {
		return fmt.Errorf("take the simulated cluster down: %w (run edwctl sim down --state-dir %s --name %s)", err, r.cfg.StateDir, ClusterName)
	}
	return nil
}
