package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/aks-edw/aks-edw/internal/installer"
	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
	"github.com/aks-edw/aks-edw/internal/preflight"
	"github.com/aks-edw/aks-edw/internal/status"
)

// Plan sets the sizes of the scenario's bursts and the scaling values it installs.
type Plan struct {
	// Burst is the number of messages in the scale-out burst.
	Burst int
	// QueueLength and MaxReplicas are the first install's scaledObject values.
	QueueLength int
	MaxReplicas int
	// UpgradeQueueLength, UpgradeMaxReplicas and UpgradeActivation are the scaledObject values
	// that the upgrade sets; the activation threshold is checked at UpgradeActivation.
	UpgradeQueueLength int
	UpgradeMaxReplicas int
	UpgradeActivation  int
	// ConsumerConcurrency and ConsumerBatchSize are the consumer's messages in parallel and per
	// receive call. Small values make one pod drain the burst slower than the HPA reacts, so
	// the burst scales the consumer out beyond one pod.
	ConsumerConcurrency int
	ConsumerBatchSize   int
}

// DefaultPlan returns the plan the three targets run. For a burst of 3000 messages and a
// queueLength of 300 the formula gives ceil(3000/300) = 10 replicas, clamped to 8.
func DefaultPlan() Plan {
	return Plan{
		Burst:               3000,
		QueueLength:         300,
		MaxReplicas:         8,
		UpgradeQueueLength:  100,
		UpgradeMaxReplicas:  5,
		UpgradeActivation:   20,
		ConsumerConcurrency: 2,
		ConsumerBatchSize:   4,
	}
}

func (p Plan) validate() error {
	switch {
	case p.QueueLength < 1 || p.UpgradeQueueLength < 1:
		return fmt.Errorf("plan queueLength %d and upgrade queueLength %d must be at least 1", p.QueueLength, p.UpgradeQueueLength)
	case p.MaxReplicas < 2 || p.UpgradeMaxReplicas < 1:
		return fmt.Errorf("plan maxReplicaCount %d must be at least 2 to show a scale-out, and the upgrade's %d at least 1", p.MaxReplicas, p.UpgradeMaxReplicas)
	case float64(p.Burst) <= 1.1*float64(p.QueueLength):
		// The HPA keeps one replica while count/queueLength is within its 10% tolerance of 1.
		return fmt.Errorf("plan burst %d is not above 1.1 x queueLength %d, so the HPA would not scale out: raise Burst", p.Burst, p.QueueLength)
	case p.UpgradeActivation < 1:
		return fmt.Errorf("plan activation threshold %d must be at least 1 to leave a queue count that does not activate", p.UpgradeActivation)
	case p.ConsumerConcurrency < 1 || p.ConsumerBatchSize < 1 || p.ConsumerBatchSize > 32:
		return fmt.Errorf("plan consumer concurrency %d must be at least 1 and batch size %d within 1..32", p.ConsumerConcurrency, p.ConsumerBatchSize)
	}
	return nil
}

// scenario is one run on one target: its unique names, clients and recordings.
type scenario struct {
	target Target
	plan   Plan
	logger *slog.Logger

	namespace string
	release   string
	secret    string
	store     *queueStore

	kube kubernetes.Interface
	dyn  dynamic.Interface

	// Found after install.
	deployment   string
	scaledObject string
	nodePool     string
	timing       Timing
	interval     time.Duration
	obs          *observer

	// sent counts the messages produced so far, which the table must hold once drained, on
	// top of baseRows, the rows it held before the first burst.
	sent     int64
	baseRows int64
	// installed is true while the release exists, so cleanup uninstalls it after a failure.
	installed bool
	cleanups  []func(context.Context)
}

// Run runs the scenario on target as a sequence of subtests that stop at the first failure:
// install, a burst from zero to N replicas (and nodes), the drain, the scale-in to zero, an
// upgrade, the activation threshold, and uninstall. Everything it creates is removed at the
// end, also after a failure, when the timeline is printed.
func Run(t *testing.T, target Target, plan Plan) {
	require.NoError(t, target.validate())
	require.NoError(t, plan.validate())

	s := newScenario(t, target, plan)
	defer s.cleanup(t)

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"install", s.install},
		{"rest at zero", s.rest},
		{"scale out on a burst", s.scaleOut},
		{"drain the queue", s.drain},
		{"scale in after cooldown", s.scaleIn},
		{"upgrade keeps selectors", s.upgrade},
		{"activation threshold", s.activationThreshold},
		{"HPA followed the formula", s.hpaFollowedFormula},
		{"uninstall removes everything", s.uninstall},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.Logf("step %q failed; skipping the remaining steps", step.name)
			return
		}
	}
}

