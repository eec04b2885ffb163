// Package kubeconfig loads a client configuration the way kubectl does: an explicit kubeconfig
// path, else $KUBECONFIG, else ~/.kube/config, with an optional context override. The installer,
// the status collector and the edwctl commands share it so that they all talk to the same cluster.
package kubeconfig

import (
	"fmt"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Source names a kubeconfig file and a context in it. Empty fields fall back to kubectl's
// defaults: $KUBECONFIG or ~/.kube/config, and the file's current context.
type Source struct {
	Path    string
	Context string
}

// RESTConfig loads the client configuration for s.
func (s Source) RESTConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = s.Path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: s.Context}

	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		// NOTE: client-go's own message for this case names KUBERNETES_MASTER, which is not
		// the fix here.
		return nil, fmt.Errorf("no kubeconfig found at %s: set --kubeconfig or KUBECONFIG to the cluster's kubeconfig file (or run 'edwctl sim up' for the simulated cluster)", s.describe())
	}
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w (set --kubeconfig or KUBECONFIG to a valid file)", s.describe(), err)
	}
	return config, nil
}

// RESTClientGetter returns the getter that the Helm SDK and other cli-runtime users expect,
// bound to s and namespace.
func (s Source) RESTClientGetter(namespace string) genericclioptions.RESTClientGetter {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &s.Path
	flags.Context = &s.Context
	flags.Namespace = &namespace
	return flags
}

func (s Source) describe() string {
	path := s.Path
	if path == "" {
		path = "(default: $KUBECONFIG or ~/.kube/config)"
	}
	if s.Context == "" {
		return path
	}
	return fmt.Sprintf("%s, context %q", path, s.Context)
}
