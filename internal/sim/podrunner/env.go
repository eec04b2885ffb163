package podrunner

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// envResolver resolves a container's environment the way the kubelet does for the sources the
// simulation supports: envFrom (ConfigMap, Secret), value with $(VAR) references, and valueFrom
// secretKeyRef, configMapKeyRef and fieldRef.
type envResolver struct {
	client kubernetes.Interface
}

// resolve returns the container's variables in definition order, later ones replacing earlier
// ones as in a pod. Values are never logged, because they include the connection string.
func (r envResolver) resolve(ctx context.Context, pod *corev1.Pod, container *corev1.Container) ([]envVar, error) {
	env := newEnvList()

	for _, from := range container.EnvFrom {
		data, err := r.envFromData(ctx, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		for key, value := range data {
			env.set(from.Prefix+key, value)
		}
	}

	for _, v := range container.Env {
		if v.ValueFrom == nil {
			env.set(v.Name, expand(v.Value, env.lookup))
			continue
		}
		value, ok, err := r.valueFrom(ctx, pod, container, v)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(v.Name, value)
		}
	}
	return env.list(), nil
}

func (r envResolver) envFromData(ctx context.Context, namespace string, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := r.client.CoreV1().ConfigMaps(namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isOptional(from.ConfigMapRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("envFrom ConfigMap %s/%s: %w", namespace, from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		secret, err := r.client.CoreV1().Secrets(namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isOptional(from.SecretRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("envFrom Secret %s/%s: %w", namespace, from.SecretRef.Name, err)
		}
		data := make(map[string]string, len(secret.Data))
		for k, v := range secret.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, nil
}

// valueFrom resolves one valueFrom source. ok is false when an optional source is missing, so
// the variable is left unset, as the kubelet does.
func (r envResolver) valueFrom(ctx context.Context, pod *corev1.Pod, container *corev1.Container, v corev1.EnvVar) (string, bool, error) {
	from := v.ValueFrom
	switch {
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		secret, err := r.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isOptional(ref.Optional) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("env %s: Secret %s/%s: %w", v.Name, pod.Namespace, ref.Name, err)
		}
		value, found := secret.Data[ref.Key]
		if !found {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("env %s: key %q not found in Secret %s/%s", v.Name, ref.Key, pod.Namespace, ref.Name)
		}
		return string(value), true, nil

	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := r.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isOptional(ref.Optional) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("env %s: ConfigMap %s/%s: %w", v.Name, pod.Namespace, ref.Name, err)
		}
		value, found := cm.Data[ref.Key]
		if !found {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("env %s: key %q not found in ConfigMap %s/%s", v.Name, ref.Key, pod.Namespace, ref.Name)
		}
		return value, true, nil

	case from.FieldRef != nil:
		value, err := fieldValue(pod, from.FieldRef.FieldPath)
		if err != nil {
			return "", false, fmt.Errorf("env %s: %w", v.Name, err)
		}
		return value, true, nil

	case from.ResourceFieldRef != nil:
		value, ok, err := resourceValue(pod, container, from.ResourceFieldRef)
		if err != nil {
			return "", false, fmt.Errorf("env %s: %w", v.Name, err)
		}
		return value, ok, nil
	}
	// NOTE: other sources (fileKeyRef) have no host equivalent; the variable stays unset.
	return "", false, nil
}

// resourceValue resolves a resourceFieldRef from the container's requests or limits, rounded up
// to the divisor as the kubelet does. An empty containerName means the variable's own
// container. ok is false when the quantity is not set: the kubelet would fall back to the
// node's allocatable, which a simulated node does not really have.
func resourceValue(pod *corev1.Pod, own *corev1.Container, ref *corev1.ResourceFieldSelector) (string, bool, error) {
	container := own
	if ref.ContainerName != "" {
		container = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				container = &pod.Spec.Containers[i]
			}
		}
	}
	if container == nil {
		return "", false, fmt.Errorf("resourceFieldRef names container %q, which the pod does not have", ref.ContainerName)
	}
	kind, name, found := strings.Cut(ref.Resource, ".")
	if !found {
		return "", false, fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	list := container.Resources.Limits
	if kind == "requests" {
		list = container.Resources.Requests
	}
	quantity, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "", false, nil
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == string(corev1.ResourceCPU) {
		value := (quantity.MilliValue() + divisor.MilliValue() - 1) / divisor.MilliValue()
		return strconv.FormatInt(value, 10), true, nil
	}
	value := (quantity.Value() + divisor.Value() - 1) / divisor.Value()
	return strconv.FormatInt(value, 10), true, nil
}

var annotationOrLabel = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.+)'\]$`)

// fieldValue resolves the downward API field paths that make sense for a host process.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	}
	if m := annotationOrLabel.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], nil
		}
		return pod.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

func isOptional(optional *bool) bool { return optional != nil && *optional }

// envVar is one resolved variable.
type envVar struct {
	Name  string
	Value string
}

// envList keeps variables in first-definition order with last-write-wins values.
type envList struct {
	order  []string
	values map[string]string
}

func newEnvList() *envList { return &envList{values: map[string]string{}} }

func (l *envList) set(name, value string) {
	if _, ok := l.values[name]; !ok {
		l.order = append(l.order, name)
	}
	l.values[name] = value
}

func (l *envList) lookup(name string) (string, bool) {
	v, ok := l.values[name]
	return v, ok
}

func (l *envList) list() []envVar {
	out := make([]envVar, 0, len(l.order))
	for _, name := range l.order {
		out = append(out, envVar{Name: name, Value: l.values[name]})
	}
	return out
}

// expand replaces $(NAME) with the value of an earlier variable, as Kubernetes does for env
// values and args: "$$" escapes a dollar sign, and a reference to an undefined variable is left
// as written.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if value, ok := lookup(name); ok {
				b.WriteString(value)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
