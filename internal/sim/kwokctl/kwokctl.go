// Package kwokctl creates and deletes the simulated control plane with kwokctl's binary
// runtime: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok
// controller run as host processes on 127.0.0.1, from locally built binaries, in a work
// directory of their own (KWOK_WORKDIR).
package kwokctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

// adminCommonName is the CN of the client certificate kwokctl v0.8 generates for the admin
// kubeconfig and every control-plane component (pkg/kwokctl/pki DefaultUser).
const adminCommonName = "kwok-admin"

// Binaries are the local executables the cluster runs.
type Binaries struct {
	Kwokctl               string
	Kwok                  string
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Kubectl               string
}

// Cluster is one kwokctl cluster in its own work directory.
type Cluster struct {
	name     string
	workDir  string
	binaries Binaries
	output   io.Writer
	timeout  time.Duration
}

// Option configures a Cluster.
type Option func(*Cluster)

// WithOutput sets where kwokctl's own output goes. The default discards it.
func WithOutput(w io.Writer) Option {
	return func(c *Cluster) {
		if w != nil {
			c.output = w
		}
	}
}

// WithReadyTimeout bounds `create cluster`'s wait for the cluster to become ready (default 3m).
func WithReadyTimeout(d time.Duration) Option { return func(c *Cluster) { c.timeout = d } }

