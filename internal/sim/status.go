package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aks-edw/aks-edw/internal/sim/keda"
	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

// ComponentStatus is one process of the simulated cluster.
type ComponentStatus struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Alive bool   `json:"alive"`
	Log   string `json:"log"`
}

// Status is the state of the simulated cluster as seen from this host.
type Status struct {
	Components []ComponentStatus `json:"components"`
	Kubeconfig string            `json:"kubeconfig,omitempty"`
	// APIReachable is true when the API server returned 200 from /readyz. APIError is the
	// reason when it did not.
	APIReachable bool   `json:"apiReachable"`
	APIError     string `json:"apiError,omitempty"`
	// ExternalMetrics is true when the external metrics APIService is Available.
	ExternalMetrics        bool   `json:"externalMetrics"`
	ExternalMetricsMessage string `json:"externalMetricsMessage,omitempty"`
	// Summary is the record Up wrote, nil when the cluster was never brought up.
	Summary *Summary `json:"summary,omitempty"`
}

// Running reports whether every component is alive and the API server is reachable.
func (s *Status) Running() bool {
	if len(s.Components) == 0 || !s.APIReachable {
		return false
	}
	for _, c := range s.Components {
		if !c.Alive {
			return false
		}
	}
	return true
}

// Status inspects the recorded processes, kwokctl's control-plane processes and the API.
func (c *Cluster) Status(ctx context.Context) (*Status, error) {
	status := &Status{}

	if data, err := os.ReadFile(c.summaryPath()); err == nil {
		var summary Summary
		if err := json.Unmarshal(data, &summary); err != nil {
			return nil, fmt.Errorf("parse %s: %w", c.summaryPath(), err)
		}
		status.Summary = &summary
	}

	components, err := c.kwokctlCluster(nil).Components()
	if err != nil {
		return nil, err
	}
	for _, comp := range components {
		status.Components = append(status.Components, ComponentStatus{
			Name: comp.Name, PID: comp.PID, Alive: comp.Alive(), Log: comp.Log,
		})
	}
	records, err := proc.ReadRecords(c.runDir())
	if err != nil {
		return nil, err
	}
	for _, rec := range records {
		status.Components = append(status.Components, ComponentStatus{
			Name: rec.Name, PID: rec.PID, Alive: rec.Alive(), Log: rec.Log,
		})
	}
	if endpoints, err := c.readAzuriteEndpoints(); err == nil {
		status.Components = append(status.Components, ComponentStatus{
			Name:  "azurite-server",
			PID:   endpoints.PID,
			Alive: azuriteRunning(endpoints.PID),
			Log:   filepath.Join(c.stateDir, "azurite", "azurite.log"),
		})
	}

	if _, err := os.Stat(c.KubeconfigPath()); errors.Is(err, os.ErrNotExist) {
		status.APIError = "no kubeconfig; the cluster is not up"
		return status, nil
	}
	status.Kubeconfig = c.KubeconfigPath()
	config, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		status.APIError = err.Error()
		return status, nil
	}
	config.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		status.APIError = err.Error()
		return status, nil
	}
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		status.APIError = err.Error()
		return status, nil
	}
	status.APIReachable = true
	available, message, err := apiServiceCondition(ctx, config, keda.APIServiceName)
	if err != nil {
		message = err.Error()
	}
	status.ExternalMetrics = available
	status.ExternalMetricsMessage = message
	return status, nil
}
