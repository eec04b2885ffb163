package installer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/aks-edw/aks-edw/internal/preflight"
	"github.com/aks-edw/aks-edw/internal/status"
)

const (
	// pollInterval is how often the wait reads the objects.
	pollInterval = 2 * time.Second
	// progressInterval is how often an unchanged wait state is printed again.
	progressInterval = 15 * time.Second
)

// objectState is one object's readiness in a wait.
type objectState struct {
	name  string
	ready bool
	state string
}

func (s objectState) String() string { return s.name + ": " + s.state }

// waitReady waits until every Deployment in manifest is available and every ScaledObject has
// condition Ready=True. A Deployment scaled to 0 by KEDA counts as available once its controller
// has observed it.
func (i *Installer) waitReady(ctx context.Context, manifest string) error {
	objects, err := preflight.ParseManifest(manifest)
	if err != nil {
		return err
	}
	restConfig, err := i.restConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create dynamic client: %w", err)
	}

	var deployments, scaledObjects []*unstructured.Unstructured
	for _, object := range objects {
		switch object.GroupVersionKind().GroupKind() {
		case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
			deployments = append(deployments, object)
		case schema.GroupKind{Group: "keda.sh", Kind: "ScaledObject"}:
			scaledObjects = append(scaledObjects, object)
		}
	}

	readStates := func() []objectState {
		var states []objectState
		for _, object := range deployments {
			states = append(states, deploymentState(ctx, kube, i.objectNamespace(object), object.GetName()))
		}
		for _, object := range scaledObjects {
			states = append(states, scaledObjectState(ctx, dyn, i.objectNamespace(object), object.GetName()))
		}
		return states
	}

	i.progressf("wait: waiting up to %s for %d Deployment(s) to be available and %d ScaledObject(s) to be Ready",
		remaining(ctx), len(deployments), len(scaledObjects))
	return i.poll(ctx, "wait", readStates, func(pending []objectState) error {
		return fmt.Errorf("timed out waiting for the release to be ready: %s (read the events: kubectl -n %s get events --sort-by=.lastTimestamp)",
			joinStates(pending), i.namespace)
	})
}

// waitGone waits until every object in manifest is deleted.
func (i *Installer) waitGone(ctx context.Context, manifest string) error {
	objects, err := preflight.ParseManifest(manifest)
	if err != nil {
		return err
	}
	restConfig, err := i.restConfig()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create dynamic client: %w", err)
	}
	discoveryClient, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discoveryClient))

	readStates := func() []objectState {
		states := make([]objectState, 0, len(objects))
		for _, object := range objects {
			states = append(states, i.deletionState(ctx, dyn, mapper, object))
		}
		return states
	}

	i.progressf("wait: waiting up to %s for %d object(s) to be deleted", remaining(ctx), len(objects))
	return i.poll(ctx, "wait", readStates, func(pending []objectState) error {
		return fmt.Errorf("timed out waiting for the release's objects to be deleted: %s (a NodePool waits for Karpenter to drain its nodes; kubectl get nodeclaims shows them)",
			joinStates(pending))
	})
}

func (i *Installer) deletionState(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, object *unstructured.Unstructured) objectState {
	gvk := object.GroupVersionKind()
	state := objectState{name: gvk.Kind + " " + object.GetName()}
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// The kind is no longer served (its CRD was removed), so no object of it can remain.
		state.ready, state.state = true, "deleted"
		return state
	}
	if err != nil {
		state.state = fmt.Sprintf("cannot map kind: %v", err)
		return state
	}

	resource := dyn.Resource(mapping.Resource)
	var getter dynamic.ResourceInterface = resource
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		getter = resource.Namespace(i.objectNamespace(object))
	}
	current, err := getter.Get(ctx, object.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		state.ready, state.state = true, "deleted"
	case err != nil:
		state.state = fmt.Sprintf("read failed: %v", err)
	case current.GetDeletionTimestamp() != nil:
		state.state = fmt.Sprintf("terminating (finalizers: %s)", strings.Join(current.GetFinalizers(), ", "))
	default:
		state.state = "still present"
	}
	return state
}

