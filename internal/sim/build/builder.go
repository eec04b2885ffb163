// Package build compiles the simulated cluster's upstream components from the Go module proxy
// and caches the binaries outside the repository, one directory per component and version:
// $EDW_CACHE_DIR/bin/<component>-<version>/. A cached directory is never rebuilt; changing a pin
// in internal/versions builds only the component it names.
//
// Three recipes cover the components:
//   - Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl), etcd, kwok
//     and kwokctl build together in one generated throwaway module, so the compiler shares the
//     packages they have in common.
//   - KEDA (operator and metrics adapter) and the Karpenter kwok provider build inside a
//     writable copy of their own module, because KEDA's go.mod has a replace directive and
//     `go install module@version` rejects such modules. The copy also carries the CRDs.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultCacheDirEnv is the environment variable that overrides the cache root.
const DefaultCacheDirEnv = "EDW_CACHE_DIR"

// Builder builds and locates the cached components.
type Builder struct {
	cacheDir    string
	goTool      string
	prebuildDir string
	progress    io.Writer
	logger      *slog.Logger
	tick        time.Duration
}

// Option configures a Builder.
type Option func(*Builder)

// WithCacheDir sets the cache root. The default is $EDW_CACHE_DIR, else ~/.cache/aks-edw.
func WithCacheDir(dir string) Option { return func(b *Builder) { b.cacheDir = dir } }

// WithGoTool sets the go command used to download and compile. The default is "go" on PATH.
func WithGoTool(path string) Option { return func(b *Builder) { b.goTool = path } }

// WithPrebuildDir sets a directory of binaries built earlier by hand with the same recipe. A
// binary there is adopted into the cache instead of rebuilt when its embedded module version and
// its --version output match the pins. The default is <cache>/bin/sim-prebuild.
func WithPrebuildDir(dir string) Option { return func(b *Builder) { b.prebuildDir = dir } }

// WithProgress sets where progress lines (component, packages compiled, elapsed time) go.
// The default discards them.
func WithProgress(w io.Writer) Option { return func(b *Builder) { b.progress = w } }

// WithLogger sets the structured logger. The default discards records.
func WithLogger(l *slog.Logger) Option { return func(b *Builder) { b.logger = l } }

// WithProgressInterval sets how often a running build reports its elapsed time (default 15s).
func WithProgressInterval(d time.Duration) Option { return func(b *Builder) { b.tick = d } }

// New returns a Builder.
func New(opts ...Option) *Builder {
	b := &Builder{
		goTool:   "go",
		progress: io.Discard,
		logger:   slog.New(slog.DiscardHandler),
		tick:     15 * time.Second,
	}
	for _, opt := range opts {
		opt(b)
	}
	if b.cacheDir == "" {
		b.cacheDir = DefaultCacheDir()
	}
	if b.prebuildDir == "" {
		b.prebuildDir = filepath.Join(b.cacheDir, "bin", "sim-prebuild")
	}
	return b
}

// DefaultCacheDir returns $EDW_CACHE_DIR, else ~/.cache/aks-edw.
func DefaultCacheDir() string {
	if dir := os.Getenv(DefaultCacheDirEnv); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "aks-edw-cache")
	}
	return filepath.Join(home, ".cache", "aks-edw")
}

// CacheDir returns the cache root.
func (b *Builder) CacheDir() string { return b.cacheDir }

// Binaries holds the absolute paths of every built file the simulated cluster runs or reads.
type Binaries struct {
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Kubectl               string
	Etcd                  string
	Kwok                  string
	Kwokctl               string
	KEDAOperator          string
	KEDAAdapter           string
	// KEDACRDDir contains KEDA's six CRDs, copied from config/crd/bases in its module.
	KEDACRDDir    string
	KarpenterKwok string
	// KarpenterCRDDir contains the NodePool, NodeClaim and KWOKNodeClass CRDs.
	KarpenterCRDDir string
}

