package demo

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the measurements of one demonstration run. Milestone durations count from the
// start of the burst and are zero when the milestone was not reached.
type Summary struct {
	// BuildCached reports that every component was already in the build cache.
	BuildCached bool
	// Build, ClusterStart, Install and Teardown are the durations of those steps.
	Build        time.Duration
	ClusterStart time.Duration
	Install      time.Duration
	Teardown     time.Duration
	// Total is the whole run, from the build to the end of the teardown.
	Total time.Duration

	// Messages is the burst size requested, Sent what the producer sent in ProduceTime.
	Messages    int
	Sent        int64
	ProduceTime time.Duration
	// Rows is the number of rows the burst added to the table and Poison the poison queue's
	// depth after the drain, -1 when not read.
	Rows   int64
	Poison int64

	Activated      time.Duration
	FirstNodeClaim time.Duration
	FirstReady     time.Duration
	Drained        time.Duration
	ScaledIn       time.Duration
	NodesRemoved   time.Duration

	PeakDesired    int32
	PeakReplicas   int32
	PeakReady      int32
	PeakNodes      int
	PeakNodeClaims int
}

// WriteTo writes the summary as an aligned table.
func (s Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	table := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "\nSummary")

	build := "built " + s.Build.Round(time.Second).String()
	if s.BuildCached {
		build = "cached, consumer rebuilt in " + s.Build.Round(100*time.Millisecond).String()
	}
	row(table, "components", build, s.Build > 0)
	row(table, "cluster start", s.ClusterStart.Round(100*time.Millisecond).String(), s.ClusterStart > 0)
	row(table, "chart install", s.Install.Round(100*time.Millisecond).String(), s.Install > 0)
	row(table, "burst", fmt.Sprintf("%d of %d messages sent in %s", s.Sent, s.Messages, s.ProduceTime.Round(100*time.Millisecond)), s.ProduceTime > 0)
	row(table, "activation", milestone(s.Activated, "ScaledObject Active, Deployment 0 -> 1"), true)
	row(table, "first NodeClaim", milestone(s.FirstNodeClaim, "Karpenter provisioned for the Pending pods"), true)
	row(table, "first pod Ready", milestone(s.FirstReady, "a consumer process reads the queue"), true)
	row(table, "peak", fmt.Sprintf("desired %d, replicas %d, ready %d, nodes %d, NodeClaims %d",
		s.PeakDesired, s.PeakReplicas, s.PeakReady, max(s.PeakNodes, 0), max(s.PeakNodeClaims, 0)), s.Activated > 0)
	row(table, "drained", milestone(s.Drained, "queue empty"), true)
	row(table, "rows", fmt.Sprintf("%d rows added for %d messages sent (%s); poison queue %d", s.Rows, s.Sent, rowsVerdict(s.Rows, s.Sent), s.Poison), s.Rows >= 0)
	row(table, "scaled in", milestone(s.ScaledIn, "Deployment back at 0 after the cooldown"), true)
	row(table, "nodes removed", milestone(s.NodesRemoved, "NodePool empty after consolidateAfter"), true)
	row(table, "teardown", s.Teardown.Round(100*time.Millisecond).String(), s.Teardown > 0)
	row(table, "total", s.Total.Round(time.Second).String(), true)
	if err := table.Flush(); err != nil {
		return 0, err
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func row(w io.Writer, name, value string, show bool) {
	if show {
		fmt.Fprintf(w, "  %s\t%s\n", name, value)
	}
}

// milestone formats a time since the burst, or "not reached" when since is zero.
func milestone(since time.Duration, what string) string {
	if since <= 0 {
		return "not reached (" + what + ")"
	}
	return fmt.Sprintf("+%s after the burst started (%s)", since.Round(time.Second), what)
}

func rowsVerdict(rows, sent int64) string {
	if rows == sent {
		return "one row per message"
	}
	return "MISMATCH"
}
