package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes s as one screen of aligned text: one line per part, then the read errors.
func WriteText(w io.Writer, s Snapshot) error {
	fmt.Fprintf(w, "release %s in namespace %s at %s\n\n", s.Release, s.Namespace, s.Time.Format("2006-01-02 15:04:05"))

	table := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(table, "Queue\t%s\t%s\n", orDash(s.Queue.Name), queueLine(s.Queue))
	fmt.Fprintf(table, "ScaledObject\t%s\t%s\n", orDash(s.ScaledObject.Name), scaledObjectLine(s.ScaledObject))
	fmt.Fprintf(table, "HPA\t%s\t%s\n", orDash(s.HPA.Name), hpaLine(s.HPA))
	fmt.Fprintf(table, "Deployment\t%s\t%s\n", orDash(s.Deployment.Name), deploymentLine(s.Deployment))
	fmt.Fprintf(table, "NodePool\t%s\t%s\n", orDash(s.NodePool.Name), nodePoolLine(s.NodePool))
	if err := table.Flush(); err != nil {
		return err
	}

	if errs := s.Errors(); len(errs) > 0 {
		fmt.Fprintln(w)
		for _, err := range errs {
			fmt.Fprintf(w, "! %s\n", err)
		}
	}
	if s.Queue.Source != "" {
		fmt.Fprintf(w, "\nqueue read with %s\n", s.Queue.Source)
	}
	return nil
}

func orDash(value string) string {
	if value == "" {
		return "-"
	}
	return value
}

func queueLine(q Queue) string {
	if q.Depth < 0 {
		return "depth unknown"
	}
	line := fmt.Sprintf("%d messages (approximate, visible and invisible)", q.Depth)
	if q.PoisonDepth >= 0 {
		line += fmt.Sprintf(", poison queue %s: %d", q.PoisonName, q.PoisonDepth)
	}
	return line
}

func scaledObjectLine(so ScaledObject) string {
	if !so.Found {
		return "not found"
	}
	parts := []string{
		"Ready=" + conditionText(so.Ready),
		"Active=" + conditionText(so.Active),
		"Paused=" + conditionText(so.Paused),
	}
	if so.Fallback.IsTrue() {
		parts = append(parts, "Fallback=True")
	}
	parts = append(parts, fmt.Sprintf("replicas %d..%d", so.MinReplicas, so.MaxReplicas))
	line := strings.Join(parts, "  ")
	if !so.Ready.IsTrue() && so.Ready.Message != "" {
		line += "  (" + so.Ready.Message + ")"
	}
	return line
}

func conditionText(c Condition) string {
	if c.Status == "" {
		return "-"
	}
	return c.Status
}

func hpaLine(h HPA) string {
	if !h.Found {
		return "not found"
	}
	line := fmt.Sprintf("desired %d  current %d  (min %d, max %d)", h.DesiredReplicas, h.CurrentReplicas, h.MinReplicas, h.MaxReplicas)
	if h.Metric != "" {
		line += "  metric " + h.Metric
	}
	return line
}

func deploymentLine(d Deployment) string {
	if !d.Found {
		return "not found"
	}
	return fmt.Sprintf("replicas %d  ready %d  available %d  updated %d", d.Replicas, d.Ready, d.Available, d.Updated)
}

func nodePoolLine(n NodePool) string {
	switch {
	case !n.Served:
		return "not served by this cluster (no Karpenter)"
	case !n.Found:
		return "none in this release"
	}
	return fmt.Sprintf("nodes %d (%d Ready)  NodeClaims %d (%d Launched)", n.Nodes, n.ReadyNodes, n.NodeClaims, n.LaunchedNodeClaims)
}
