package demo

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/status"
	"github.com/aks-edw/aks-edw/src/producer/producer"
)

// heartbeat is the longest the live view stays silent while nothing changes.
const heartbeat = 10 * time.Second

// burstAndWatch waits for the release to rest at zero, sends the burst in the background and
// prints the live view until the release is back at rest: queue empty, Deployment at zero
// replicas, no NodePool nodes.
func (r *runner) burstAndWatch(ctx context.Context) error {
	collector, err := status.NewCollector(
		status.WithKubeconfig(kubeconfig.Source{Path: r.simInfo.Kubeconfig}),
		status.WithRelease(Namespace, ReleaseName),
		status.WithQueueReader(status.ServiceQueueReader{Client: r.clients.Queues}),
		status.WithQueueNames(QueueName, QueueName+"-poison"),
		status.WithLogger(r.logger),
	)
	if err != nil {
		return err
	}
	if err := r.waitForRest(ctx, collector); err != nil {
		return err
	}

	watchCtx, stopWatch := context.WithTimeout(ctx, r.cfg.Timeout)
	defer stopWatch()
	tracker := newTracker(time.Now())
	burst := make(chan error, 1)
	go func() { burst <- r.sendBurst(watchCtx) }()

	fmt.Fprintf(r.out, "sending %d messages to queue %s; live view every %s (ScaledObject queueLength %d, maxReplicaCount %d)\n\n",
		r.cfg.Messages, QueueName, r.cfg.Interval, r.cfg.QueueLength, r.cfg.MaxReplicas)
	fmt.Fprintln(r.out, status.TimelineHeader)
	view := liveView{out: r.out}
	var burstErr error
	burstOver := false
	watchErr := collector.Watch(watchCtx, r.cfg.Interval, func(snapshot status.Snapshot) {
		if !burstOver {
			select {
			case burstErr = <-burst:
				burstOver = true
				tracker.burstSent = burstErr == nil
				view.note(fmt.Sprintf("burst sent: %d messages in %s", r.summary.Sent, r.summary.ProduceTime.Round(100*time.Millisecond)))
				if burstErr != nil {
					stopWatch()
					return
				}
			default:
			}
		}
		point := status.PointOf(snapshot)
		view.show(point)
		for _, milestone := range tracker.observe(point) {
			view.note(milestone)
		}
		if tracker.atRest() {
			stopWatch()
		}
	})
	stopWatch()
	if !burstOver {
		burstErr = <-burst
	}
	tracker.fill(&r.summary)

	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case burstErr != nil:
		return burstErr
	case !tracker.atRest():
		return fmt.Errorf("the release did not return to rest within --timeout %s (%v); the last line above shows where it stopped", r.cfg.Timeout, watchErr)
	}
	return nil
}

// waitForRest waits until the new Deployment is at zero replicas with no NodePool nodes: it is
// created with one replica, which KEDA's first poll scales to zero.
func (r *runner) waitForRest(ctx context.Context, collector *status.Collector) error {
	fmt.Fprintln(r.out, "waiting for KEDA to scale the new Deployment to zero and for the NodePool to be empty")
	deadline := time.Now().Add(r.cfg.Timeout)
	for {
		snapshot := collector.Snapshot(ctx)
		point := status.PointOf(snapshot)
		if snapshot.Deployment.Found && point.Replicas == 0 && point.Nodes <= 0 && point.NodeClaims <= 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the release did not come to rest within --timeout %s: %s", r.cfg.Timeout, point)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(r.cfg.Interval):
		}
	}
}

// sendBurst sends the burst with the producer library and records what it sent.
func (r *runner) sendBurst(ctx context.Context) error {
	cfg := config.DefaultProducer()
	cfg.Storage = r.clients.Names()
	cfg.TableName = ""
	cfg.Count = r.cfg.Messages
	cfg.Encoding = message.Text
	result, err := producer.Run(ctx, cfg, r.clients, producer.WithLogger(r.logger))
	r.summary.Sent = result.Sent
	r.summary.ProduceTime = result.Duration
	if err != nil {
		return fmt.Errorf("send the burst: %w", err)
	}
	if result.Errors > 0 || result.Sent != int64(r.cfg.Messages) {
		return fmt.Errorf("send the burst: %s", result)
	}
	return nil
}

