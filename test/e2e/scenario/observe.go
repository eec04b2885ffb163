package scenario

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/aks-edw/aks-edw/internal/status"
)

// podRecord is what the observer saw of one consumer pod over its life.
type podRecord struct {
	Name    string
	Created time.Time
	// Unschedulable is set once the scheduler reported PodScheduled=False with reason
	// Unschedulable, which is what Karpenter provisions nodes for.
	Unschedulable bool
	// Node is the node the pod was bound to, "" while unscheduled.
	Node string
	// Running is set once the pod was seen in phase Running.
	Running bool
	Deleted bool
}

// observer records the release while the scenario runs: a status snapshot per poll for the
// timeline, and through watches every HPA status, every consumer pod's phases, and the
// NodePool's nodes and NodeClaims. Watches see each change, which polls between two snapshots
// could miss.
type observer struct {
	collector *status.Collector
	timeline  status.Timeline
	interval  time.Duration

	mu      sync.Mutex
	latest  status.Snapshot
	hpas    []HPAObservation
	hpaSeen map[string]bool
	// lastHPAStatus is the status of the last recorded HPA observation.
	lastHPAStatus *autoscalingv2.HorizontalPodAutoscalerStatus
	pods          map[string]*podRecord
	nodes         map[string]time.Time // pool node name -> creation time
	claims        map[string]time.Time // NodeClaim name -> creation time
	nodesNow      map[string]bool
	claimNow      map[string]bool

	cancel context.CancelFunc
	done   sync.WaitGroup
}

type watchHandler struct {
	informer cache.SharedIndexInformer
	handler  cache.ResourceEventHandler
}

// startObserver starts the watches and the poll loop; stop ends them. nodePool is empty when the
// release has no NodePool.
func startObserver(ctx context.Context, collector *status.Collector, kube kubernetes.Interface, dyn dynamic.Interface,
	namespace, release, nodePool string, interval time.Duration) (*observer, error) {
	o := &observer{
		collector: collector,
		interval:  interval,
		hpaSeen:   map[string]bool{},
		pods:      map[string]*podRecord{},
		nodes:     map[string]time.Time{},
		claims:    map[string]time.Time{},
		nodesNow:  map[string]bool{},
		claimNow:  map[string]bool{},
	}
	ctx, o.cancel = context.WithCancel(ctx)

	namespaced := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace))
	hpaInformer := namespaced.Autoscaling().V2().HorizontalPodAutoscalers().Informer()
	podInformer := namespaced.Core().V1().Pods().Informer()
	handlers := []watchHandler{
		{hpaInformer, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { o.recordHPA(obj) },
			UpdateFunc: func(_, obj any) { o.recordHPA(obj) },
		}},
		{podInformer, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { o.recordPod(obj, false) },
			UpdateFunc: func(_, obj any) { o.recordPod(obj, false) },
			DeleteFunc: func(obj any) { o.recordPod(obj, true) },
		}},
	}
	synced := []cache.InformerSynced{hpaInformer.HasSynced, podInformer.HasSynced}

	var cluster informers.SharedInformerFactory
	var claims dynamicinformer.DynamicSharedInformerFactory
	if nodePool != "" {
		byPool := func(options *metav1.ListOptions) { options.LabelSelector = status.NodePoolLabel + "=" + nodePool }
		cluster = informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(byPool))
		nodeInformer := cluster.Core().V1().Nodes().Informer()
		claims = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, metav1.NamespaceAll, byPool)
		claimInformer := claims.ForResource(status.NodeClaimResource).Informer()
		handlers = append(handlers,
			watchHandler{nodeInformer, objectSetHandler(&o.mu, o.nodes, o.nodesNow)},
			watchHandler{claimInformer, objectSetHandler(&o.mu, o.claims, o.claimNow)},
		)
		synced = append(synced, nodeInformer.HasSynced, claimInformer.HasSynced)
	}

	for _, h := range handlers {
		if _, err := h.informer.AddEventHandler(h.handler); err != nil {
			o.cancel()
			return nil, fmt.Errorf("watch for the scenario: %w", err)
		}
	}
	namespaced.Start(ctx.Done())
	if cluster != nil {
		cluster.Start(ctx.Done())
		claims.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		o.cancel()
		return nil, fmt.Errorf("watches of namespace %s did not sync: %w", namespace, context.Cause(ctx))
	}

	o.poll(ctx)
	o.done.Go(func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				o.poll(ctx)
			}
		}
	})
	o.done.Go(func() {
		<-ctx.Done()
		namespaced.Shutdown()
		if cluster != nil {
			cluster.Shutdown()
			claims.Shutdown()
		}
	})
	return o, nil
}

