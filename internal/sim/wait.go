package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aks-edw/aks-edw/internal/sim/kwokctl"
	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

// readyPollInterval is how often a starting component is checked.
const readyPollInterval = 500 * time.Millisecond

// readyCheck reports whether a component is ready. An error stops the wait.
type readyCheck func(ctx context.Context) (bool, error)

// waitReady polls check until it reports ready, the process exits or the ready timeout passes.
// The error includes the end of the process's log.
func (c *Cluster) waitReady(ctx context.Context, rec *proc.Record, description string, check readyCheck) error {
	err := wait.PollUntilContextTimeout(ctx, readyPollInterval, c.readyTimeout, true, func(ctx context.Context) (bool, error) {
		if !rec.Alive() {
			return false, errProcessExited
		}
		return check(ctx)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errProcessExited):
		return fmt.Errorf("%s (pid %d) exited while starting; end of %s:\n%s", rec.Name, rec.PID, rec.Log, logTail(rec.Log, 25))
	case ctx.Err() != nil:
		return fmt.Errorf("waiting for %s: %w", description, context.Cause(ctx))
	default:
		return fmt.Errorf("%s not ready within %s (%v); end of %s:\n%s", description, c.readyTimeout, err, rec.Log, logTail(rec.Log, 25))
	}
}

var errProcessExited = errors.New("process exited")

// apiServerReadyTimeout bounds the check after kwokctl returns, which has waited already.
const apiServerReadyTimeout = 30 * time.Second

// waitAPIServer waits until the API server returns 200 from /readyz.
func (c *Cluster) waitAPIServer(ctx context.Context, config *rest.Config, cluster *kwokctl.Cluster) error {
	client, err := kubernetes.NewForConfig(withTimeout(config, 5*time.Second))
	if err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, readyPollInterval, apiServerReadyTimeout, true, func(ctx context.Context) (bool, error) {
		_, lastErr = client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return lastErr == nil, nil
	})
	if err == nil {
		return nil
	}
	log := cluster.ComponentLog("kube-apiserver")
	return fmt.Errorf("kube-apiserver at %s not ready (%v); end of %s:\n%s", config.Host, lastErr, log, logTail(log, 15))
}

func withTimeout(config *rest.Config, timeout time.Duration) *rest.Config {
	c := rest.CopyConfig(config)
	c.Timeout = timeout
	return c
}

// httpOK checks that GET url returns status 200.
func httpOK(url string) readyCheck {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}
}

var apiServiceResource = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// apiServiceAvailable checks the APIService's Available condition, which the aggregator sets
// once it reaches the backing server.
func apiServiceAvailable(config *rest.Config, name string) readyCheck {
	return func(ctx context.Context) (bool, error) {
		available, _, err := apiServiceCondition(ctx, config, name)
		if err != nil {
			return false, nil
		}
		return available, nil
	}
}

// apiServiceCondition returns whether the APIService is Available, and the condition's message.
func apiServiceCondition(ctx context.Context, config *rest.Config, name string) (bool, string, error) {
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return false, "", err
	}
	obj, err := client.Resource(apiServiceResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, "", err
	}
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		condition, ok := c.(map[string]any)
		if !ok || condition["type"] != "Available" {
			continue
		}
		message, _ := condition["message"].(string)
		return condition["status"] == "True", message, nil
	}
	return false, "no Available condition yet", nil
}

// requireLoopback rejects an API server URL whose host is not a loopback address.
func requireLoopback(server string) error {
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("invalid API server URL %q: %w", server, err)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return fmt.Errorf("API server %s is not on a loopback address; the simulated cluster must listen on 127.0.0.1 only", server)
}

// logTail returns the last n lines of a log file.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