// liveView prints timeline lines: each line that differs from the last one printed, and an
// unchanged line at least every heartbeat.
type liveView struct {
	out         io.Writer
	previous    *status.Point
	lastPrinted time.Time
}

func (v *liveView) show(point status.Point) {
	if v.previous != nil && samePoint(*v.previous, point) && point.Time.Sub(v.lastPrinted) < heartbeat {
		return
	}
	fmt.Fprintln(v.out, point.Line(v.previous))
	v.previous = &point
	v.lastPrinted = point.Time
}

// note prints a milestone under the timeline.
func (v *liveView) note(text string) {
	fmt.Fprintf(v.out, "          ^ %s\n", text)
}

// samePoint reports whether two points show the same numbers, whatever their times.
func samePoint(a, b status.Point) bool {
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

// tracker follows the scaling cycle through the timeline points and records when each
// milestone was first seen, measured from the start of the burst.
type tracker struct {
	start     time.Time
	burstSent bool

	activated, firstReady, firstNodeClaim, drained, scaledIn, nodesRemoved time.Duration

	peakDesired, peakReplicas, peakReady int32
	peakNodes, peakNodeClaims            int
}

func newTracker(start time.Time) *tracker { return &tracker{start: start} }

// observe records point and returns the milestones it reached, in words.
func (t *tracker) observe(point status.Point) []string {
	since := point.Time.Sub(t.start)
	t.peakDesired = max(t.peakDesired, point.Desired)
	t.peakReplicas = max(t.peakReplicas, point.Replicas)
	t.peakReady = max(t.peakReady, point.Ready)
	t.peakNodes = max(t.peakNodes, point.Nodes)
	t.peakNodeClaims = max(t.peakNodeClaims, point.NodeClaims)

	var reached []string
	mark := func(at *time.Duration, condition bool, text string) {
		if *at == 0 && condition {
			*at = max(since, time.Millisecond)
			reached = append(reached, fmt.Sprintf("+%s %s", since.Round(time.Second), text))
		}
	}
	mark(&t.activated, point.Replicas > 0, "KEDA activated the ScaledObject and scaled the Deployment from 0")
	mark(&t.firstNodeClaim, point.NodeClaims > 0, "Karpenter created a NodeClaim for the Pending consumer pods")
	mark(&t.firstReady, point.Ready > 0, "the first consumer pod is Ready and its consumer process drains the queue")
	mark(&t.drained, t.activated > 0 && t.burstSent && point.Depth == 0, "the queue is empty")
	mark(&t.scaledIn, t.drained > 0 && point.Replicas == 0 && point.Ready <= 0, "after the cooldown KEDA scaled the Deployment back to 0")
	mark(&t.nodesRemoved, t.scaledIn > 0 && point.Nodes <= 0 && point.NodeClaims <= 0, "Karpenter removed the empty nodes (consolidation)")
	return reached
}

// atRest reports whether the cycle is complete: drained, scaled in and the nodes removed.
func (t *tracker) atRest() bool { return t.nodesRemoved > 0 }

// fill copies the milestones and peaks into s.
func (t *tracker) fill(s *Summary) {
	s.Activated, s.FirstNodeClaim, s.FirstReady = t.activated, t.firstNodeClaim, t.firstReady
	s.Drained, s.ScaledIn, s.NodesRemoved = t.drained, t.scaledIn, t.nodesRemoved
	s.PeakDesired, s.PeakReplicas, s.PeakReady = t.peakDesired, t.peakReplicas, t.peakReady
	s.PeakNodes, s.PeakNodeClaims = t.peakNodes, t.peakNodeClaims
}