// Locate returns the cached paths without building. It fails naming every missing component
// and the command that builds it.
func (b *Builder) Locate() (*Binaries, error) {
	var missing []string
	for _, c := range components() {
		if !b.cached(c) {
			missing = append(missing, c.key())
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("components not built in %s: %s; run `edwctl sim build` (or `make sim-build`) first",
			filepath.Join(b.cacheDir, "bin"), strings.Join(missing, ", "))
	}
	return b.binaries(), nil
}

// Ensure builds every component that is not cached yet and returns the paths. Components build
// one recipe at a time because each go build already uses every core.
func (b *Builder) Ensure(ctx context.Context) (*Binaries, error) {
	start := time.Now()
	for _, r := range recipes() {
		var todo []component
		for _, c := range r.components {
			if b.cached(c) {
				fmt.Fprintf(b.progress, "cached   %-12s %s\n", c.name, b.componentDir(c))
				continue
			}
			todo = append(todo, c)
		}
		if len(todo) == 0 {
			continue
		}
		if err := r.build(ctx, b, todo); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(b.progress, "all components ready in %s\n", time.Since(start).Round(time.Second))
	return b.binaries(), nil
}

func (b *Builder) binaries() *Binaries {
	k8s := b.componentDir(kubernetesComponent)
	keda := b.componentDir(kedaComponent)
	karpenter := b.componentDir(karpenterComponent)
	return &Binaries{
		KubeAPIServer:         filepath.Join(k8s, "kube-apiserver"),
		KubeControllerManager: filepath.Join(k8s, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(k8s, "kube-scheduler"),
		Kubectl:               filepath.Join(k8s, "kubectl"),
		Etcd:                  filepath.Join(b.componentDir(etcdComponent), "etcd"),
		Kwok:                  filepath.Join(b.componentDir(kwokComponent), "kwok"),
		Kwokctl:               filepath.Join(b.componentDir(kwokComponent), "kwokctl"),
		KEDAOperator:          filepath.Join(keda, "keda-operator"),
		KEDAAdapter:           filepath.Join(keda, "keda-adapter"),
		KEDACRDDir:            filepath.Join(keda, "crds"),
		KarpenterKwok:         filepath.Join(karpenter, "karpenter-kwok"),
		KarpenterCRDDir:       filepath.Join(karpenter, "crds"),
	}
}

// componentDir returns $cache/bin/<name>-<version>.
func (b *Builder) componentDir(c component) string {
	return filepath.Join(b.cacheDir, "bin", c.key())
}

// workDir returns the scratch directory for a recipe's generated module or module copy.
func (b *Builder) workDir(name string) string {
	return filepath.Join(b.cacheDir, "build", name)
}

// cached reports whether the component's directory is complete. The marker file is written
// last, after every binary was moved in, so an interrupted build never counts as cached.
func (b *Builder) cached(c component) bool {
	dir := b.componentDir(c)
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return false
	}
	for _, f := range c.files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// install moves the files of a finished build from staging into the component's cache
// directory and writes the marker. Staging must be on the same file system as the cache.
func (b *Builder) install(c component, staging string, recipe string) error {
	for _, f := range c.files {
		if _, err := os.Stat(filepath.Join(staging, f)); err != nil {
			return fmt.Errorf("install %s: build output %s missing: %w", c.key(), f, err)
		}
	}
	final := b.componentDir(c)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return fmt.Errorf("install %s: %w", c.key(), err)
	}
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("install %s: remove incomplete %s: %w", c.key(), final, err)
	}
	marker := fmt.Sprintf("component: %s\nversion: %s\nbuilt: %s\nrecipe: %s\n",
		c.name, c.version, time.Now().UTC().Format(time.RFC3339), recipe)
	// MkdirTemp creates the staging directory with mode 0700; the cache is meant to be shared.
	if err := os.Chmod(staging, 0o755); err != nil {
		return fmt.Errorf("install %s: %w", c.key(), err)
	}
	if err := os.WriteFile(filepath.Join(staging, markerFile), []byte(marker), 0o644); err != nil {
		return fmt.Errorf("install %s: write marker: %w", c.key(), err)
	}
	if err := os.Rename(staging, final); err != nil {
		return fmt.Errorf("install %s: move %s to %s: %w", c.key(), staging, final, err)
	}
	b.logger.Info("component cached", "component", c.name, "version", c.version, "dir", final)
	return nil
}

// stagingDir creates an empty directory next to the cache directories, so install can rename.
func (b *Builder) stagingDir(c component) (string, error) {
	parent := filepath.Join(b.cacheDir, "bin")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", parent, err)
	}
	dir, err := os.MkdirTemp(parent, ".staging-"+c.key()+"-")
	if err != nil {
		return "", fmt.Errorf("create staging directory for %s: %w", c.key(), err)
	}
	return dir, nil
}

// errNotAdoptable marks a prebuilt binary that does not match the pins.
var errNotAdoptable = errors.New("prebuilt binary does not match the pinned version")
