// Package podrunner backs simulated pods with real host processes. kwok marks pods Running
// without running anything. For each Running pod that matches a label selector, the Runner
// starts one process of a host binary with that pod's container environment resolved (values,
// Secrets, ConfigMaps, the downward API). When the pod stops running or is deleted, the Runner
// sends SIGTERM, then SIGKILL after the pod's termination grace period. In the simulated
// cluster these processes are the consumers that drain the queue.
package podrunner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const (
	// DefaultSelector selects the chart's consumer pods.
	DefaultSelector = "app.kubernetes.io/component=consumer"
	// DefaultContainer is the consumer pods' container whose environment the process gets.
	DefaultContainer = "consumer"
	// defaultGrace is the kubelet's termination grace period when the pod does not set one.
	defaultGrace = 30 * time.Second
)

// Runner keeps one host process per selected Running pod.
type Runner struct {
	client    kubernetes.Interface
	binary    string
	logDir    string
	selector  labels.Selector
	container string
	overrides map[string]string
	baseEnv   []string
	logger    *slog.Logger
	backoff   backoffPolicy
	onSynced  func() error

	mu       sync.Mutex
	procs    map[string]*podProcess // by namespace/name
	stopping sync.WaitGroup
}

// Option configures a Runner.
type Option func(*Runner) error

// WithSelector sets the label selector of the pods to back (default DefaultSelector).
func WithSelector(selector string) Option {
	return func(r *Runner) error {
		s, err := labels.Parse(selector)
		if err != nil {
			return fmt.Errorf("invalid pod selector %q: %w", selector, err)
		}
		r.selector = s
		return nil
	}
}

// WithContainer sets the container whose env and args the process gets (default DefaultContainer).
func WithContainer(name string) Option {
	return func(r *Runner) error { r.container = name; return nil }
}

// WithEnvOverride sets a variable for every process, replacing the pod's value. The simulated
// cluster uses it to move the consumer's HTTP listener to 127.0.0.1 on a free port, because many
// pods share one host.
func WithEnvOverride(name, value string) Option {
	return func(r *Runner) error { r.overrides[name] = value; return nil }
}

// WithBaseEnv sets the variables every process starts with before the pod's (default: PATH
// and HOME of the runner), as a container starts with its image's environment.
func WithBaseEnv(env []string) Option {
	return func(r *Runner) error { r.baseEnv = env; return nil }
}

// WithLogDir sets where per-pod logs go, one <namespace>_<pod>.log each (default: the working
// directory).
func WithLogDir(dir string) Option {
	return func(r *Runner) error { r.logDir = dir; return nil }
}

// WithOnSynced sets a function called once the pod cache has synced, before any process
// starts; an error from it ends Run.
func WithOnSynced(fn func() error) Option {
	return func(r *Runner) error { r.onSynced = fn; return nil }
}

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(r *Runner) error { r.logger = l; return nil }
}

// WithRestartBackoff sets the delay before restarting a process that exited while its pod is
// still Running. The delay doubles per restart up to max, as the kubelet's CrashLoopBackOff
// does (kubelet defaults: 10s and 5m).
func WithRestartBackoff(initial, max time.Duration) Option {
	return func(r *Runner) error { r.backoff = backoffPolicy{initial: initial, max: max}; return nil }
}

// New returns a Runner that starts binary for each selected Running pod.
func New(client kubernetes.Interface, binary string, opts ...Option) (*Runner, error) {
	r := &Runner{
		client:    client,
		binary:    binary,
		container: DefaultContainer,
		overrides: map[string]string{},
		baseEnv:   hostEnv("PATH", "HOME"),
		logger:    slog.New(slog.DiscardHandler),
		backoff:   backoffPolicy{initial: 10 * time.Second, max: 5 * time.Minute},
		procs:     map[string]*podProcess{},
	}
	if err := WithSelector(DefaultSelector)(r); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if err := opt(r); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("pod runner binary %s: %w", binary, err)
	}
	if r.logDir != "" {
		if err := os.MkdirAll(r.logDir, 0o755); err != nil {
			return nil, fmt.Errorf("create pod log directory: %w", err)
		}
	}
	return r, nil
}

