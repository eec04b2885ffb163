package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

// readAzuriteEndpoints reads the endpoints that ServeAzurite wrote.
func (c *Cluster) readAzuriteEndpoints() (*AzuriteEndpoints, error) {
	data, err := os.ReadFile(c.azuriteInfoPath())
	if err != nil {
		return nil, err
	}
	var endpoints AzuriteEndpoints
	if err := json.Unmarshal(data, &endpoints); err != nil {
		return nil, fmt.Errorf("parse %s: %w", c.azuriteInfoPath(), err)
	}
	return &endpoints, nil
}

// azuriteRunning reports whether pid is a live process whose command line names Azurite. Its
// executable is Node, so the binary check of package proc does not apply.
func azuriteRunning(pid int) bool {
	if !proc.Running(pid, "") {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmdline), "azurite")
}

// ServeAzurite runs Azurite for the cluster in stateDir until ctx is cancelled: it writes the
// endpoints to azurite.json and the connection string to a file readable by the owner only,
// then waits. `edwctl sim azurite` calls it in a detached process, because package azurite
// stops Azurite when the process that started it exits.
func ServeAzurite(ctx context.Context, stateDir string, logger *slog.Logger) error {
	c := New(stateDir)
	server, err := azurite.Start(ctx, azurite.WithDataDir(filepath.Join(stateDir, "azurite")))
	if err != nil {
		return err
	}
	defer func() {
		if err := server.Stop(); err != nil {
			logger.Error("stopping Azurite failed", "pid", server.PID(), "error", err)
		}
		_ = os.Remove(c.ConnectionStringPath())
		_ = os.Remove(c.azuriteInfoPath())
	}()

	// The connection string carries the development account key, which is public, but it is
	// still handled as a secret: written with mode 0600 and never logged.
	if err := os.WriteFile(c.ConnectionStringPath(), []byte(server.ConnectionString()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write connection string file: %w", err)
	}
	info, err := json.MarshalIndent(AzuriteEndpoints{
		Blob:  server.BlobEndpoint,
		Queue: server.QueueEndpoint,
		Table: server.TableEndpoint,
		PID:   server.PID(),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode Azurite endpoints: %w", err)
	}
	// NOTE: written last and renamed into place, because Up treats the file's presence as ready.
	tmp := c.azuriteInfoPath() + ".tmp"
	if err := os.WriteFile(tmp, info, 0o644); err != nil {
		return fmt.Errorf("write Azurite endpoints: %w", err)
	}
	if err := os.Rename(tmp, c.azuriteInfoPath()); err != nil {
		return fmt.Errorf("write Azurite endpoints: %w", err)
	}
	logger.Info("Azurite running", "pid", server.PID(), "queue", server.QueueEndpoint, "table", server.TableEndpoint)

	select {
	case <-ctx.Done():
		logger.Info("stopping Azurite", "pid", server.PID())
		return nil
	case <-server.Done():
		return fmt.Errorf("azurite (pid %d) exited unexpectedly; see %s", server.PID(), filepath.Join(server.DataDir(), "azurite.log"))
	}
}
