package preflight

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// requestTimeout bounds each API request, so an unreachable server fails the check instead of
// hanging the install.
const requestTimeout = 15 * time.Second

type clients struct {
	host          string
	kube          kubernetes.Interface
	discovery     discovery.DiscoveryInterface
	apiextensions apiextensionsclient.Interface
	dynamic       dynamic.Interface
}

func newClients(restConfig *rest.Config) (*clients, error) {
	config := rest.CopyConfig(restConfig)
	if config.Timeout == 0 {
		config.Timeout = requestTimeout
	}

	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create Kubernetes client for %s: %w", config.Host, err)
	}
	extensions, err := apiextensionsclient.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create apiextensions client for %s: %w", config.Host, err)
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create dynamic client for %s: %w", config.Host, err)
	}
	return &clients{
		host:          config.Host,
		kube:          kube,
		discovery:     kube.Discovery(),
		apiextensions: extensions,
		dynamic:       dyn,
	}, nil
}

func checkReachable(_ context.Context, c *clients) Result {
	version, err := c.discovery.ServerVersion()
	if err != nil {
		return Result{
			Check:   "cluster",
			Status:  Fail,
			Message: fmt.Sprintf("API server %s unreachable: %v", c.host, err),
			Fix:     "check --kubeconfig and --context (on AKS: az aks get-credentials --resource-group <group> --name <cluster>) and that the cluster is running",
		}
	}
	return Result{
		Check:   "cluster",
		Status:  Pass,
		Message: fmt.Sprintf("API server %s reachable, Kubernetes %s", c.host, version.GitVersion),
	}
}

// provider is the software that brings an API group's CRDs.
type provider struct {
	name string
	// fix returns how to install the provider, given the config for ready-to-run commands.
	fix func(config Config) string
}

var (
	kedaProvider = provider{
		name: "KEDA",
		fix: func(config Config) string {
			return fmt.Sprintf("install KEDA 2.x before the chart: on AKS %s, elsewhere helm install keda kedacore/keda --namespace keda --create-namespace",
				azCommand(config, "az aks update", "--enable-keda"))
		},
	}
	karpenterProvider = provider{
		name: "Karpenter",
		fix: func(config Config) string {
			return fmt.Sprintf("enable node autoprovisioning (Karpenter v1): on AKS %s, elsewhere install Karpenter v1.x; or install with nodePool.enabled=false",
				azCommand(config, "az aks update", "--node-provisioning-mode Auto"))
		},
	}
	aksNodeClassProvider = provider{
		name: "AKS node autoprovisioning",
		fix: func(config Config) string {
			return fmt.Sprintf("enable node autoprovisioning: %s; or point nodePool.nodeClassRef at a node class the cluster serves",
				azCommand(config, "az aks update", "--node-provisioning-mode Auto"))
		},
	}
	kwokProvider = provider{
		name: "Karpenter's kwok provider",
		fix: func(Config) string {
			return "start the simulated cluster (edwctl sim up), which installs the KWOKNodeClass CRD; or point nodePool.nodeClassRef at a node class the cluster serves"
		},
	}
)