// Run watches pods until ctx is cancelled, then stops every process it started, each with its
// pod's grace period, and returns.
func (r *Runner) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(r.client, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = r.selector.String() }))
	podInformer := factory.Core().V1().Pods()
	lister := podInformer.Lister()

	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "pod-runner"},
	)
	enqueue := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err == nil {
			queue.Add(key)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}

	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced) {
		r.stopAll()
		return fmt.Errorf("pod cache did not sync: %w", context.Cause(ctx))
	}
	r.logger.Info("pod runner started", "selector", r.selector.String(), "container", r.container, "binary", r.binary)
	if r.onSynced != nil {
		if err := r.onSynced(); err != nil {
			factory.Shutdown()
			return fmt.Errorf("pod runner: %w", err)
		}
	}

	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	for r.processNext(ctx, queue, lister) {
	}

	factory.Shutdown()
	r.stopAll()
	r.logger.Info("pod runner stopped")
	return nil
}

func (r *Runner) processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], lister listersv1.PodLister) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)

	if err := r.sync(ctx, key, lister); err != nil {
		if ctx.Err() != nil {
			return true
		}
		r.logger.Error("pod not started; retrying", "pod", key, "retries", queue.NumRequeues(key), "error", err)
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

// sync makes the process for key match its pod: running while the pod is Running and not
// being deleted, stopped otherwise.
func (r *Runner) sync(ctx context.Context, key string, lister listersv1.PodLister) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := lister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		r.stop(key, "pod deleted")
		return nil
	}
	if err != nil {
		return err
	}

	running := pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil
	r.mu.Lock()
	current := r.procs[key]
	r.mu.Unlock()

	switch {
	case !running:
		r.stop(key, "pod "+string(pod.Status.Phase)+deletingSuffix(pod))
		return nil
	case current != nil && current.uid == pod.UID:
		return nil
	case current != nil:
		r.stop(key, "pod replaced")
	}
	return r.start(ctx, key, pod)
}

func deletingSuffix(pod *corev1.Pod) string {
	if pod.DeletionTimestamp != nil {
		return ", deleting"
	}
	return ""
}

// start resolves the pod's environment and starts its supervised process.
func (r *Runner) start(ctx context.Context, key string, pod *corev1.Pod) error {
	var container *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == r.container {
			container = &pod.Spec.Containers[i]
		}
	}
	if container == nil {
		r.logger.Warn("pod has no container to run; skipped", "pod", key, "container", r.container)
		return nil
	}

	vars, err := envResolver{client: r.client}.resolve(ctx, pod, container)
	if err != nil {
		return fmt.Errorf("resolve environment of container %s: %w", r.container, err)
	}
	env := append([]string(nil), r.baseEnv...)
	lookup := map[string]string{}
	for _, v := range vars {
		if _, overridden := r.overrides[v.Name]; overridden {
			continue
		}
		env = append(env, v.Name+"="+v.Value)
		lookup[v.Name] = v.Value
	}
	for name, value := range r.overrides {
		env = append(env, name+"="+value)
		lookup[name] = value
	}
	// NOTE: container.command names a path inside the image, so only args are passed to the
	// host binary, with $(VAR) references expanded as the kubelet does.
	var args []string
	for _, a := range container.Args {
		args = append(args, expand(a, func(n string) (string, bool) { v, ok := lookup[n]; return v, ok }))
	}

	grace := defaultGrace
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	p := &podProcess{
		key:     key,
		uid:     pod.UID,
		binary:  r.binary,
		args:    args,
		env:     env,
		logPath: filepath.Join(r.logDir, pod.Namespace+"_"+pod.Name+".log"),
		grace:   grace,
		backoff: r.backoff,
		logger:  r.logger.With("pod", key, "uid", string(pod.UID)),
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.mu.Lock()
	r.procs[key] = p
	r.mu.Unlock()
	go p.supervise()
	return nil
}

// stop ends the pod's process, if any, in the background: the pod's grace period must not hold
// up the processes of other pods.
func (r *Runner) stop(key, reason string) {
	r.mu.Lock()
	p := r.procs[key]
	delete(r.procs, key)
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.logger.Info("stopping process", "reason", reason, "grace", p.grace)
	r.stopping.Go(p.stop)
}

// stopAll stops every process and waits until all have exited, so the longest grace period
// bounds the total.
func (r *Runner) stopAll() {
	r.mu.Lock()
	keys := make([]string, 0, len(r.procs))
	for key := range r.procs {
		keys = append(keys, key)
	}
	r.mu.Unlock()
	for _, key := range keys {
		r.stop(key, "pod runner stopping")
	}
	r.stopping.Wait()
}

// Running returns the keys (namespace/name) of the pods that have a process.
func (r *Runner) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.procs))
	for key := range r.procs {
		keys = append(keys, key)
	}
	return keys
}

func hostEnv(names ...string) []string {
	var env []string
	for _, name := range names {
		if value, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+value)
		}
	}
	return env
}