func newScenario(t *testing.T, target Target, plan Plan) *scenario {
	id := strings.ToLower(random.UniqueId())
	s := &scenario{
		target:    target,
		plan:      plan,
		logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
		namespace: fmt.Sprintf("e2e-%s-%s", target.Name, id),
		release:   "aks-edw-e2e-" + id,
	}
	s.secret = s.release + "-storage"
	if target.Namespace != "" {
		s.namespace = target.Namespace
	}
	queue, table, owned := "e2e-"+target.Name+"-"+id, "e2e"+target.Name+id, true
	if target.Queue != "" {
		queue, table, owned = target.Queue, target.Table, false
	}

	config, err := kubeconfig.Source{Path: target.Kubeconfig, Context: target.KubeContext}.RESTConfig()
	require.NoError(t, err)
	s.kube, err = kubernetes.NewForConfig(config)
	require.NoError(t, err)
	s.dyn, err = dynamic.NewForConfig(config)
	require.NoError(t, err)
	s.store, err = newQueueStore(target.Storage, queue, table, owned, s.logger)
	require.NoError(t, err)

	t.Logf("scenario on %s: namespace %s, release %s, queue %s, table %s; consumers: %s",
		target.Name, s.namespace, s.release, queue, table, target.Consumers)
	return s
}

// cleanup uninstalls the release if it is still there, deletes the namespace, the queues and
// the table, and prints the recordings when the test failed.
func (s *scenario) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), installer.DefaultTimeout+s.target.PodStartup)
	defer cancel()

	if s.obs != nil {
		s.obs.stop()
		if t.Failed() || testing.Verbose() {
			t.Logf("recordings of namespace %s:\n%s", s.namespace, s.obs.Report())
		}
	}
	if t.Failed() && s.target.ConsumerLogs != nil {
		t.Logf("consumer logs:\n%s", s.target.ConsumerLogs(ctx, s.namespace))
	}

	if s.installed {
		t.Logf("cleanup: uninstalling release %s", s.release)
		inst, err := installer.New(s.installerOptions(t, nil)...)
		if err == nil {
			err = inst.Uninstall(ctx)
		}
		if err != nil {
			t.Errorf("cleanup: uninstall release %s: %v", s.release, err)
		}
	}
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i](ctx)
	}
}

// values returns the values the scenario sets over the target's: its own queue and table, the
// plan's scaling values, and the connection string Secret.
func (s *scenario) values(queueLength, maxReplicas, activation int) map[string]any {
	names := s.store.names
	values := map[string]any{
		"storage": map[string]any{
			"queueName":       names.QueueName,
			"poisonQueueName": names.PoisonQueueName,
			"tableName":       names.TableName,
		},
		"scaledObject": map[string]any{
			"minReplicaCount":       0,
			"maxReplicaCount":       maxReplicas,
			"queueLength":           queueLength,
			"activationQueueLength": activation,
			"queueLengthStrategy":   "all",
			// NOTE: without stabilization windows and with a scale-up rate limit above
			// maxReplicaCount, each HPA status is decided from its own metric alone, so every one
			// must equal the formula exactly. Kubernetes' defaults would hold the highest
			// recommendation of the last 300 s when scaling down, and add at most
			// max(4 pods, 100%) per 15 s when scaling up.
			"advanced": map[string]any{"horizontalPodAutoscalerConfig": map[string]any{"behavior": map[string]any{
				"scaleDown": map[string]any{"stabilizationWindowSeconds": 0},
				"scaleUp": map[string]any{
					"stabilizationWindowSeconds": 0,
					"policies":                   []any{map[string]any{"type": "Pods", "value": 100, "periodSeconds": 15}},
				},
			}}},
		},
		"consumer": map[string]any{
			"concurrency": s.plan.ConsumerConcurrency,
			"batchSize":   s.plan.ConsumerBatchSize,
		},
	}
	if s.target.PodConnectionString != "" {
		values["auth"] = map[string]any{
			"mode": "connectionString",
			"connectionString": map[string]any{
				"value":          "",
				"existingSecret": s.secret,
				"secretKey":      "connection-string",
			},
		}
	}
	return values
}

func (s *scenario) installerOptions(t *testing.T, values map[string]any) []installer.Option {
	return []installer.Option{
		installer.WithKubeconfig(s.target.Kubeconfig),
		installer.WithKubeContext(s.target.KubeContext),
		installer.WithNamespace(s.namespace),
		installer.WithReleaseName(s.release),
		installer.WithChart(s.target.ChartPath),
		installer.WithValuesFiles(s.target.ValuesFiles...),
		installer.WithValues(s.target.Values),
		installer.WithValues(values),
		// Uninstall waits for Karpenter to delete the NodePool's nodes.
		installer.WithTimeout(installer.DefaultTimeout + s.target.PodStartup + s.target.NodeTeardown),
		installer.WithProgress(testWriter{t}),
		installer.WithLogger(s.logger),
	}
}

