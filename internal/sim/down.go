package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

// stopGrace is how long a host process gets between SIGTERM and SIGKILL. The pod runner gets
// longer, because it first stops its consumer processes, each with its pod's grace period
// (the kubelet's default is 30s).
var stopGrace = map[string]time.Duration{"pod-runner": 45 * time.Second}

const defaultStopGrace = 10 * time.Second

// Down stops every process that Up started, newest first, copies the control plane's logs into
// the log directory and deletes the kwokctl cluster. It keeps the logs and removes the process
// records, the kubeconfig and the connection string file. Down on a stopped cluster does
// nothing and returns nil.
func (c *Cluster) Down(ctx context.Context) error {
	var errs []error

	// The Azurite server is the helper's child. Its pid is read before the helper stops, so a
	// server left behind by a killed helper is stopped too.
	azuriteEndpoints, _ := c.readAzuriteEndpoints()

	records, err := proc.ReadRecords(c.runDir())
	if err != nil {
		errs = append(errs, err)
	}
	slices.Reverse(records)
	for _, rec := range records {
		grace, ok := stopGrace[rec.Name]
		if !ok {
			grace = defaultStopGrace
		}
		if rec.Alive() {
			fmt.Fprintf(c.progress, "stop     %s (pid %d)\n", rec.Name, rec.PID)
		}
		if err := rec.Stop(ctx, grace); err != nil {
			errs = append(errs, err)
			continue
		}
		c.logger.Info("process stopped", "component", rec.Name, "pid", rec.PID)
		if err := rec.Remove(c.runDir()); err != nil {
			errs = append(errs, err)
		}
	}

	if azuriteEndpoints != nil && azuriteRunning(azuriteEndpoints.PID) {
		fmt.Fprintf(c.progress, "stop     azurite-server (pid %d)\n", azuriteEndpoints.PID)
		if err := proc.Stop(ctx, "azurite-server", azuriteEndpoints.PID, "", defaultStopGrace); err != nil {
			errs = append(errs, err)
		}
	}

	if err := c.deleteControlPlane(ctx); err != nil {
		errs = append(errs, err)
	}

	for _, path := range []string{
		c.KubeconfigPath(), c.ConnectionStringPath(), c.azuriteInfoPath(), c.summaryPath(),
		filepath.Join(c.runDir(), "pod-runner.ready"),
	} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", path, err))
		}
	}
	if len(errs) == 0 {
		fmt.Fprintf(c.progress, "simulated cluster down; logs kept in %s\n", c.LogDir())
	}
	return errors.Join(errs...)
}

// deleteControlPlane copies kwokctl's component logs out, runs `kwokctl delete cluster` and
// then makes sure that every pid kwokctl recorded is gone.
func (c *Cluster) deleteControlPlane(ctx context.Context) error {
	logFile, err := os.OpenFile(filepath.Join(c.LogDir(), "kwokctl.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open kwokctl log: %w", err)
	}
	defer logFile.Close()

	cluster := c.kwokctlCluster(logFile)
	if !cluster.Exists() {
		return nil
	}
	components, err := cluster.Components()
	if err != nil {
		return err
	}
	if err := cluster.CopyLogs(c.controlPlaneLogDir()); err != nil {
		return err
	}

	var errs []error
	if c.binaries != nil {
		fmt.Fprintf(c.progress, "stop     control plane (kwokctl delete cluster %s)\n", c.name)
		if err := cluster.Delete(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// NOTE: kwokctl stops its processes by the pids it recorded. Any left over (kwokctl
	// failed, or no kwokctl binary was available) are stopped here by the same pids.
	for _, comp := range components {
		if err := proc.Stop(ctx, comp.Name, comp.PID, comp.Binary, defaultStopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(c.kwokWorkDir()); err != nil {
			errs = append(errs, fmt.Errorf("remove kwokctl work directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// aliveProcesses returns the names of recorded processes that still run.
func (c *Cluster) aliveProcesses() ([]string, error) {
	records, err := proc.ReadRecords(c.runDir())
	if err != nil {
		return nil, err
	}
	var alive []string
	for _, rec := range records {
		if rec.Alive() {
			alive = append(alive, rec.Name)
		}
	}
	components, err := c.kwokctlCluster(nil).Components()
	if err != nil {
		return nil, err
	}
	for _, comp := range components {
		if comp.Alive() {
			alive = append(alive, comp.Name)
		}
	}
	return alive, nil
}

// hasState reports whether an earlier Up left records or a kwokctl cluster behind.
func (c *Cluster) hasState() bool {
	records, _ := proc.ReadRecords(c.runDir())
	if len(records) > 0 {
		return true
	}
	_, err := os.Stat(filepath.Join(c.kwokWorkDir(), "clusters", c.name))
	return err == nil
}