// New returns a Cluster named name whose kwokctl state lives in workDir.
func New(name, workDir string, binaries Binaries, opts ...Option) *Cluster {
	c := &Cluster{name: name, workDir: workDir, binaries: binaries, output: io.Discard, timeout: 3 * time.Minute}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// clusterDir returns the directory where kwokctl keeps this cluster: its config, pki,
// kubeconfig, pids and logs.
func (c *Cluster) clusterDir() string { return filepath.Join(c.workDir, "clusters", c.name) }

// KubeconfigPath returns the kubeconfig kwokctl writes for clients on this host.
func (c *Cluster) KubeconfigPath() string { return filepath.Join(c.clusterDir(), "kubeconfig.yaml") }

// configuration renders the KwokctlConfiguration. kwokctl's default bind address is 0.0.0.0;
// every component here listens on 127.0.0.1 only.
func (c *Cluster) configuration() ([]byte, error) {
	config := map[string]any{
		"apiVersion": "config.kwok.x-k8s.io/v1alpha1",
		"kind":       "KwokctlConfiguration",
		"options": map[string]any{
			"runtime":                     "binary",
			"bindAddress":                 "127.0.0.1",
			"securePort":                  true,
			"kubeAuthorization":           true,
			"kubeAdmission":               true,
			"kwokControllerBinary":        c.binaries.Kwok,
			"etcdBinary":                  c.binaries.Etcd,
			"kubeApiserverBinary":         c.binaries.KubeAPIServer,
			"kubeControllerManagerBinary": c.binaries.KubeControllerManager,
			"kubeSchedulerBinary":         c.binaries.KubeScheduler,
			"kubectlBinary":               c.binaries.Kubectl,
			"cacheDir":                    filepath.Join(c.workDir, "cache"),
		},
		// kwokctl gives the aggregator a client certificate (--proxy-client-cert-file) but no
		// request-header CA, so an aggregated API server such as KEDA's metrics adapter would
		// see every request as the proxy's own user. With the CA set, the API server publishes
		// it in kube-system/extension-apiserver-authentication and the adapter authenticates
		// the original caller from the X-Remote-* headers, as in a kubeadm or AKS cluster.
		// NOTE: kwokctl signs one certificate, CN kwok-admin, for every component and the
		// proxy, so the allowed name is that CN; the API server refuses an empty list when the
		// request-header CA is also the client CA.
		"componentsPatches": []any{map[string]any{
			"name": "kube-apiserver",
			"extraArgs": []any{
				map[string]any{"key": "requestheader-client-ca-file", "value": filepath.Join(c.clusterDir(), "pki", "ca.crt")},
				map[string]any{"key": "requestheader-allowed-names", "value": adminCommonName},
				map[string]any{"key": "requestheader-username-headers", "value": "X-Remote-User"},
				map[string]any{"key": "requestheader-group-headers", "value": "X-Remote-Group"},
				map[string]any{"key": "requestheader-extra-headers-prefix", "value": "X-Remote-Extra-"},
			},
		}},
	}
	return yaml.Marshal(config)
}

// Create writes the configuration and runs `kwokctl create cluster`, which returns once the
// control plane is ready. The processes keep running after Create returns.
func (c *Cluster) Create(ctx context.Context) error {
	if err := os.MkdirAll(c.workDir, 0o755); err != nil {
		return fmt.Errorf("create kwokctl work directory: %w", err)
	}
	config, err := c.configuration()
	if err != nil {
		return fmt.Errorf("render kwokctl configuration: %w", err)
	}
	configPath := filepath.Join(c.workDir, "kwokctl.yaml")
	if err := os.WriteFile(configPath, config, 0o644); err != nil {
		return fmt.Errorf("write kwokctl configuration: %w", err)
	}
	return c.run(ctx, "create", "cluster", "--config", configPath, "--kubeconfig", c.contextsPath(),
		"--wait", c.timeout.String(), "--timeout", c.timeout.String())
}

// Delete runs `kwokctl delete cluster`, which stops the processes and removes the cluster
// directory, logs included. Copy the logs first with CopyLogs.
func (c *Cluster) Delete(ctx context.Context) error {
	if _, err := os.Stat(c.clusterDir()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return c.run(ctx, "delete", "cluster", "--kubeconfig", c.contextsPath())
}

// contextsPath is the kubeconfig that kwokctl adds the cluster's context to on create and
// removes it from on delete. It is a file of its own so that ~/.kube/config, kwokctl's
// default, is never changed.
func (c *Cluster) contextsPath() string { return filepath.Join(c.workDir, "contexts.kubeconfig") }

// Exists reports whether kwokctl has state for the cluster.
func (c *Cluster) Exists() bool {
	_, err := os.Stat(c.clusterDir())
	return err == nil
}

func (c *Cluster) run(ctx context.Context, args ...string) error {
	args = append(args, "--name", c.name)
	cmd := exec.CommandContext(ctx, c.binaries.Kwokctl, args...)
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+c.workDir)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(c.output, &out)
	cmd.Stderr = io.MultiWriter(c.output, &out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kwokctl %s: %w\n%s", strings.Join(args, " "), err, lastLines(out.String(), 20))
	}
	return nil
}

// Component is one control-plane process that kwokctl started.
type Component struct {
	Name string
	PID  int
	// Binary is the executable kwokctl runs, a copy or link in its work directory.
	Binary string
	Log    string
}

// Alive reports whether the component's process still runs its binary.
func (c Component) Alive() bool { return proc.Running(c.PID, c.Binary) }

// Components lists the processes kwokctl recorded in its pid files.
func (c *Cluster) Components() ([]Component, error) {
	pidDir := filepath.Join(c.clusterDir(), "pids")
	entries, err := os.ReadDir(pidDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read kwokctl pid files: %w", err)
	}
	var components []Component
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".pid")
		if name == e.Name() {
			continue
		}
		pid, err := proc.ReadPIDFile(filepath.Join(pidDir, e.Name()))
		if err != nil {
			return nil, err
		}
		components = append(components, Component{
			Name:   name,
			PID:    pid,
			Binary: filepath.Join(c.clusterDir(), "bin", name),
			Log:    filepath.Join(c.clusterDir(), "logs", name+".log"),
		})
	}
	return components, nil
}

// ComponentLog returns the log file of a control-plane component, for example "kube-apiserver".
func (c *Cluster) ComponentLog(name string) string {
	return filepath.Join(c.clusterDir(), "logs", name+".log")
}

// CopyLogs copies the component logs into dir, because `kwokctl delete cluster` removes them.
func (c *Cluster) CopyLogs(dir string) error {
	logDir := filepath.Join(c.clusterDir(), "logs")
	entries, err := os.ReadDir(logDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read kwokctl logs: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create log directory: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(logDir, e.Name()))
		if err != nil {
			return fmt.Errorf("copy kwokctl log %s: %w", e.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			return fmt.Errorf("copy kwokctl log %s: %w", e.Name(), err)
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
