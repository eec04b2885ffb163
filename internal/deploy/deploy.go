// Package deploy puts aks-edw on Azure with the Azure CLI and takes it down again.
//
// Deploy runs preflight checks, creates the resource group, deploys bicep/main.bicep, saves
// the deployment outputs, builds the consumer image in Azure Container Registry, fetches the
// cluster credentials and installs the chart. Destroy deletes the resource group after a
// confirmation. Each step prints a timestamped progress line, and the first failure stops
// the run with its reason.
package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aks-edw/aks-edw/internal/azcli"
)

// Defaults for Config.
const (
	DefaultResourceGroup  = "rg-aks-edw"
	DefaultDeploymentName = "aks-edw"
	DefaultTemplateFile   = "bicep/main.bicep"
	ConsumerDockerfile    = "src/consumer/Dockerfile"
	ProducerDockerfile    = "src/producer/Dockerfile"
	ConsumerRepository    = "aks-edw/consumer"
	ProducerRepository    = "aks-edw/producer"
)

// ManagedByTag marks resource groups that Deploy created, with the value "edwctl".
const ManagedByTag = "managed-by"

// ErrCancelled means the user declined a confirmation prompt.
var ErrCancelled = errors.New("cancelled")

// ChartInstaller installs the chart on the cluster that Deploy created. edwctl's installer
// implements it, so Deploy does not depend on Helm.
type ChartInstaller interface {
	Install(ctx context.Context, req InstallRequest) error
}

// InstallRequest is the input that Deploy passes to the chart installer.
type InstallRequest struct {
	// Kubeconfig is the file `az aks get-credentials` wrote to; empty means the default
	// kubeconfig loading rules (KUBECONFIG, then ~/.kube/config).
	Kubeconfig string
	// KubeContext is the context of the new cluster, named after the cluster.
	KubeContext string
	// OutputsPath is the saved deployment outputs file.
	OutputsPath string
	// Outputs are the deployment outputs, already checked against OutputNames.
	Outputs Outputs
	// ConsumerImage is the image reference in the registry, "<login server>/<repository>:<tag>".
	// Empty when the image build was skipped, so the chart's default image stays.
	ConsumerImage string
	// ProducerImage is set when the producer image was built too.
	ProducerImage string
}

// Feature is a preview feature that must be registered on the subscription.
type Feature struct {
	Namespace string
	Name      string
}

// Config is one deployment.
type Config struct {
	ResourceGroup string
	// Location is the Azure region. Required when the resource group does not exist yet;
	// otherwise the group's region is used.
	Location string
	// BaseName is the template's baseName parameter: 2-8 lowercase letters and digits,
	// starting with a letter.
	BaseName       string
	DeploymentName string
	// RepoRoot is the repository checkout: template, Dockerfiles and image build context.
	RepoRoot     string
	TemplateFile string
	// Parameters are extra template parameters, name to value, passed as name=value. They
	// override the parameters Deploy sets itself.
	Parameters map[string]string
	// WhatIf prints the changes before deploying and waits for a confirmation unless
	// AssumeYes is set.
	WhatIf    bool
	AssumeYes bool
	// OperatorAccess grants the signed-in principal the data roles to produce messages and
	// read results (the template's operatorPrincipalId parameter).
	OperatorAccess bool
	OutputsPath    string
	SkipImage      bool
	ImageTag       string
	BuildProducer  bool
	Kubeconfig     string
	SkipInstall    bool
}

var baseNamePattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,7}$`)

// Validate returns an error naming every invalid field and how to fix it.
func (c Config) Validate() error {
	var problems []string
	if c.ResourceGroup == "" {
		problems = append(problems, "--resource-group is empty: name the resource group to deploy into")
	}
	if c.BaseName != "" && !baseNamePattern.MatchString(c.BaseName) {
		problems = append(problems, fmt.Sprintf("--base-name %q is invalid: use 2-8 lowercase letters and digits, starting with a letter, because it becomes part of the storage account and registry names", c.BaseName))
	}
	if !c.SkipImage && c.ImageTag == "" {
		problems = append(problems, "--image-tag is empty: give the tag for the image built in the registry")
	}
	for name := range c.Parameters {
		if name == "" || strings.ContainsAny(name, "= ") {
			problems = append(problems, fmt.Sprintf("--parameter name %q is invalid: write name=value", name))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.DeploymentName == "" {
		c.DeploymentName = DefaultDeploymentName
	}
	if c.RepoRoot == "" {
		c.RepoRoot = "."
	}
	if c.TemplateFile == "" {
		c.TemplateFile = filepath.Join(c.RepoRoot, DefaultTemplateFile)
	}
	if c.OutputsPath == "" {
		c.OutputsPath = filepath.Join(c.RepoRoot, DefaultOutputsPath)
	}
	return c
}

// Deployer runs deployments and deletions through one az CLI.
type Deployer struct {
	az          *azcli.CLI
	out         io.Writer
	in          *bufio.Reader
	interactive bool
	now         func() time.Time
	logger      *slog.Logger
	installer   ChartInstaller
	features    []Feature
}

// Option configures a Deployer.
type Option func(*Deployer)

// WithOutput sends progress lines and the output of long az commands to w (default stderr).
func WithOutput(w io.Writer) Option { return func(d *Deployer) { d.out = w } }

// WithInput reads confirmations from r. When interactive is false, a confirmation that
// --yes does not cover fails instead of waiting for input.
func WithInput(r io.Reader, interactive bool) Option {
	return func(d *Deployer) {
		d.in = bufio.NewReader(r)
		d.interactive = interactive
	}
}

// WithClock sets the clock used for progress timestamps and durations.
func WithClock(now func() time.Time) Option { return func(d *Deployer) { d.now = now } }

// WithLogger logs each step's start, end and failure.
func WithLogger(logger *slog.Logger) Option { return func(d *Deployer) { d.logger = logger } }

// WithInstaller sets the chart installer for the last step of Deploy.
func WithInstaller(installer ChartInstaller) Option {
	return func(d *Deployer) { d.installer = installer }
}

// WithRequiredFeatures adds preview features that preflight requires to be registered.
// The template's API versions are generally available, so none is required by default.
func WithRequiredFeatures(features ...Feature) Option {
	return func(d *Deployer) { d.features = append(d.features, features...) }
}

// New returns a Deployer that runs az through cli.
func New(cli *azcli.CLI, opts ...Option) *Deployer {
	d := &Deployer{
		az:     cli,
		out:    os.Stderr,
		in:     bufio.NewReader(os.Stdin),
		now:    time.Now,
		logger: slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(d)
	}
	return d
}

// Result describes what a successful Deploy created.
type Result struct {
	Outputs       Outputs
	OutputsPath   string
	ConsumerImage string
	ProducerImage string
	KubeContext   string
}

// deployment is the state that one Deploy run carries from step to step.
type deployment struct {
	cfg        Config
	account    azcli.Account
	parameters map[string]string
	result     Result
}

// Deploy runs every step of a deployment and stops at the first failure.
func (d *Deployer) Deploy(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	run := &deployment{cfg: cfg.withDefaults()}

	steps := []step{
		{"preflight", func(ctx context.Context) error { return d.preflightStep(ctx, run) }},
		{"resource group " + cfg.ResourceGroup, func(ctx context.Context) error { return d.resourceGroupStep(ctx, run) }},
		{"template parameters", func(ctx context.Context) error { return d.parametersStep(ctx, run) }},
	}
	if cfg.WhatIf {
		steps = append(steps, step{"what-if", func(ctx context.Context) error { return d.whatIfStep(ctx, run) }})
	}
	steps = append(steps, step{"deployment " + run.cfg.DeploymentName, func(ctx context.Context) error { return d.deploymentStep(ctx, run) }})
	if !cfg.SkipImage {
		steps = append(steps, step{"image build in Azure Container Registry", func(ctx context.Context) error { return d.imageStep(ctx, run) }})
	}
	steps = append(steps, step{"cluster credentials", func(ctx context.Context) error { return d.credentialsStep(ctx, run) }})
	if !cfg.SkipInstall {
		steps = append(steps, step{"chart install", func(ctx context.Context) error { return d.installStep(ctx, run) }})
	}

	if err := d.runSteps(ctx, steps); err != nil {
		return nil, err
	}
	d.printf("deployed: outputs in %s, kube context %s\n", run.result.OutputsPath, run.result.KubeContext)
	if cfg.SkipInstall {
		d.printf("next: edwctl install --outputs %s (with kube context %s)\n", run.result.OutputsPath, run.result.KubeContext)
	}
	return &run.result, nil
}

func (d *Deployer) preflightStep(ctx context.Context, run *deployment) error {
	report := d.Preflight(ctx, run.cfg)
	for _, finding := range report.Findings {
		d.printf("  %s\n", finding)
	}
	run.account = report.Account
	if failed := report.Failed(); failed > 0 {
		return fmt.Errorf("%d of %d preflight checks failed; run the fix commands above and try again", failed, len(report.Findings))
	}
	return nil
}

func (d *Deployer) resourceGroupStep(ctx context.Context, run *deployment) error {
	exists, err := d.az.GroupExists(ctx, run.cfg.ResourceGroup)
	if err != nil {
		return err
	}
	if exists {
		group, err := d.az.GroupShow(ctx, run.cfg.ResourceGroup)
		if err != nil {
			return err
		}
		d.printf("  using the existing resource group in %s\n", group.Location)
		return nil
	}
	tags := map[string]string{ManagedByTag: "edwctl", "app": "aks-edw"}
	if err := d.az.GroupCreate(ctx, run.cfg.ResourceGroup, run.cfg.Location, tags); err != nil {
		return err
	}
	d.printf("  created in %s\n", run.cfg.Location)
	return nil
}

// parametersStep builds the template parameters: the base name and location from the
// configuration, the signed-in principal for the operator roles, then the caller's own.
func (d *Deployer) parametersStep(ctx context.Context, run *deployment) error {
	parameters := map[string]string{}
	if run.cfg.BaseName != "" {
		parameters["baseName"] = run.cfg.BaseName
	}
	if run.cfg.Location != "" {
		parameters["location"] = run.cfg.Location
	}
	if run.cfg.OperatorAccess {
		id, kind, err := d.signedInPrincipal(ctx, run.account)
		if err != nil {
			return fmt.Errorf("%w; pass --operator-access=false to deploy without the operator's data roles", err)
		}
		parameters["operatorPrincipalId"] = id
		parameters["operatorPrincipalType"] = kind
		d.printf("  operator data roles for %s %s (object ID %s)\n", run.account.User.Type, run.account.User.Name, id)
	}
	for name, value := range run.cfg.Parameters {
		parameters[name] = value
	}
	run.parameters = parameters
	return nil
}

// signedInPrincipal returns the object ID and the principalType of the signed-in account.
// The kind comes from the token's idtyp claim, or from az's account type when the token has
// none.
func (d *Deployer) signedInPrincipal(ctx context.Context, account azcli.Account) (string, string, error) {
	claims, err := d.az.SignedInTokenClaims(ctx)
	if err != nil {
		return "", "", fmt.Errorf("read the signed-in principal's object ID: %w", err)
	}
	switch {
	case claims.IdentityType == "app", claims.IdentityType == "" && account.User.Type == "servicePrincipal":
		return claims.ObjectID, "ServicePrincipal", nil
	case claims.IdentityType == "user", claims.IdentityType == "" && account.User.Type == "user":
		return claims.ObjectID, "User", nil
	}
	return "", "", fmt.Errorf("the signed-in principal is neither a user nor a service principal (token idtyp %q, account type %q)", claims.IdentityType, account.User.Type)
}

func (run *deployment) azDeployment() azcli.Deployment {
	return azcli.Deployment{
		ResourceGroup: run.cfg.ResourceGroup,
		Name:          run.cfg.DeploymentName,
		TemplateFile:  run.cfg.TemplateFile,
		Parameters:    run.parameters,
	}
}

func (d *Deployer) whatIfStep(ctx context.Context, run *deployment) error {
	if err := d.az.DeploymentWhatIf(ctx, d.out, run.azDeployment()); err != nil {
		return err
	}
	if run.cfg.AssumeYes {
		return nil
	}
	ok, err := d.confirm("Deploy these changes? [y/N] ", func(answer string) bool {
		return strings.EqualFold(answer, "y") || strings.EqualFold(answer, "yes")
	})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("deployment %w: nothing was changed", ErrCancelled)
	}
	return nil
}

func (d *Deployer) deploymentStep(ctx context.Context, run *deployment) error {
	d.printf("  Azure Resource Manager deployment %q of %s; creating the AKS cluster takes several minutes\n", run.cfg.DeploymentName, run.cfg.TemplateFile)
	outputs, err := d.az.DeploymentCreate(ctx, run.azDeployment())
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w; the deployment may still be running in Azure: check it with `az deployment group show --resource-group %s --name %s`", err, run.cfg.ResourceGroup, run.cfg.DeploymentName)
		}
		return err
	}
	if err := CheckOutputs(outputs); err != nil {
		return err
	}
	if extra := extraOutputs(outputs); len(extra) > 0 {
		d.logger.Info("deployment has outputs outside the contract", "outputs", extra)
	}
	if err := SaveOutputs(run.cfg.OutputsPath, outputs); err != nil {
		return err
	}
	run.result.Outputs = outputs
	run.result.OutputsPath = run.cfg.OutputsPath
	values := outputs.Strings()
	d.printf("  cluster %s, registry %s, storage account %s; outputs saved to %s\n",
		values["clusterName"], values["registryLoginServer"], values["storageAccountName"], run.cfg.OutputsPath)
	return nil
}

func (d *Deployer) imageStep(ctx context.Context, run *deployment) error {
	contextDir, cleanup, err := StageBuildContext(run.cfg.RepoRoot)
	if err != nil {
		return err
	}
	defer cleanup()

	values := run.result.Outputs.Strings()
	build := func(repository, dockerfile string) (string, error) {
		image := repository + ":" + run.cfg.ImageTag
		d.printf("  az acr build %s from %s\n", image, dockerfile)
		err := d.az.ACRBuild(ctx, d.out, values["registryName"], image, filepath.Join(contextDir, filepath.FromSlash(dockerfile)), contextDir)
		if err != nil {
			return "", err
		}
		return values["registryLoginServer"] + "/" + image, nil
	}

	consumer, err := build(ConsumerRepository, ConsumerDockerfile)
	if err != nil {
		return err
	}
	run.result.ConsumerImage = consumer
	if run.cfg.BuildProducer {
		producer, err := build(ProducerRepository, ProducerDockerfile)
		if err != nil {
			return err
		}
		run.result.ProducerImage = producer
	}
	return nil
}

func (d *Deployer) credentialsStep(ctx context.Context, run *deployment) error {
	cluster := run.result.Outputs.Strings()["clusterName"]
	if err := d.az.AKSGetCredentials(ctx, run.cfg.ResourceGroup, cluster, run.cfg.Kubeconfig); err != nil {
		return err
	}
	run.result.KubeContext = cluster
	target := run.cfg.Kubeconfig
	if target == "" {
		target = "the default kubeconfig"
	}
	d.printf("  context %s written to %s\n", cluster, target)
	return nil
}

func (d *Deployer) installStep(ctx context.Context, run *deployment) error {
	if d.installer == nil {
		return fmt.Errorf("no chart installer is linked into this build; run `edwctl install --outputs %s` yourself", run.cfg.OutputsPath)
	}
	return d.installer.Install(ctx, InstallRequest{
		Kubeconfig:    run.cfg.Kubeconfig,
		KubeContext:   run.result.KubeContext,
		OutputsPath:   run.result.OutputsPath,
		Outputs:       run.result.Outputs,
		ConsumerImage: run.result.ConsumerImage,
		ProducerImage: run.result.ProducerImage,
	})
}

// confirm prints prompt, reads one line and returns accept(line). Without an interactive
// input it fails and names --yes.
func (d *Deployer) confirm(prompt string, accept func(answer string) bool) (bool, error) {
	if !d.interactive {
		return false, errors.New("a confirmation is needed but standard input is not a terminal; pass --yes to go ahead without one")
	}
	d.printf("%s", prompt)
	line, err := d.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return false, fmt.Errorf("read the confirmation: %w", err)
	}
	return accept(strings.TrimSpace(line)), nil
}

func (d *Deployer) printf(format string, args ...any) {
	fmt.Fprintf(d.out, format, args...)
}