// stop ends the watches and the poll loop and waits for them.
func (o *observer) stop() {
	o.cancel()
	o.done.Wait()
}

func (o *observer) poll(ctx context.Context) {
	snapshot := o.collector.Snapshot(ctx)
	if ctx.Err() != nil {
		return
	}
	o.timeline.Add(snapshot)
	o.mu.Lock()
	o.latest = snapshot
	o.mu.Unlock()
}

// Latest returns the newest snapshot.
func (o *observer) Latest() status.Snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.latest
}

func (o *observer) recordHPA(obj any) {
	hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.hpaSeen[hpa.ResourceVersion] {
		return
	}
	o.hpaSeen[hpa.ResourceVersion] = true
	// NOTE: an update that changed only the spec (KEDA applying an upgraded ScaledObject)
	// carries the status of a sync under the old spec, so it is not a decision to check.
	if o.lastHPAStatus != nil && apiequality.Semantic.DeepEqual(*o.lastHPAStatus, hpa.Status) {
		return
	}
	o.lastHPAStatus = hpa.Status.DeepCopy()
	o.hpas = append(o.hpas, ObserveHPA(hpa, time.Now()))
}

func (o *observer) recordPod(obj any, deleted bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Labels["app.kubernetes.io/component"] != "consumer" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	record := o.pods[pod.Name]
	if record == nil {
		record = &podRecord{Name: pod.Name, Created: pod.CreationTimestamp.Time}
		o.pods[pod.Name] = record
	}
	for _, condition := range pod.Status.Conditions {
		if condition.Type == corev1.PodScheduled && condition.Status == corev1.ConditionFalse &&
			condition.Reason == corev1.PodReasonUnschedulable {
			record.Unschedulable = true
		}
	}
	if pod.Spec.NodeName != "" {
		record.Node = pod.Spec.NodeName
	}
	if pod.Status.Phase == corev1.PodRunning {
		record.Running = true
	}
	record.Deleted = record.Deleted || deleted
}

// objectSetHandler records each object's name and creation time in seen, and keeps now as the
// set of objects that currently exist.
func objectSetHandler(mu *sync.Mutex, seen map[string]time.Time, now map[string]bool) cache.ResourceEventHandler {
	add := func(obj any) {
		object, err := meta(obj)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seen[object.GetName()] = object.GetCreationTimestamp().Time
		now[object.GetName()] = true
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(_, obj any) { add(obj) },
		DeleteFunc: func(obj any) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			object, err := meta(obj)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			delete(now, object.GetName())
		},
	}
}

func meta(obj any) (metav1.Object, error) {
	switch object := obj.(type) {
	case *corev1.Node:
		return object, nil
	case *unstructured.Unstructured:
		return object, nil
	}
	return nil, fmt.Errorf("unexpected object %T", obj)
}

// HPAObservations returns every HPA status seen so far, oldest first.
func (o *observer) HPAObservations() []HPAObservation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]HPAObservation(nil), o.hpas...)
}

// Pods returns a copy of the consumer pod records, oldest first.
func (o *observer) Pods() []podRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]podRecord, 0, len(o.pods))
	for _, record := range o.pods {
		out = append(out, *record)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// LivePods returns the number of consumer pods that exist now.
func (o *observer) LivePods() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	live := 0
	for _, record := range o.pods {
		if !record.Deleted {
			live++
		}
	}
	return live
}

// PoolNodes returns the NodePool's nodes ever seen (name to creation time) and how many exist
// now.
func (o *observer) PoolNodes() (map[string]time.Time, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := make(map[string]time.Time, len(o.nodes))
	for name, created := range o.nodes {
		seen[name] = created
	}
	return seen, len(o.nodesNow)
}

// NodeClaims returns the NodePool's NodeClaims ever seen and how many exist now.
func (o *observer) NodeClaims() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.claims), len(o.claimNow)
}

// Report returns the timeline, the HPA statuses and the pods, for a failure message.
func (o *observer) Report() string {
	var b strings.Builder
	b.WriteString("timeline (one line per poll):\n")
	b.WriteString(o.timeline.String())
	b.WriteString("\nHPA statuses (one per controller sync that changed it):\n")
	for _, observation := range o.HPAObservations() {
		b.WriteString("  " + observation.String() + "\n")
	}
	b.WriteString("\nconsumer pods:\n")
	for _, pod := range o.Pods() {
		fmt.Fprintf(&b, "  %s created %s unschedulable=%t node=%q running=%t deleted=%t\n",
			pod.Name, pod.Created.Format("15:04:05"), pod.Unschedulable, pod.Node, pod.Running, pod.Deleted)
	}
	return b.String()
}