// knownKinds maps the custom kinds the chart may render or reference to their CRD's plural and
// the software that installs it.
var knownKinds = map[schema.GroupKind]struct {
	plural   string
	provider provider
}{
	{Group: "keda.sh", Kind: "ScaledObject"}:                 {"scaledobjects", kedaProvider},
	{Group: "keda.sh", Kind: "ScaledJob"}:                    {"scaledjobs", kedaProvider},
	{Group: "keda.sh", Kind: "TriggerAuthentication"}:        {"triggerauthentications", kedaProvider},
	{Group: "keda.sh", Kind: "ClusterTriggerAuthentication"}: {"clustertriggerauthentications", kedaProvider},
	{Group: "karpenter.sh", Kind: "NodePool"}:                {"nodepools", karpenterProvider},
	{Group: "karpenter.sh", Kind: "NodeClaim"}:               {"nodeclaims", karpenterProvider},
	{Group: "karpenter.azure.com", Kind: "AKSNodeClass"}:     {"aksnodeclasses", aksNodeClassProvider},
	{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass"}:      {"kwoknodeclasses", kwokProvider},
}

// crdName returns the CustomResourceDefinition name for a kind: plural.group.
func crdName(gk schema.GroupKind) string {
	if known, ok := knownKinds[gk]; ok {
		return known.plural + "." + gk.Group
	}
	// NOTE: a guess for kinds outside knownKinds; the CRD lookup below finds the real name by
	// group and kind when the CRD exists.
	return strings.ToLower(gk.Kind) + "s." + gk.Group
}

func providerFix(gk schema.GroupKind, config Config) string {
	if known, ok := knownKinds[gk]; ok {
		return known.provider.fix(config)
	}
	return fmt.Sprintf("install the CustomResourceDefinition that defines %s", gk)
}

// azCommand renders an az command with the resource group and cluster from config, or with
// placeholders when they are unknown.
func azCommand(config Config, command, args string) string {
	group, cluster := config.ResourceGroup, config.ClusterName
	if group == "" {
		group = "<group>"
	}
	if cluster == "" {
		cluster = "<cluster>"
	}
	return fmt.Sprintf("%s --resource-group %s --name %s %s", command, group, cluster, args)
}

// checkKinds checks that every rendered kind is served, and explains each one that is not from
// its CustomResourceDefinition: missing, not serving the version, or not yet established.
func checkKinds(ctx context.Context, c *clients, config Config) []Result {
	byVersion := map[schema.GroupVersion][]string{}
	for _, gvk := range config.Kinds {
		gv := gvk.GroupVersion()
		if !slices.Contains(byVersion[gv], gvk.Kind) {
			byVersion[gv] = append(byVersion[gv], gvk.Kind)
		}
	}

	var served []string
	missingByGroup := map[string][]schema.GroupVersionKind{}
	var results []Result
	for _, gv := range sortedGroupVersions(byVersion) {
		kinds := byVersion[gv]
		available, err := servedKinds(c, gv)
		if err != nil {
			results = append(results, Result{
				Check:   "api",
				Status:  Fail,
				Message: fmt.Sprintf("discovery of %s failed: %v", gv, err),
				Fix:     "check that the API server and its aggregated APIs are healthy (kubectl get apiservices)",
			})
			continue
		}
		for _, kind := range kinds {
			gvk := gv.WithKind(kind)
			if available[kind] {
				if _, custom := knownKinds[gvk.GroupKind()]; custom {
					served = append(served, gv.String()+" "+kind)
				}
				continue
			}
			missingByGroup[gv.Group] = append(missingByGroup[gv.Group], gvk)
		}
	}

	results = append(results, explainMissing(ctx, c, config, missingByGroup)...)
	if len(missingByGroup) == 0 && len(results) == 0 {
		message := "every kind the chart renders is served"
		if len(served) > 0 {
			message += " (" + strings.Join(served, ", ") + ")"
		}
		results = append(results, Result{Check: "crd", Status: Pass, Message: message})
	}

	// The external metrics API matters only once ScaledObjects can exist at all.
	if byVersion[schema.GroupVersion{Group: "keda.sh", Version: "v1alpha1"}] != nil && len(missingByGroup["keda.sh"]) == 0 {
		results = append(results, checkExternalMetrics(c))
	}
	return results
}

func sortedGroupVersions(m map[schema.GroupVersion][]string) []schema.GroupVersion {
	out := make([]schema.GroupVersion, 0, len(m))
	for gv := range m {
		out = append(out, gv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// servedKinds returns the kinds served under gv. A group version that the server does not know
// returns an empty set and no error.
func servedKinds(c *clients, gv schema.GroupVersion) (map[string]bool, error) {
	list, err := c.discovery.ServerResourcesForGroupVersion(gv.String())
	if apierrors.IsNotFound(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	kinds := map[string]bool{}
	for _, resource := range list.APIResources {
		if !strings.Contains(resource.Name, "/") {
			kinds[resource.Kind] = true
		}
	}
	return kinds, nil
}

// explainMissing turns the kinds that are not served into one line per API group whose CRDs are
// missing, and one line per CRD that exists but does not serve the version.
func explainMissing(ctx context.Context, c *clients, config Config, missing map[string][]schema.GroupVersionKind) []Result {
	groups := make([]string, 0, len(missing))
	for group := range missing {
		groups = append(groups, group)
	}
	sort.Strings(groups)

	var results []Result
	for _, group := range groups {
		var absent []string
		var firstAbsent schema.GroupKind
		for _, gvk := range missing[group] {
			crd, err := findCRD(ctx, c, gvk.GroupKind())
			switch {
			case err != nil:
				results = append(results, Result{
					Check:   "crd",
					Status:  Fail,
					Message: fmt.Sprintf("%s %s is not served, and reading CustomResourceDefinition %s failed: %v", gvk.GroupVersion(), gvk.Kind, crdName(gvk.GroupKind()), err),
					Fix:     providerFix(gvk.GroupKind(), config),
				})
			case crd == nil:
				if len(absent) == 0 {
					firstAbsent = gvk.GroupKind()
				}
				absent = append(absent, fmt.Sprintf("%s (%s %s)", crdName(gvk.GroupKind()), gvk.GroupVersion(), gvk.Kind))
			default:
				results = append(results, explainUnserved(crd, gvk, config))
			}
		}
		if len(absent) == 0 {
			continue
		}
		noun := "CustomResourceDefinition"
		if len(absent) > 1 {
			noun += "s"
		}
		results = append(results, Result{
			Check:   "crd",
			Status:  Fail,
			Message: fmt.Sprintf("%s %s not found", noun, strings.Join(absent, ", ")),
			Fix:     providerFix(firstAbsent, config),
		})
	}
	return results
}

// findCRD returns the CRD that defines gk, or nil when there is none. It looks the CRD up by its
// expected name first, then by group and kind, since a CRD's plural may differ from the guess.
func findCRD(ctx context.Context, c *clients, gk schema.GroupKind) (*apiextensionsv1.CustomResourceDefinition, error) {
	crds := c.apiextensions.ApiextensionsV1().CustomResourceDefinitions()
	crd, err := crds.Get(ctx, crdName(gk), metav1.GetOptions{})
	if err == nil {
		return crd, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}

	list, err := crds.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		item := &list.Items[i]
		if item.Spec.Group == gk.Group && item.Spec.Names.Kind == gk.Kind {
			return item, nil
		}
	}
	return nil, nil
}

// explainUnserved describes a CRD that exists although its kind is not served at gvk's version.
func explainUnserved(crd *apiextensionsv1.CustomResourceDefinition, gvk schema.GroupVersionKind, config Config) Result {
	var servedVersions []string
	servesVersion := false
	for _, version := range crd.Spec.Versions {
		if version.Served {
			servedVersions = append(servedVersions, version.Name)
			if version.Name == gvk.Version {
				servesVersion = true
			}
		}
	}

	if !servesVersion {
		return Result{
			Check:  "crd",
			Status: Fail,
			Message: fmt.Sprintf("CustomResourceDefinition %s serves %s but the chart needs %s %s",
				crd.Name, strings.Join(servedVersions, ", "), gvk.GroupVersion(), gvk.Kind),
			Fix: "upgrade the software that installed it to a release that serves " + gvk.GroupVersion().String() + "; " + providerFix(gvk.GroupKind(), config),
		}
	}
	return Result{
		Check:   "crd",
		Status:  Fail,
		Message: fmt.Sprintf("CustomResourceDefinition %s exists but is not Established, so %s %s is not served yet", crd.Name, gvk.GroupVersion(), gvk.Kind),
		Fix:     "wait a few seconds and retry; if it stays so, read its conditions: kubectl get crd " + crd.Name + " -o yaml",
	}
}

// checkExternalMetrics checks that KEDA's metrics server serves the external metrics API,
// without which the HPA that KEDA creates cannot scale from 1 to N replicas.
func checkExternalMetrics(c *clients) Result {
	const externalMetrics = "external.metrics.k8s.io/v1beta1"
	_, err := c.discovery.ServerResourcesForGroupVersion(externalMetrics)
	if err == nil {
		return Result{Check: "external-metrics", Status: Pass, Message: externalMetrics + " is served (KEDA's metrics server)"}
	}
	return Result{
		Check:   "external-metrics",
		Status:  Warn,
		Message: fmt.Sprintf("%s is not served (%v), so the HPA that KEDA creates cannot read the queue metric and scales only between 0 and 1", externalMetrics, err),
		Fix:     "check KEDA's metrics server: kubectl get apiservice v1beta1.external.metrics.k8s.io and the keda-operator-metrics-apiserver Deployment",
	}
}
