package scenario

import (
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// defaultHPATolerance is kube-controller-manager's --horizontal-pod-autoscaler-tolerance
// default (Kubernetes 1.36): the HPA keeps the current replica count while the ratio of the
// metric to its target stays within 10% of 1.
const defaultHPATolerance = 0.1

// HPAObservation is one status of the HorizontalPodAutoscaler that KEDA manages, as written by
// one sync of the HPA controller. The controller writes the current replicas, the metric it
// read and the replicas it decided in the same status update, so each observation can be
// checked on its own, however late the scenario saw it.
type HPAObservation struct {
	Time            time.Time
	ResourceVersion string

	// Current is status.currentReplicas, the replica count the controller computed from.
	Current int32
	// Desired is status.desiredReplicas, the replica count it decided.
	Desired int32
	// Min and Max are the HPA's bounds; KEDA sets Min to max(minReplicaCount, 1).
	Min, Max int32

	// TargetMilli is the external metric's target average value in milli-units, which KEDA
	// sets to the trigger's queueLength.
	TargetMilli int64
	// AverageMilli is the metric's current average value per replica in milli-units, as the
	// controller stored it: the metric total divided by Current, rounded up. It is -1 when the
	// status has no external metric.
	AverageMilli int64

	// ScalingActive, ScalingLimited and their reasons are the HPA conditions.
	ScalingActive  bool
	ScalingLimited bool
	LimitedReason  string

	// ToleranceUp and ToleranceDown are the HPA's tolerances: the behavior's own when set,
	// else defaultHPATolerance.
	ToleranceUp, ToleranceDown float64
}

// ObserveHPA extracts the observation from hpa's spec and status.
func ObserveHPA(hpa *autoscalingv2.HorizontalPodAutoscaler, at time.Time) HPAObservation {
	o := HPAObservation{
		Time:            at,
		ResourceVersion: hpa.ResourceVersion,
		Current:         hpa.Status.CurrentReplicas,
		Desired:         hpa.Status.DesiredReplicas,
		Min:             1,
		Max:             hpa.Spec.MaxReplicas,
		AverageMilli:    -1,
		ToleranceUp:     defaultHPATolerance,
		ToleranceDown:   defaultHPATolerance,
	}
	if hpa.Spec.MinReplicas != nil {
		o.Min = *hpa.Spec.MinReplicas
	}
	for _, metric := range hpa.Spec.Metrics {
		if metric.External != nil && metric.External.Target.AverageValue != nil {
			o.TargetMilli = metric.External.Target.AverageValue.MilliValue()
			break
		}
	}
	for _, metric := range hpa.Status.CurrentMetrics {
		if metric.External != nil && metric.External.Current.AverageValue != nil {
			o.AverageMilli = metric.External.Current.AverageValue.MilliValue()
			break
		}
	}
	if behavior := hpa.Spec.Behavior; behavior != nil {
		if behavior.ScaleUp != nil && behavior.ScaleUp.Tolerance != nil {
			o.ToleranceUp = behavior.ScaleUp.Tolerance.AsApproximateFloat64()
		}
		if behavior.ScaleDown != nil && behavior.ScaleDown.Tolerance != nil {
			o.ToleranceDown = behavior.ScaleDown.Tolerance.AsApproximateFloat64()
		}
	}
	for _, condition := range hpa.Status.Conditions {
		switch condition.Type {
		case autoscalingv2.ScalingActive:
			o.ScalingActive = condition.Status == corev1.ConditionTrue
		case autoscalingv2.ScalingLimited:
			o.ScalingLimited = condition.Status == corev1.ConditionTrue
			o.LimitedReason = condition.Reason
		}
	}
	return o
}

// Checkable reports whether the observation comes from a sync that computed replicas from the
// queue metric: the target had replicas, the metric was read, and the target value is known.
// Other syncs (scaling disabled at zero replicas, a failed metric read, a replica count outside
// [Min, Max]) decide without the formula.
func (o HPAObservation) Checkable() bool {
	return o.ScalingActive && o.Current > 0 && o.AverageMilli >= 0 && o.TargetMilli > 0 &&
		o.Current >= o.Min && o.Current <= o.Max
}

// MetricTotal returns the queue count that the HPA read, and whether it is known exactly.
// The controller stores ceil(total / Current) in milli-units, so the total in milli-units lies
// in ((AverageMilli-1)*Current, AverageMilli*Current]. KEDA reports whole message counts, so
// the total is the one multiple of 1000 in that range when there is exactly one.
func (o HPAObservation) MetricTotal() (int64, bool) {
	if o.AverageMilli < 0 || o.Current <= 0 {
		return -1, false
	}
	high := o.AverageMilli * int64(o.Current)
	low := (o.AverageMilli-1)*int64(o.Current) + 1
	count := high / 1000
	if count*1000 < low || (count-1)*1000 >= low {
		return count, false
	}
	return count, true
}

// Expected returns the desired replicas that the HPA algorithm gives for this observation:
// ceil(total / queueLength), or Current while total / (queueLength * Current) is within the
// tolerance of 1, clamped to [Min, Max]. The second result equals the first unless the HPA
// reports ScaleUpLimit or ScaleDownLimit. Then it is Current, because the behavior's rate
// limits let Desired lie anywhere between Current and the first result.
func (o HPAObservation) Expected() (want int32, limitedFrom int32) {
	total, _ := o.MetricTotal()
	totalMilli := total * 1000
	if _, exact := o.MetricTotal(); !exact {
		// NOTE: a metric that is not a whole count keeps the upper end of the stored range;
		// KEDA's azure-queue scaler reports whole counts, so this branch is for other scalers.
		totalMilli = o.AverageMilli * int64(o.Current)
	}

	proposal := o.Current
	ratio := float64(totalMilli) / (float64(o.TargetMilli) * float64(o.Current))
	if ratio < 1-o.ToleranceDown || ratio > 1+o.ToleranceUp {
		proposal = int32(math.Ceil(float64(totalMilli) / float64(o.TargetMilli)))
	}
	want = min(max(proposal, o.Min), o.Max)

	limitedFrom = want
	if o.ScalingLimited && (o.LimitedReason == "ScaleUpLimit" || o.LimitedReason == "ScaleDownLimit") {
		limitedFrom = o.Current
	}
	return want, limitedFrom
}

// Check returns nil when Desired agrees with the formula, else an error that shows the numbers.
// It must only be called on a Checkable observation.
func (o HPAObservation) Check() error {
	want, limitedFrom := o.Expected()
	low, high := min(want, limitedFrom), max(want, limitedFrom)
	if o.Desired >= low && o.Desired <= high {
		return nil
	}
	total, _ := o.MetricTotal()
	return fmt.Errorf("HPA at %s (resourceVersion %s): desired %d replicas, expected %s from a queue count of %d, queueLength %s, current %d, bounds [%d, %d], ScalingLimited=%t %s",
		o.Time.Format("15:04:05"), o.ResourceVersion, o.Desired, expectedText(low, high), total,
		milliText(o.TargetMilli), o.Current, o.Min, o.Max, o.ScalingLimited, o.LimitedReason)
}

// String formats the observation as one line of the failure report.
func (o HPAObservation) String() string {
	total, _ := o.MetricTotal()
	return fmt.Sprintf("%s  rv=%s  current=%d desired=%d bounds=[%d,%d] count=%d queueLength=%s active=%t limited=%t %s",
		o.Time.Format("15:04:05"), o.ResourceVersion, o.Current, o.Desired, o.Min, o.Max, total,
		milliText(o.TargetMilli), o.ScalingActive, o.ScalingLimited, o.LimitedReason)
}

func expectedText(low, high int32) string {
	if low == high {
		return fmt.Sprint(low)
	}
	return fmt.Sprintf("%d..%d (rate-limited by the HPA behavior)", low, high)
}

func milliText(milli int64) string {
	if milli%1000 == 0 {
		return fmt.Sprint(milli / 1000)
	}
	return fmt.Sprintf("%dm", milli)
}