// poll reads the states every pollInterval until all are ready or ctx ends, printing the pending
// states when they change and every progressInterval.
func (i *Installer) poll(ctx context.Context, step string, readStates func() []objectState, timeoutError func([]objectState) error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastLine string
	var lastPrinted time.Time
	for {
		states := readStates()
		var pending []objectState
		for _, state := range states {
			if !state.ready {
				pending = append(pending, state)
			}
		}
		if len(pending) == 0 {
			i.progressf("%s: done: %s", step, joinStates(states))
			return nil
		}

		line := joinStates(pending)
		if line != lastLine || time.Since(lastPrinted) >= progressInterval {
			i.progressf("%s: %s (%s left)", step, line, remaining(ctx))
			lastLine, lastPrinted = line, time.Now()
		}

		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("wait cancelled: %s", line)
			}
			return timeoutError(pending)
		case <-ticker.C:
		}
	}
}

func deploymentState(ctx context.Context, kube kubernetes.Interface, namespace, name string) objectState {
	state := objectState{name: "Deployment " + name}
	deployment, err := kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		state.state = fmt.Sprintf("read failed: %v", err)
		return state
	}
	state.ready, state.state = DeploymentAvailable(deployment)
	return state
}

// DeploymentAvailable reports whether the Deployment controller has observed deployment's
// latest generation, rolled it out and marked it Available, and describes its state. With 0
// replicas (KEDA scaled it in) it is available as soon as the controller marks it so.
func DeploymentAvailable(deployment *appsv1.Deployment) (bool, string) {
	replicas := int32(1)
	if deployment.Spec.Replicas != nil {
		replicas = *deployment.Spec.Replicas
	}
	counts := fmt.Sprintf("%d/%d ready", deployment.Status.ReadyReplicas, replicas)
	if deployment.Status.ObservedGeneration < deployment.Generation {
		return false, counts + ", waiting for the Deployment controller to observe generation " + fmt.Sprint(deployment.Generation)
	}
	if deployment.Status.UpdatedReplicas < replicas {
		return false, fmt.Sprintf("%s, %d/%d updated", counts, deployment.Status.UpdatedReplicas, replicas)
	}
	for _, condition := range deployment.Status.Conditions {
		if condition.Type != appsv1.DeploymentAvailable {
			continue
		}
		if condition.Status == corev1.ConditionTrue {
			return true, counts + ", Available"
		}
		return false, fmt.Sprintf("%s, Available=%s: %s", counts, condition.Status, condition.Message)
	}
	return false, counts + ", no Available condition yet"
}

func scaledObjectState(ctx context.Context, dyn dynamic.Interface, namespace, name string) objectState {
	state := objectState{name: "ScaledObject " + name}
	object, err := dyn.Resource(status.ScaledObjectResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		state.state = fmt.Sprintf("read failed: %v", err)
		return state
	}
	condition := status.FindCondition(object, "Ready")
	switch {
	case condition.Status == "":
		state.state = "no Ready condition yet (is the KEDA operator running?)"
	case condition.IsTrue():
		state.ready, state.state = true, "Ready"
	default:
		state.state = fmt.Sprintf("Ready=%s", condition.Status)
		if condition.Reason != "" {
			state.state += " " + condition.Reason
		}
		if condition.Message != "" {
			state.state += ": " + condition.Message
		}
	}
	return state
}

func (i *Installer) objectNamespace(object *unstructured.Unstructured) string {
	if namespace := object.GetNamespace(); namespace != "" {
		return namespace
	}
	return i.namespace
}

func joinStates(states []objectState) string {
	parts := make([]string, 0, len(states))
	for _, state := range states {
		parts = append(parts, state.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func remaining(ctx context.Context) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return time.Until(deadline).Round(time.Second)
}
