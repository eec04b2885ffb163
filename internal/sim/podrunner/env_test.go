// Tests for the pure parts of the pod environment: $(VAR) expansion as the kubelet does it,
// downward API field paths and resourceFieldRef rounding.
package podrunner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"QUEUE": "orders", "EMPTY": ""}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }

	cases := []struct {
		name, in, want string
	}{
		{"no reference", "plain", "plain"},
		{"defined reference", "$(QUEUE)-poison", "orders-poison"},
		{"empty value", "a$(EMPTY)b", "ab"},
		{"undefined kept", "$(MISSING)", "$(MISSING)"},
		{"escaped dollar", "$$(QUEUE)", "$(QUEUE)"},
		{"lone dollar", "cost $5", "cost $5"},
		{"trailing dollar", "end$", "end$"},
		{"unterminated", "$(QUEUE", "$(QUEUE"},
		{"two references", "$(QUEUE)/$(QUEUE)", "orders/orders"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, expand(tc.in, lookup))
		})
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "consumer-1", Namespace: "edw", UID: "uid-1",
			Labels:      map[string]string{"app.kubernetes.io/component": "consumer"},
			Annotations: map[string]string{"note": "x"},
		},
		Spec:   corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "edw"},
		Status: corev1.PodStatus{PodIP: "10.0.0.5"},
	}
	cases := map[string]string{
		"metadata.name":           "consumer-1",
		"metadata.namespace":      "edw",
		"metadata.uid":            "uid-1",
		"spec.nodeName":           "node-a",
		"spec.serviceAccountName": "edw",
		"status.podIP":            "10.0.0.5",
		"metadata.labels['app.kubernetes.io/component']": "consumer",
		"metadata.annotations['note']":                   "x",
	}
	for path, want := range cases {
		t.Run(path, func(t *testing.T) {
			got, err := fieldValue(pod, path)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}

	_, err := fieldValue(pod, "spec.unknown")
	assert.ErrorContains(t, err, "spec.unknown")
}

func TestResourceValue(t *testing.T) {
	container := corev1.Container{
		Name: "consumer",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			Limits: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("1500m"),
				corev1.ResourceMemory: resource.MustParse("256Mi"),
			},
		},
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container}}}

	cases := []struct {
		name     string
		ref      corev1.ResourceFieldSelector
		want     string
		wantSet  bool
		wantFail bool
	}{
		{name: "cpu limit rounds up to cores", ref: corev1.ResourceFieldSelector{Resource: "limits.cpu"}, want: "2", wantSet: true},
		{name: "cpu request in millicores", ref: corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}, want: "250", wantSet: true},
		{name: "memory limit in Mi", ref: corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, want: "256", wantSet: true},
		{name: "unset quantity", ref: corev1.ResourceFieldSelector{Resource: "requests.memory"}, wantSet: false},
		{name: "named container", ref: corev1.ResourceFieldSelector{ContainerName: "consumer", Resource: "limits.cpu"}, want: "2", wantSet: true},
		{name: "unknown container", ref: corev1.ResourceFieldSelector{ContainerName: "sidecar", Resource: "limits.cpu"}, wantFail: true},
		{name: "malformed resource", ref: corev1.ResourceFieldSelector{Resource: "cpu"}, wantFail: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := resourceValue(pod, &pod.Spec.Containers[0], &tc.ref)
			if tc.wantFail {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantSet, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestEnvListLastValueWinsFirstOrderKept(t *testing.T) {
	l := newEnvList()
	l.set("A", "1")
	l.set("B", "2")
	l.set("A", "3")

	assert.Equal(t, []envVar{{"A", "3"}, {"B", "2"}}, l.list())
}
