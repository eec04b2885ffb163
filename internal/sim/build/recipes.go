package build

import (
	"context"
	"fmt"
	"strings"

	"github.com/aks-edw/aks-edw/internal/versions"
)

// markerFile is written last into a component directory; its presence means the build finished.
const markerFile = ".complete"

// component is one cache entry: a directory of files keyed by name and version.
type component struct {
	name    string
	version string
	// files are the paths, relative to the component directory, that a finished build contains.
	files []string
}

func (c component) key() string { return c.name + "-" + c.version }

var (
	kubernetesComponent = component{
		name:    "kubernetes",
		version: versions.Kubernetes,
		files:   []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"},
	}
	etcdComponent = component{name: "etcd", version: versions.Etcd, files: []string{"etcd"}}
	kwokComponent = component{name: "kwok", version: versions.Kwok, files: []string{"kwok", "kwokctl"}}
	kedaComponent = component{
		name:    "keda",
		version: versions.KEDA,
		files:   []string{"keda-operator", "keda-adapter", "crds"},
	}
	karpenterComponent = component{
		name:    "karpenter",
		version: versions.Karpenter,
		files:   []string{"karpenter-kwok", "crds"},
	}
)

func components() []component {
	return []component{kubernetesComponent, etcdComponent, kwokComponent, kedaComponent, karpenterComponent}
}

// recipe builds a group of components in one step.
type recipe struct {
	components []component
	build      func(ctx context.Context, b *Builder, todo []component) error
}

func recipes() []recipe {
	return []recipe{
		{
			components: []component{kubernetesComponent, etcdComponent, kwokComponent},
			build:      buildControlPlane,
		},
		{
			components: []component{kedaComponent},
			build:      kedaRecipe.build,
		},
		{
			components: []component{karpenterComponent},
			build:      karpenterRecipe.build,
		},
	}
}

// binarySource names where one binary of the control-plane module comes from.
type binarySource struct {
	component component
	// output is the binary's file name in the component directory.
	output string
	// pkg is the main package's import path; go build names its output after the last
	// path element, except for etcd, whose main package is the module root "server/v3".
	pkg string
	// module is the module the package belongs to and version its pinned version.
	module  string
	version string
	// versionArgs print the version that kwokctl parses to pick flags; empty means none is checked.
	versionArgs []string
}

// goBuildName returns the file name go build -o dir/ gives the package's binary.
func (s binarySource) goBuildName() string {
	parts := strings.Split(s.pkg, "/")
	last := parts[len(parts)-1]
	if strings.HasPrefix(last, "v") && len(parts) > 1 {
		// NOTE: a major-version suffix is skipped, so go.etcd.io/etcd/server/v3 builds "server".
		last = parts[len(parts)-2]
	}
	return last
}

func controlPlaneSources() []binarySource {
	k8s := func(name string, versionArgs ...string) binarySource {
		return binarySource{
			component:   kubernetesComponent,
			output:      name,
			pkg:         "k8s.io/kubernetes/cmd/" + name,
			module:      "k8s.io/kubernetes",
			version:     versions.Kubernetes,
			versionArgs: versionArgs,
		}
	}
	return []binarySource{
		k8s("kube-apiserver", "--version"),
		k8s("kube-controller-manager", "--version"),
		k8s("kube-scheduler", "--version"),
		k8s("kubectl", "version", "--client"),
		{
			component:   etcdComponent,
			output:      "etcd",
			pkg:         "go.etcd.io/etcd/server/v3",
			module:      "go.etcd.io/etcd/server/v3",
			version:     versions.Etcd,
			versionArgs: []string{"--version"},
		},
		{
			component:   kwokComponent,
			output:      "kwok",
			pkg:         "sigs.k8s.io/kwok/cmd/kwok",
			module:      "sigs.k8s.io/kwok",
			version:     versions.Kwok,
			versionArgs: []string{"--version"},
		},
		{
			component:   kwokComponent,
			output:      "kwokctl",
			pkg:         "sigs.k8s.io/kwok/cmd/kwokctl",
			module:      "sigs.k8s.io/kwok",
			version:     versions.Kwok,
			versionArgs: []string{"--version"},
		},
	}
}

