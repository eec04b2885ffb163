package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aks-edw/aks-edw/internal/azcli"
)

// RequiredProviders are the resource provider namespaces that bicep/main.bicep deploys to.
var RequiredProviders = []string{
	"Microsoft.ContainerService",
	"Microsoft.ContainerRegistry",
	"Microsoft.Storage",
	"Microsoft.ManagedIdentity",
	"Microsoft.OperationalInsights",
}

// containerInsightsProvider is needed only with the template's enableContainerInsights, for
// the data collection rule.
const containerInsightsProvider = "Microsoft.Insights"

// Finding is the result of one preflight check.
type Finding struct {
	Check  string
	OK     bool
	Detail string
	// Fix is the command or action that fixes a failed check.
	Fix string
}

// String formats the finding as one line: "ok    check: detail" or
// "FAIL  check: detail; fix: command".
func (f Finding) String() string {
	if f.OK {
		return fmt.Sprintf("ok    %s: %s", f.Check, f.Detail)
	}
	return fmt.Sprintf("FAIL  %s: %s; fix: %s", f.Check, f.Detail, f.Fix)
}

// Report is the outcome of Preflight.
type Report struct {
	Findings []Finding
	// Account is the signed-in account, when az is logged in.
	Account azcli.Account
}

// Failed returns the number of failed checks.
func (r Report) Failed() int {
	failed := 0
	for _, finding := range r.Findings {
		if !finding.OK {
			failed++
		}
	}
	return failed
}

func (r *Report) add(f Finding) { r.Findings = append(r.Findings, f) }

// Preflight checks everything Deploy needs before it changes anything: the az CLI and its
// login, the resource providers and preview features, the local files, the resource group's
// region and the chart installer. Checks that need a working az are left out when az is
// missing or not logged in, since each would fail for the same reason.
func (d *Deployer) Preflight(ctx context.Context, cfg Config) Report {
	cfg = cfg.withDefaults()
	var report Report

	d.checkFiles(&report, cfg)
	if !cfg.SkipInstall && d.installer == nil {
		report.add(Finding{Check: "chart installer", Detail: "not linked into this build",
			Fix: fmt.Sprintf("pass --skip-install, then run `edwctl install --outputs %s` after the deployment", cfg.OutputsPath)})
	}

	if !d.checkCLI(ctx, &report) || !d.checkLogin(ctx, &report) {
		return report
	}
	d.checkProviders(ctx, &report, cfg)
	d.checkFeatures(ctx, &report)
	d.checkResourceGroup(ctx, &report, cfg)
	return report
}

func (d *Deployer) checkFiles(report *Report, cfg Config) {
	type file struct{ check, path string }
	files := []file{{"template", cfg.TemplateFile}}
	if !cfg.SkipImage {
		files = append(files, file{"consumer Dockerfile", filepath.Join(cfg.RepoRoot, ConsumerDockerfile)})
		if cfg.BuildProducer {
			files = append(files, file{"producer Dockerfile", filepath.Join(cfg.RepoRoot, ProducerDockerfile)})
		}
		for _, path := range BuildContextPaths {
			files = append(files, file{"image build context", filepath.Join(cfg.RepoRoot, path)})
		}
	}
	for _, file := range files {
		if _, err := os.Stat(file.path); err != nil {
			report.add(Finding{Check: file.check, Detail: fmt.Sprintf("%s not found", file.path),
				Fix: "run edwctl from the repository root, or pass --repo-root with the path of the aks-edw checkout"})
			continue
		}
		report.add(Finding{Check: file.check, OK: true, Detail: file.path})
	}
}

func (d *Deployer) checkCLI(ctx context.Context, report *Report) bool {
	path, err := d.az.Path()
	if err != nil {
		report.add(Finding{Check: "az", Detail: err.Error(),
			Fix: "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli) and make sure `az` is on PATH"})
		return false
	}
	version, err := d.az.Version(ctx)
	if err != nil {
		report.add(Finding{Check: "az", Detail: fmt.Sprintf("%s does not run: %v", path, err),
			Fix: "reinstall or upgrade the Azure CLI (az upgrade)"})
		return false
	}
	report.add(Finding{Check: "az", OK: true, Detail: fmt.Sprintf("azure-cli %s at %s", version, path)})
	return true
}

func (d *Deployer) checkLogin(ctx context.Context, report *Report) bool {
	account, err := d.az.Account(ctx)
	if errors.Is(err, azcli.ErrNotLoggedIn) {
		report.add(Finding{Check: "login", Detail: "az is not logged in",
			Fix: "az login, then az account set --subscription <subscription ID or name>"})
		return false
	}
	if err != nil {
		report.add(Finding{Check: "login", Detail: err.Error(), Fix: "az login"})
		return false
	}
	report.Account = account
	report.add(Finding{Check: "subscription", OK: true, Detail: fmt.Sprintf("%s (%s), tenant %s, signed in as %s %s",
		account.SubscriptionName, account.SubscriptionID, account.TenantID, account.User.Type, account.User.Name)})
	return true
}

func (d *Deployer) checkProviders(ctx context.Context, report *Report, cfg Config) {
	providers := append([]string{}, RequiredProviders...)
	if strings.EqualFold(cfg.Parameters["enableContainerInsights"], "true") {
		providers = append(providers, containerInsightsProvider)
	}

	states, err := d.az.ProviderStates(ctx)
	if err != nil {
		report.add(Finding{Check: "resource providers", Detail: err.Error(),
			Fix: "check that the signed-in account can read the subscription (Reader role or above)"})
		return
	}
	for _, namespace := range providers {
		state := states[strings.ToLower(namespace)]
		if state == "Registered" {
			report.add(Finding{Check: "provider " + namespace, OK: true, Detail: state})
			continue
		}
		if state == "" {
			state = "not listed"
		}
		report.add(Finding{Check: "provider " + namespace, Detail: state,
			Fix: fmt.Sprintf("az provider register --namespace %s --wait", namespace)})
	}
}

func (d *Deployer) checkFeatures(ctx context.Context, report *Report) {
	for _, feature := range d.features {
		check := "feature " + feature.Namespace + "/" + feature.Name
		fix := fmt.Sprintf("az feature register --namespace %s --name %s, wait until az feature show reports Registered, then az provider register --namespace %s",
			feature.Namespace, feature.Name, feature.Namespace)
		state, err := d.az.FeatureState(ctx, feature.Namespace, feature.Name)
		switch {
		case err != nil:
			report.add(Finding{Check: check, Detail: err.Error(), Fix: fix})
		case state != "Registered":
			report.add(Finding{Check: check, Detail: state, Fix: fix})
		default:
			report.add(Finding{Check: check, OK: true, Detail: state})
		}
	}
}

func (d *Deployer) checkResourceGroup(ctx context.Context, report *Report, cfg Config) {
	check := "resource group " + cfg.ResourceGroup
	exists, err := d.az.GroupExists(ctx, cfg.ResourceGroup)
	switch {
	case err != nil:
		report.add(Finding{Check: check, Detail: err.Error(), Fix: "check that the signed-in account can read the subscription"})
	case exists:
		report.add(Finding{Check: check, OK: true, Detail: "exists; the deployment updates it"})
	case cfg.Location == "":
		report.add(Finding{Check: check, Detail: "does not exist, and no region was given to create it in",
			Fix: "pass --location with an Azure region that offers AKS, such as --location westeurope (az account list-locations -o table lists them)"})
	default:
		report.add(Finding{Check: check, OK: true, Detail: "does not exist; it is created in " + cfg.Location})
	}
}