// install creates the queues, the table, the namespace and the Secret, installs the chart,
// and starts recording.
func (s *scenario) install(t *testing.T) {
	ctx := t.Context()

	if s.store.owned {
		t.Logf("creating queue %s, its poison queue and table %s", s.store.names.QueueName, s.store.names.TableName)
		require.NoError(t, s.store.Create(ctx))
		s.cleanups = append(s.cleanups, func(ctx context.Context) {
			if err := s.store.Delete(ctx); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	depth, err := s.store.Depth(ctx)
	require.NoError(t, err)
	require.Zero(t, depth, "messages in queue %s before the scenario", s.store.names.QueueName)
	s.baseRows, err = s.store.Rows(ctx)
	require.NoError(t, err)

	t.Logf("creating namespace %s with Pod Security %s=%s", s.namespace, preflight.PodSecurityEnforceLabel, preflight.PodSecurityRestricted)
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace, Labels: map[string]string{
		preflight.PodSecurityEnforceLabel:              preflight.PodSecurityRestricted,
		preflight.PodSecurityEnforceLabel + "-version": "latest",
		"app.kubernetes.io/part-of":                    "aks-edw-e2e",
	}}}
	_, err = s.kube.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{})
	require.NoError(t, err, "the scenario creates namespace %s itself, so it must not exist", s.namespace)
	s.cleanups = append(s.cleanups, func(ctx context.Context) { s.deleteNamespace(t, ctx) })

	if s.target.PodConnectionString != "" {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.secret, Namespace: s.namespace},
			StringData: map[string]string{"connection-string": s.target.PodConnectionString},
		}
		_, err := s.kube.CoreV1().Secrets(s.namespace).Create(ctx, secret, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	t.Logf("installing release %s with queueLength %d, maxReplicaCount %d, activationQueueLength 0", s.release, s.plan.QueueLength, s.plan.MaxReplicas)
	inst, err := installer.New(s.installerOptions(t, s.values(s.plan.QueueLength, s.plan.MaxReplicas, 0))...)
	require.NoError(t, err)
	s.installed = true
	_, err = inst.Install(ctx)
	require.NoError(t, err)

	s.findObjects(t)
	deployment, err := s.kube.AppsV1().Deployments(s.namespace).Get(ctx, s.deployment, metav1.GetOptions{})
	require.NoError(t, err)
	s.timing, err = readTiming(ctx, s.dyn, deployment, s.namespace, s.scaledObject, s.nodePool, s.target)
	require.NoError(t, err)
	s.interval = min(max(s.timing.PollingInterval/5, time.Second), 5*time.Second)
	t.Logf("timing of release %s: %s", s.release, s.timing)

	collector, err := status.NewCollector(
		status.WithKubeconfig(kubeconfig.Source{Path: s.target.Kubeconfig, Context: s.target.KubeContext}),
		status.WithRelease(s.namespace, s.release),
		status.WithQueueReader(s.store.QueueReader()),
		status.WithQueueNames(s.store.names.QueueName, s.store.names.PoisonQueueName),
	)
	require.NoError(t, err)
	// NOTE: the observer outlives this subtest, so it runs on the scenario's cleanup, not on
	// the subtest's context, which ends when the subtest returns.
	s.obs, err = startObserver(context.WithoutCancel(ctx), collector, s.kube, s.dyn, s.namespace, s.release, s.nodePool, s.interval)
	require.NoError(t, err)
}

// findObjects finds the release's Deployment, ScaledObject and NodePool by their labels.
func (s *scenario) findObjects(t *testing.T) {
	ctx := t.Context()
	consumer := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + s.release + ",app.kubernetes.io/component=consumer"}

	deployments, err := s.kube.AppsV1().Deployments(s.namespace).List(ctx, consumer)
	require.NoError(t, err)
	require.Len(t, deployments.Items, 1, "consumer Deployments of release %s", s.release)
	s.deployment = deployments.Items[0].Name

	scaledObjects, err := s.dyn.Resource(status.ScaledObjectResource).Namespace(s.namespace).List(ctx, consumer)
	require.NoError(t, err)
	require.Len(t, scaledObjects.Items, 1, "ScaledObjects of release %s", s.release)
	s.scaledObject = scaledObjects.Items[0].GetName()

	if !s.target.Nodes {
		return
	}
	pools, err := s.dyn.Resource(status.NodePoolResource).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + s.release + ",app.kubernetes.io/component=nodepool"})
	require.NoError(t, err)
	require.Len(t, pools.Items, 1, "NodePools of release %s (the target expects Karpenter nodes)", s.release)
	s.nodePool = pools.Items[0].GetName()
}

func (s *scenario) deleteNamespace(t *testing.T, ctx context.Context) {
	err := s.kube.CoreV1().Namespaces().Delete(ctx, s.namespace, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("cleanup: delete namespace %s: %v", s.namespace, err)
		return
	}
	err = waitUntil(ctx, time.Second, installer.DefaultTimeout, "namespace "+s.namespace+" to be deleted", func(ctx context.Context) (bool, string) {
		_, err := s.kube.CoreV1().Namespaces().Get(ctx, s.namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "deleted"
		}
		return false, fmt.Sprintf("present (%v)", err)
	})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// deploymentObject reads the consumer Deployment.
func (s *scenario) deploymentObject(ctx context.Context) (*appsv1.Deployment, error) {
	return s.kube.AppsV1().Deployments(s.namespace).Get(ctx, s.deployment, metav1.GetOptions{})
}

// testWriter sends each write to t.Log, for the installer's progress lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
