// Tests of the demonstration's pieces that need no cluster: the configuration checks, the
// milestone tracker that reads the live timeline, and the summary. `make demo` runs the whole
// demonstration against the simulated cluster.
package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/status"
)

func TestValidateRejectsInvalidFlags(t *testing.T) {
	valid := DefaultConfig()
	valid.RepoRoot = "/repo"
	valid.HelperCommand = []string{"/bin/edwctl", "sim"}
	require.NoError(t, valid.Validate())

	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no messages", func(c *Config) { c.Messages = 0 }, "--messages 0"},
		{"zero queue length", func(c *Config) { c.QueueLength = 0 }, "--queue-length 0"},
		{"negative max replicas", func(c *Config) { c.MaxReplicas = -1 }, "--max-replicas -1"},
		{"zero interval", func(c *Config) { c.Interval = 0 }, "--interval 0s"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "--timeout 0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.change(&cfg)

			err := cfg.Validate()

			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, config.IsUsage(err), "a flag error is a usage error (exit status 2)")
		})
	}
}

// point builds a timeline point seconds after start.
func point(start time.Time, seconds int, depth int64, replicas, ready int32, nodes, claims int) status.Point {
	return status.Point{Time: start.Add(time.Duration(seconds) * time.Second), Depth: depth,
		Desired: replicas, Replicas: replicas, Ready: ready, Nodes: nodes, NodeClaims: claims}
}

func TestTrackerFollowsOneScalingCycle(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tracker := newTracker(start)
	tracker.burstSent = true

	steps := []struct {
		point    status.Point
		reached  int
		atRest   bool
		contains string
	}{
		{point(start, 2, 1500, 0, 0, 0, 0), 0, false, ""},
		{point(start, 4, 3000, 1, 0, 0, 0), 1, false, "activated"},
		{point(start, 6, 2900, 1, 1, 1, 1), 2, false, "NodeClaim"},
		{point(start, 20, 1200, 5, 5, 2, 2), 0, false, ""},
		{point(start, 30, 0, 5, 5, 2, 2), 1, false, "queue is empty"},
		{point(start, 40, 0, 0, 0, 2, 2), 1, false, "back to 0"},
		{point(start, 70, 0, 0, 0, 0, 0), 1, true, "removed the empty nodes"},
	}
	for _, step := range steps {
		reached := tracker.observe(step.point)

		assert.Len(t, reached, step.reached, "milestones at %s", step.point.Time.Format("15:04:05"))
		assert.Equal(t, step.atRest, tracker.atRest())
		if step.contains != "" {
			assert.Contains(t, strings.Join(reached, "\n"), step.contains)
		}
	}

	var summary Summary
	tracker.fill(&summary)
	assert.Equal(t, 4*time.Second, summary.Activated)
	assert.Equal(t, 30*time.Second, summary.Drained)
	assert.Equal(t, 70*time.Second, summary.NodesRemoved)
	assert.Equal(t, int32(5), summary.PeakReplicas)
	assert.Equal(t, 2, summary.PeakNodes)
}

func TestTrackerWaitsForTheBurstBeforeDrained(t *testing.T) {
	start := time.Now()
	tracker := newTracker(start)
	tracker.observe(point(start, 1, 10, 1, 1, 1, 1))

	// An empty queue while the producer still sends is not the end of the burst.
	reached := tracker.observe(point(start, 2, 0, 1, 1, 1, 1))

	assert.Empty(t, reached)
	assert.Zero(t, tracker.drained)
}

func TestSummaryShowsMismatchAndUnreachedMilestones(t *testing.T) {
	summary := Summary{Messages: 10, Sent: 10, Rows: 9, Poison: 1, Activated: 3 * time.Second, Total: time.Minute}
	var out strings.Builder

	_, err := summary.WriteTo(&out)

	require.NoError(t, err)
	assert.Contains(t, out.String(), "9 rows added for 10 messages sent (MISMATCH); poison queue 1")
	assert.Contains(t, out.String(), "not reached (queue empty)")
	assert.Contains(t, out.String(), "+3s after the burst started")
}
