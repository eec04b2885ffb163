package status

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Point is one line of a Timeline: the numbers of a Snapshot that show scaling.
type Point struct {
	Time time.Time
	// Depth is the queue's approximate message count, -1 when unknown.
	Depth int64
	// Desired is the HPA's desired replicas, -1 when there is no HPA.
	Desired int32
	// Replicas is the Deployment's spec.replicas, -1 when there is no Deployment.
	Replicas int32
	// Ready is the Deployment's ready replicas, -1 when there is no Deployment.
	Ready int32
	// Active is the ScaledObject's Active condition status, "" when unknown.
	Active string
	// Nodes and NodeClaims belong to the release's NodePool, -1 when there is none.
	Nodes      int
	NodeClaims int
	// Errors are the snapshot's read errors, joined.
	Errors string
}

// PointOf extracts the timeline numbers from s.
func PointOf(s Snapshot) Point {
	point := Point{
		Time:       s.Time,
		Depth:      s.Queue.Depth,
		Desired:    -1,
		Replicas:   -1,
		Ready:      -1,
		Active:     s.ScaledObject.Active.Status,
		Nodes:      -1,
		NodeClaims: -1,
		Errors:     strings.Join(s.Errors(), "; "),
	}
	if s.HPA.Found {
		point.Desired = s.HPA.DesiredReplicas
	}
	if s.Deployment.Found {
		point.Replicas = s.Deployment.Replicas
		point.Ready = s.Deployment.Ready
	}
	if s.NodePool.Found {
		point.Nodes = s.NodePool.Nodes
		point.NodeClaims = s.NodePool.NodeClaims
	}
	return point
}

// TimelineHeader is the column header that Point.String lines up with.
const TimelineHeader = "TIME      DEPTH  ACTIVE  DESIRED  REPLICAS  READY  NODES  NODECLAIMS"

// String formats p as one line under TimelineHeader; unknown numbers print as "-", and read
// errors follow after "!".
func (p Point) String() string {
	return p.Line(nil)
}

// Line formats p like String, but when previous has the same read errors it prints "! (same
// errors)" in their place, so a watch that fails the same way every poll stays readable.
func (p Point) Line(previous *Point) string {
	active := p.Active
	if active == "" {
		active = "-"
	}
	line := fmt.Sprintf("%-8s  %5s  %-6s  %7s  %8s  %5s  %5s  %10s",
		p.Time.Format("15:04:05"), number(p.Depth), active, number(int64(p.Desired)),
		number(int64(p.Replicas)), number(int64(p.Ready)), number(int64(p.Nodes)), number(int64(p.NodeClaims)))
	switch {
	case p.Errors == "":
	case previous != nil && previous.Errors == p.Errors:
		line += "  ! (same errors)"
	default:
		line += "  ! " + p.Errors
	}
	return line
}

func number(value int64) string {
	if value < 0 {
		return "-"
	}
	return fmt.Sprint(value)
}

// Timeline records Points in order. It is safe for concurrent use, so a test can record from a
// watch goroutine and print from the test goroutine. The zero value is ready to use.
type Timeline struct {
	mu     sync.Mutex
	points []Point
}

// Add records the point of s and returns it.
func (t *Timeline) Add(s Snapshot) Point {
	point := PointOf(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.points = append(t.points, point)
	return point
}

// Points returns a copy of the recorded points.
func (t *Timeline) Points() []Point {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Point(nil), t.points...)
}

// Last returns the newest point and whether there is one.
func (t *Timeline) Last() (Point, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.points) == 0 {
		return Point{}, false
	}
	return t.points[len(t.points)-1], true
}

// String returns the header and one line per point.
func (t *Timeline) String() string {
	var b strings.Builder
	_, _ = t.WriteTo(&b)
	return b.String()
}

// WriteTo writes the header and one line per point to w.
func (t *Timeline) WriteTo(w io.Writer) (int64, error) {
	points := t.Points()
	var written int64
	n, err := fmt.Fprintln(w, TimelineHeader)
	written += int64(n)
	if err != nil {
		return written, err
	}
	for i, point := range points {
		var previous *Point
		if i > 0 {
			previous = &points[i-1]
		}
		n, err := fmt.Fprintln(w, point.Line(previous))
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
