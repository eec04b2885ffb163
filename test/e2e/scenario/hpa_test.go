// Tests of the HPA formula check that the end-to-end scenario applies to every status of the
// HorizontalPodAutoscaler: the queue count read back from the stored per-replica average, the
// tolerance band, clamping to [min, max], and the behavior's rate limits. They need no cluster
// and run with `make test`.
package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// hpaStatus builds the HPA that KEDA creates for an azure-queue trigger, with the status one
// controller sync would write for a queue count of total messages.
func hpaStatus(queueLength, minReplicas, maxReplicas, current, desired int32, total int64, limitedReason string) *autoscalingv2.HorizontalPodAutoscaler {
	average := (total*1000 + int64(current) - 1) / int64(current)
	limited := corev1.ConditionFalse
	if limitedReason != "DesiredWithinRange" {
		limited = corev1.ConditionTrue
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			MinReplicas: &minReplicas,
			MaxReplicas: maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ExternalMetricSourceType,
				External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "s0-azure-queue-orders"},
					Target: autoscalingv2.MetricTarget{
						Type:         autoscalingv2.AverageValueMetricType,
						AverageValue: resource.NewQuantity(int64(queueLength), resource.DecimalSI),
					},
				},
			}},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: current,
			DesiredReplicas: desired,
			CurrentMetrics: []autoscalingv2.MetricStatus{{
				Type: autoscalingv2.ExternalMetricSourceType,
				External: &autoscalingv2.ExternalMetricStatus{
					Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(average, resource.DecimalSI)},
				},
			}},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
				{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound"},
				{Type: autoscalingv2.ScalingLimited, Status: limited, Reason: limitedReason},
			},
		},
	}
}

func TestMetricTotalFromStoredAverage(t *testing.T) {
	cases := []struct {
		name    string
		current int32
		total   int64
	}{
		{"one replica", 1, 437},
		{"three replicas, not divisible", 3, 1000},
		{"seven replicas", 7, 2999},
		{"empty queue", 4, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			observation := ObserveHPA(hpaStatus(100, 1, 10, tc.current, 1, tc.total, "DesiredWithinRange"), time.Now())

			total, exact := observation.MetricTotal()

			assert.True(t, exact)
			assert.Equal(t, tc.total, total)
		})
	}
}

func TestExpectedDesiredReplicas(t *testing.T) {
	cases := []struct {
		name          string
		queueLength   int32
		min, max      int32
		current       int32
		total         int64
		limitedReason string
		wantDesired   int32
	}{
		{"ceil of count over queueLength", 100, 1, 20, 1, 437, "DesiredWithinRange", 5},
		{"exact multiple", 100, 1, 20, 2, 800, "DesiredWithinRange", 8},
		{"clamped to max", 5, 1, 10, 1, 3000, "TooManyReplicas", 10},
		{"empty queue clamped to min", 100, 1, 10, 6, 0, "TooFewReplicas", 1},
		{"within tolerance keeps current", 100, 1, 10, 8, 850, "DesiredWithinRange", 8},
		{"just outside tolerance moves", 100, 1, 10, 8, 700, "DesiredWithinRange", 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			observation := ObserveHPA(hpaStatus(tc.queueLength, tc.min, tc.max, tc.current, tc.wantDesired, tc.total, tc.limitedReason), time.Now())
			require.True(t, observation.Checkable())

			want, limitedFrom := observation.Expected()

			assert.Equal(t, tc.wantDesired, want)
			assert.Equal(t, want, limitedFrom)
			assert.NoError(t, observation.Check())
		})
	}
}

func TestCheckRejectsWrongDesired(t *testing.T) {
	cases := []struct {
		name    string
		current int32
		total   int64
		desired int32
	}{
		{"too few for the count", 1, 437, 4},
		{"too many for the count", 1, 437, 6},
		{"above max", 2, 5000, 11},
		{"kept current outside tolerance", 8, 300, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			observation := ObserveHPA(hpaStatus(100, 1, 10, tc.current, tc.desired, tc.total, "DesiredWithinRange"), time.Now())

			err := observation.Check()

			assert.Error(t, err)
		})
	}
}

func TestCheckAllowsBehaviorRateLimit(t *testing.T) {
	// Kubernetes' default scale-up policy allows max(4 pods, 100%) per 15 s, so from 1 replica
	// a count that needs 10 replicas gives 5 first.
	observation := ObserveHPA(hpaStatus(100, 1, 20, 1, 5, 1000, "ScaleUpLimit"), time.Now())

	want, limitedFrom := observation.Expected()

	assert.Equal(t, int32(10), want)
	assert.Equal(t, int32(1), limitedFrom)
	assert.NoError(t, observation.Check())
}

func TestCheckableSkipsSyncsWithoutMetric(t *testing.T) {
	disabled := hpaStatus(100, 1, 10, 1, 0, 0, "DesiredWithinRange")
	disabled.Status.CurrentReplicas = 0
	disabled.Status.CurrentMetrics = nil
	disabled.Status.Conditions[0] = autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "ScalingDisabled"}

	observation := ObserveHPA(disabled, time.Now())

	assert.False(t, observation.Checkable())
}