// kubernetesLDFlags sets the version that the Kubernetes binaries report. Without it they
// report v0.0.0-master, and kwokctl, which reads kube-apiserver --version to choose flags,
// would pick flags for the wrong release.
func kubernetesLDFlags() (string, error) {
	major, minor, err := majorMinor(versions.Kubernetes)
	if err != nil {
		return "", err
	}
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			fmt.Sprintf("-X %s.gitVersion=%s", pkg, versions.Kubernetes),
			fmt.Sprintf("-X %s.gitMajor=%s", pkg, major),
			fmt.Sprintf("-X %s.gitMinor=%s", pkg, minor),
			fmt.Sprintf("-X %s.gitTreeState=clean", pkg),
		)
	}
	return strings.Join(flags, " "), nil
}

// majorMinor splits "v1.36.3" into "1" and "36".
func majorMinor(version string) (string, string, error) {
	parts := strings.Split(strings.TrimPrefix(version, "v"), ".")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("invalid Kubernetes version %q: want vMAJOR.MINOR.PATCH", version)
	}
	return parts[0], parts[1], nil
}

var kedaRecipe = moduleCopyRecipe{
	component: kedaComponent,
	module:    versions.KEDAModule,
	version:   versions.KEDA,
	binaries: map[string]string{
		"./cmd/operator": "keda-operator",
		"./cmd/adapter":  "keda-adapter",
	},
	ldflags: fmt.Sprintf("-s -w -X=%s/version.Version=%s", versions.KEDAModule, versions.KEDA),
	crds: []string{
		"config/crd/bases/keda.sh_scaledobjects.yaml",
		"config/crd/bases/keda.sh_scaledjobs.yaml",
		"config/crd/bases/keda.sh_triggerauthentications.yaml",
		"config/crd/bases/keda.sh_clustertriggerauthentications.yaml",
		"config/crd/bases/eventing.keda.sh_cloudeventsources.yaml",
		"config/crd/bases/eventing.keda.sh_clustercloudeventsources.yaml",
	},
	patches: []sourcePatch{{
		file:   "cmd/adapter/main.go",
		old:    `metricsBindAddress := fmt.Sprintf(":%v", metricsAPIServerPort)`,
		new:    `metricsBindAddress := fmt.Sprintf("127.0.0.1:%v", metricsAPIServerPort)`,
		reason: "the adapter's /metrics listener has no address flag and would listen on every interface",
	}},
}

var karpenterRecipe = moduleCopyRecipe{
	component: karpenterComponent,
	module:    "sigs.k8s.io/karpenter",
	version:   versions.Karpenter,
	binaries:  map[string]string{"./kwok": "karpenter-kwok"},
	ldflags:   "-s -w",
	crds: []string{
		"kwok/charts/crds/karpenter.sh_nodepools.yaml",
		"kwok/charts/crds/karpenter.sh_nodeclaims.yaml",
		"kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml",
	},
	patches: []sourcePatch{
		{
			file:   "pkg/operator/operator.go",
			old:    `BindAddress: fmt.Sprintf(":%d", options.FromContext(ctx).MetricsPort),`,
			new:    `BindAddress: fmt.Sprintf("127.0.0.1:%d", options.FromContext(ctx).MetricsPort),`,
			reason: "the metrics listener has a port flag but no address flag and would listen on every interface",
		},
		{
			file:   "pkg/operator/operator.go",
			old:    `HealthProbeBindAddress: fmt.Sprintf(":%d", options.FromContext(ctx).HealthProbePort),`,
			new:    `HealthProbeBindAddress: fmt.Sprintf("127.0.0.1:%d", options.FromContext(ctx).HealthProbePort),`,
			reason: "the health probe listener has a port flag but no address flag and would listen on every interface",
		},
	},
}
