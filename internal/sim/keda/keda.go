// Package keda runs the KEDA operator and metrics adapter as host processes against the
// simulated cluster and registers the adapter as the external metrics API.
//
// In a real install both run as pods behind Services. Here the operator serves its gRPC metrics
// service on 127.0.0.1, the adapter reaches it with mutual TLS, and the API server's aggregator
// reaches the adapter through an ExternalName Service whose externalName is localhost. The
// aggregator resolves such a Service to externalName:port itself; aggregator routing to
// endpoints must stay off, because it rejects ExternalName Services.
package keda

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aks-edw/aks-edw/internal/sim/certs"
	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

const (
	// OperatorServiceName and AdapterServiceName are the Service names a Helm install of KEDA
	// uses. The certificates carry them, so the names verify as they would in a cluster.
	OperatorServiceName = "keda-operator"
	AdapterServiceName  = "keda-metrics-apiserver"

	// APIServiceName is the aggregated API that the HPA controller reads external metrics from.
	APIServiceName = "v1beta1.external.metrics.k8s.io"
)

// Ports are the loopback ports the two processes listen on.
type Ports struct {
	OperatorGRPC    int
	OperatorMetrics int
	OperatorProbe   int
	AdapterSecure   int
	AdapterMetrics  int
}

// Config describes one KEDA installation on the host.
type Config struct {
	OperatorBinary string
	AdapterBinary  string
	Kubeconfig     string
	// Namespace is KEDA's cluster object namespace, where a Helm install would put KEDA.
	Namespace string
	// CertDir contains ca.crt, tls.crt and tls.key (see package certs).
	CertDir string
	LogDir  string
	Ports   Ports
}

// CertificateNames returns the DNS names the shared leaf certificate must carry.
func CertificateNames(namespace string) []string {
	names := []string{"localhost"}
	names = append(names, certs.ServiceNames(OperatorServiceName, namespace)...)
	return append(names, certs.ServiceNames(AdapterServiceName, namespace)...)
}

// OperatorSpec returns the operator's process. Cert rotation is off because the certificates
// come from package certs; leader election is off because one operator runs.
func (c Config) OperatorSpec() proc.Spec {
	return proc.Spec{
		Name:   "keda-operator",
		Binary: c.OperatorBinary,
		Args: []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--leader-elect=false",
			"--enable-cert-rotation=false",
			"--cert-dir=" + c.CertDir,
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", c.Ports.OperatorMetrics),
			fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", c.Ports.OperatorProbe),
			fmt.Sprintf("--metrics-service-bind-address=127.0.0.1:%d", c.Ports.OperatorGRPC),
			"--zap-encoder=console",
			"--zap-time-encoding=rfc3339",
		},
		Env: c.env(),
		Dir: c.LogDir,
		Log: filepath.Join(c.LogDir, "keda-operator.log"),
	}
}

// AdapterSpec returns the metrics adapter's process. It uses the kubeconfig to list objects
// and to delegate authentication and authorization of the aggregator's requests.
func (c Config) AdapterSpec() proc.Spec {
	return proc.Spec{
		Name:   "keda-adapter",
		Binary: c.AdapterBinary,
		Args: []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--lister-kubeconfig=" + c.Kubeconfig,
			"--authentication-kubeconfig=" + c.Kubeconfig,
			"--authorization-kubeconfig=" + c.Kubeconfig,
			"--bind-address=127.0.0.1",
			fmt.Sprintf("--secure-port=%d", c.Ports.AdapterSecure),
			"--cert-dir=" + c.CertDir,
			"--tls-cert-file=" + filepath.Join(c.CertDir, certs.CertFile),
			"--tls-private-key-file=" + filepath.Join(c.CertDir, certs.KeyFile),
			fmt.Sprintf("--metrics-service-address=127.0.0.1:%d", c.Ports.OperatorGRPC),
			fmt.Sprintf("--port=%d", c.Ports.AdapterMetrics),
			"--zap-encoder=console",
			"--zap-time-encoding=rfc3339",
		},
		Env: c.env(),
		Dir: c.LogDir,
		Log: filepath.Join(c.LogDir, "keda-adapter.log"),
	}
}

// env returns the caller's environment with KEDA's namespace settings: an empty
// WATCH_NAMESPACE watches every namespace.
func (c Config) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "WATCH_NAMESPACE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"KUBECONFIG="+c.Kubeconfig,
		"WATCH_NAMESPACE=",
		"KEDA_CLUSTER_OBJECT_NAMESPACE="+c.Namespace,
		"POD_NAMESPACE="+c.Namespace,
	)
}

// Objects returns the Namespace, the ExternalName Service and the APIService that register the
// adapter, listening on adapterPort, as the external metrics API. caBundle verifies the
// adapter's serving certificate.
func Objects(namespace string, adapterPort int, caBundle []byte) []*unstructured.Unstructured {
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata":   map[string]any{"name": namespace},
	}}
	service := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata": map[string]any{
			"name":      AdapterServiceName,
			"namespace": namespace,
			"labels":    map[string]any{"app.kubernetes.io/name": AdapterServiceName, "app.kubernetes.io/part-of": "keda-operator"},
		},
		"spec": map[string]any{
			"type":         "ExternalName",
			"externalName": "localhost",
			"ports": []any{map[string]any{
				"name":       "https",
				"port":       int64(adapterPort),
				"targetPort": int64(adapterPort),
				"protocol":   "TCP",
			}},
		},
	}}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": APIServiceName},
		"spec": map[string]any{
			"group":                "external.metrics.k8s.io",
			"version":              "v1beta1",
			"groupPriorityMinimum": int64(100),
			"versionPriority":      int64(100),
			"caBundle":             base64.StdEncoding.EncodeToString(caBundle),
			"service": map[string]any{
				"name":      AdapterServiceName,
				"namespace": namespace,
				"port":      int64(adapterPort),
			},
		},
	}}
	return []*unstructured.Unstructured{ns, service, apiService}
}
