//go:build e2esim

// This file starts a bare Kubernetes control plane for the installer tests: one etcd and one
// kube-apiserver on loopback. It has Pod Security admission and CRD serving but no controllers,
// so the tests decide which CRDs exist and mark objects ready themselves. Binaries come from the
// simulated cluster's build cache, or from EDW_ETCD and EDW_KUBE_APISERVER.
package installer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/aks-edw/aks-edw/internal/versions"
)

// adminToken authenticates the tests as a member of system:masters through a static token file.
const adminToken = "installer-test-admin"

// controlPlane is a running etcd and kube-apiserver.
type controlPlane struct {
	dir        string
	kubeconfig string
	config     *rest.Config
	processes  []*exec.Cmd
	logs       []string
}

// cacheDir returns EDW_CACHE_DIR or its default, ~/.cache/aks-edw.
func cacheDir() string {
	if dir := os.Getenv("EDW_CACHE_DIR"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "aks-edw")
}

// findBinary returns the first of the environment variable's value and the candidates that
// exists.
func findBinary(envVar string, candidates ...string) (string, error) {
	if path := os.Getenv(envVar); path != "" {
		candidates = append([]string{path}, candidates...)
	}
	for _, candidate := range candidates {
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("none of %s exists: build the simulated cluster's binaries (edwctl sim up builds them) or set %s",
		strings.Join(candidates, ", "), envVar)
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// startControlPlane starts etcd and kube-apiserver in a new temporary folder and waits until the
// API server is ready. stop must be called to end both processes.
func startControlPlane(ctx context.Context) (*controlPlane, error) {
	bin := filepath.Join(cacheDir(), "bin")
	etcd, err := findBinary("EDW_ETCD", filepath.Join(bin, "etcd-"+versions.Etcd, "etcd"))
	if err != nil {
		return nil, err
	}
	apiserver, err := findBinary("EDW_KUBE_APISERVER", filepath.Join(bin, "kubernetes-"+versions.Kubernetes, "kube-apiserver"))
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "edw-installer-test-")
	if err != nil {
		return nil, err
	}
	plane := &controlPlane{dir: dir}
	ok := false
	defer func() {
		if !ok {
			plane.stop()
		}
	}()

	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if err := plane.start("etcd", etcd,
		"--name=installer-test",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=installer-test="+peerURL,
		"--log-level=warn",
	); err != nil {
		return nil, err
	}

	keyFile, err := writeServiceAccountKey(dir)
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(adminToken+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	if err := plane.start("kube-apiserver", apiserver,
		"--etcd-servers="+clientURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[2]),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokenFile,
		"--anonymous-auth=false",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+keyFile,
		"--service-account-signing-key-file="+keyFile,
		"--service-cluster-ip-range=10.96.0.0/16",
	); err != nil {
		return nil, err
	}

	server := fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	if err := plane.waitReady(ctx, server); err != nil {
		return nil, err
	}
	if err := plane.writeKubeconfig(server); err != nil {
		return nil, err
	}
	ok = true
	return plane, nil
}

func (p *controlPlane) start(name, binary string, args ...string) error {
	logPath := filepath.Join(p.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	command := exec.Command(binary, args...)
	command.Stdout, command.Stderr = logFile, logFile
	// Its own process group, so stop can end it and any child it starts.
	command.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := command.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	logFile.Close()
	p.processes = append(p.processes, command)
	p.logs = append(p.logs, logPath)
	return nil
}

func (p *controlPlane) waitReady(ctx context.Context, server string) error {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: insecureTLS()},
	}
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		request, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		request.Header.Set("Authorization", "Bearer "+adminToken)
		response, err := client.Do(request)
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusOK {
				return nil
			}
			last = response.Status
		} else {
			last = err.Error()
		}
		for _, process := range p.processes {
			if process.ProcessState != nil {
				return fmt.Errorf("%s exited: %s", process.Path, p.logTail())
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return fmt.Errorf("kube-apiserver at %s not ready within 90s (last: %s): %s", server, last, p.logTail())
}

func (p *controlPlane) writeKubeconfig(server string) error {
	caData, err := os.ReadFile(filepath.Join(p.dir, "certs", "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("read the API server's self-signed certificate: %w", err)
	}
	config := clientcmdapi.NewConfig()
	config.Clusters["installer-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	config.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: adminToken}
	config.Contexts["installer-test"] = &clientcmdapi.Context{Cluster: "installer-test", AuthInfo: "admin"}
	config.CurrentContext = "installer-test"

	p.kubeconfig = filepath.Join(p.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*config, p.kubeconfig); err != nil {
		return err
	}
	p.config, err = clientcmd.BuildConfigFromFlags("", p.kubeconfig)
	return err
}

// stop ends the processes, newest first, and removes the folder.
func (p *controlPlane) stop() {
	for i := len(p.processes) - 1; i >= 0; i-- {
		process := p.processes[i]
		_ = syscall.Kill(-process.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-process.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	_ = os.RemoveAll(p.dir)
}

// logTail returns the last lines of every process log, for failure messages.
func (p *controlPlane) logTail() string {
	var b bytes.Buffer
	for _, path := range p.logs {
		data, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "\n--- %s ---\n%s", filepath.Base(path), strings.Join(lines, "\n"))
	}
	return b.String()
}

func writeServiceAccountKey(dir string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "service-account.key")
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return path, os.WriteFile(path, data, 0o600)
}

// newControlPlane starts a control plane for one test and stops it when the test ends.
func newControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plane, err := startControlPlane(ctx)
	require.NoError(t, err)
	t.Cleanup(plane.stop)
	return plane
}

// insecureTLS is for the readiness poll only: it runs on loopback before the kubeconfig with
// the API server's certificate exists.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback readiness poll
}
