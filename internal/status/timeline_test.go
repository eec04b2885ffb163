// This file tests how snapshots turn into timeline points and text: unknown values print as
// "-", read errors follow the line, the timeline is safe to fill from a watch goroutine, and the
// one-screen status names every part.
package status

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fullSnapshot() Snapshot {
	return Snapshot{
		Time:      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		Release:   "shop",
		Namespace: "edw",
		Queue:     Queue{Name: "orders", PoisonName: "orders-poison", Depth: 120, PoisonDepth: 0, Source: "connection string from the caller"},
		ScaledObject: ScaledObject{
			Name: "shop-consumer", Found: true, MinReplicas: 0, MaxReplicas: 15, HPAName: "keda-hpa-shop-consumer",
			Ready: Condition{Status: "True"}, Active: Condition{Status: "True"}, Paused: Condition{Status: "False"},
		},
		HPA:        HPA{Name: "keda-hpa-shop-consumer", Found: true, MinReplicas: 1, MaxReplicas: 15, CurrentReplicas: 3, DesiredReplicas: 5, Metric: "24 per pod"},
		Deployment: Deployment{Name: "shop-consumer", Found: true, Replicas: 5, Ready: 3, Available: 3, Updated: 5},
		NodePool:   NodePool{Name: "shop", Found: true, Served: true, Nodes: 2, ReadyNodes: 2, NodeClaims: 3, LaunchedNodeClaims: 2},
	}
}

func TestPointOfFullSnapshot(t *testing.T) {
	point := PointOf(fullSnapshot())

	assert.Equal(t, int64(120), point.Depth)
	assert.Equal(t, int32(5), point.Desired)
	assert.Equal(t, int32(5), point.Replicas)
	assert.Equal(t, int32(3), point.Ready)
	assert.Equal(t, 2, point.Nodes)
	assert.Equal(t, 3, point.NodeClaims)
	assert.Equal(t, "True", point.Active)
	assert.Empty(t, point.Errors)
	assert.Equal(t, "15:04:05    120  True          5         5      3      2           3", point.String())
}

func TestPointOfEmptySnapshotPrintsDashes(t *testing.T) {
	snapshot := Snapshot{
		Time:       time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		Queue:      Queue{Depth: -1, PoisonDepth: -1, Err: "no storage account"},
		Deployment: Deployment{Err: "no Deployment"},
	}

	line := PointOf(snapshot).String()

	assert.True(t, strings.HasPrefix(line, "15:04:05      -  -             -         -      -      -           -"), line)
	assert.Contains(t, line, "! queue: no storage account; Deployment: no Deployment")
}

func TestTimelineHeaderLinesUpWithPoints(t *testing.T) {
	line := PointOf(fullSnapshot()).String()
	header := TimelineHeader

	for _, column := range []string{"DEPTH", "DESIRED", "REPLICAS", "READY", "NODES", "NODECLAIMS"} {
		end := strings.Index(header, column) + len(column)
		assert.NotEqual(t, ' ', rune(line[end-1]), "column %s: a right-aligned value ends under the header's last letter", column)
	}
}

func TestTimelineConcurrentAddAndPrint(t *testing.T) {
	var timeline Timeline
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				timeline.Add(fullSnapshot())
				_ = timeline.String()
			}
		}()
	}
	wg.Wait()

	assert.Len(t, timeline.Points(), 200)
	last, ok := timeline.Last()
	require.True(t, ok)
	assert.Equal(t, int64(120), last.Depth)
	assert.Equal(t, 201, strings.Count(timeline.String(), "\n"), "header plus one line per point")
}

func TestTimelineElidesRepeatedErrors(t *testing.T) {
	var timeline Timeline
	failing := Snapshot{Time: time.Now(), Queue: Queue{Depth: -1, Err: "connection refused"}}
	timeline.Add(failing)
	timeline.Add(failing)
	failing.Queue.Err = "403"
	timeline.Add(failing)

	lines := strings.Split(strings.TrimSpace(timeline.String()), "\n")

	require.Len(t, lines, 4)
	assert.Contains(t, lines[1], "! queue: connection refused")
	assert.Contains(t, lines[2], "! (same errors)")
	assert.Contains(t, lines[3], "! queue: 403")
}

func TestTimelineEmpty(t *testing.T) {
	var timeline Timeline
	_, ok := timeline.Last()
	assert.False(t, ok)
	assert.Equal(t, TimelineHeader+"\n", timeline.String())
}

func TestWriteTextNamesEveryPart(t *testing.T) {
	var out bytes.Buffer

	require.NoError(t, WriteText(&out, fullSnapshot()))

	text := out.String()
	assert.Contains(t, text, "release shop in namespace edw")
	assert.Contains(t, text, "120 messages (approximate, visible and invisible), poison queue orders-poison: 0")
	assert.Contains(t, text, "Ready=True  Active=True  Paused=False  replicas 0..15")
	assert.Contains(t, text, "desired 5  current 3  (min 1, max 15)  metric 24 per pod")
	assert.Contains(t, text, "replicas 5  ready 3  available 3  updated 5")
	assert.Contains(t, text, "nodes 2 (2 Ready)  NodeClaims 3 (2 Launched)")
	assert.Contains(t, text, "queue read with connection string from the caller")
	assert.NotContains(t, text, "!")
}

func TestWriteTextShowsErrorsAndMissingParts(t *testing.T) {
	snapshot := Snapshot{
		Time:         time.Now(),
		Queue:        Queue{Name: "orders", Depth: -1, PoisonDepth: -1, Err: "read properties of queue orders: 403"},
		ScaledObject: ScaledObject{Err: "the cluster does not serve keda.sh/v1alpha1 ScaledObject (is KEDA installed?)"},
	}
	var out bytes.Buffer

	require.NoError(t, WriteText(&out, snapshot))

	text := out.String()
	assert.Contains(t, text, "depth unknown")
	assert.Contains(t, text, "not served by this cluster (no Karpenter)")
	assert.Contains(t, text, "! queue: read properties of queue orders: 403")
	assert.Contains(t, text, "! ScaledObject: the cluster does not serve keda.sh/v1alpha1 ScaledObject")
}
