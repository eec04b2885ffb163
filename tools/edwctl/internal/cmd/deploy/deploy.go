// Package deploy holds the Azure deploy and destroy commands, which drive the az CLI, and the
// image command, which builds a container image tarball offline.
package deploy

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/aks-edw/aks-edw/internal/azcli"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/deploy"
	"github.com/aks-edw/aks-edw/internal/logging"
)

// NewCommands returns the deploy, destroy and image commands.
func NewCommands() []*cobra.Command {
	return []*cobra.Command{newDeployCommand(), newDestroyCommand(), newImageCommand()}
}

// commonFlags are the flags that deploy and destroy share.
type commonFlags struct {
	resourceGroup string
	repoRoot      string
	outputs       string
	yes           bool
	verbose       bool
}

func (f *commonFlags) bind(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.StringVarP(&f.resourceGroup, "resource-group", "g", deploy.DefaultResourceGroup, "Azure resource group that holds everything the deployment creates")
	flags.StringVar(&f.repoRoot, "repo-root", "", "aks-edw checkout with bicep/, charts/ and src/ (default: the nearest parent of the working directory that has bicep/main.bicep)")
	flags.StringVar(&f.outputs, "outputs", "", "deployment outputs file (default: <repo-root>/"+deploy.DefaultOutputsPath+")")
	flags.BoolVarP(&f.yes, "yes", "y", false, "answer every confirmation with yes")
	flags.BoolVarP(&f.verbose, "verbose", "v", false, "also log each az command and step as JSON lines on stderr")
}

// resolve fills in the repository root and the outputs path.
func (f *commonFlags) resolve() error {
	if f.repoRoot == "" {
		root, err := findRepoRoot()
		if err != nil {
			return err
		}
		f.repoRoot = root
	}
	if f.outputs == "" {
		f.outputs = filepath.Join(f.repoRoot, filepath.FromSlash(deploy.DefaultOutputsPath))
	}
	return nil
}

func (f *commonFlags) logger(stderr io.Writer) *slog.Logger {
	if !f.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return logging.New(stderr, slog.LevelDebug)
}

// findRepoRoot returns the nearest directory, from the working directory up, that has
// bicep/main.bicep.
func findRepoRoot() (string, error) {
	start, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := start; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(deploy.DefaultTemplateFile))); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", config.Invalid("no %s in %s or any parent folder: run edwctl inside the aks-edw checkout, or pass --repo-root", deploy.DefaultTemplateFile, start)
		}
	}
}

// isTerminal reports whether r is an interactive terminal, where a confirmation prompt can
// be answered.
func isTerminal(r io.Reader) bool {
	file, ok := r.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

func newDeployCommand() *cobra.Command {
	var common commonFlags
	var (
		location       string
		baseName       string
		templateFile   string
		parameters     []string
		whatIf         bool
		operatorAccess bool
		skipImage      bool
		imageTag       string
		buildProducer  bool
		kubeconfig     string
		skipInstall    bool
		installTimeout time.Duration
	)
	command := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy aks-edw to Azure: Bicep, image build in ACR, cluster credentials, chart install",
		Long: `Deploys bicep/main.bicep into a resource group with the Azure CLI and installs the chart on
the new AKS cluster with workload identity. The steps, each printed with a timestamp:

  preflight          az present and logged in, the subscription, the resource providers, the
                     local files and the resource group's region; each failure is one line
                     with the command that fixes it
  resource group     created with --location when it does not exist
  parameters         --base-name, --location, the signed-in principal (--operator-access),
                     then every --parameter
  what-if            with --what-if: the changes, then a confirmation (or --yes)
  deployment         az deployment group create; the outputs go to --outputs
  image build        az acr build of src/consumer/Dockerfile (and the producer with
                     --producer-image); no local Docker engine is needed
  credentials        az aks get-credentials into --kubeconfig or the default kubeconfig
  chart install      edwctl install with the outputs and the new image (upgrade when the
                     release exists)

The run stops at the first failure. A redeploy with the same flags changes nothing in Azure:
resource names come from the resource group's ID, not from the time.`,
		Example: `  az login
  edwctl deploy --resource-group rg-aks-edw --location westeurope
  edwctl deploy -g rg-aks-edw --what-if --parameter enableContainerInsights=true`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := common.resolve(); err != nil {
				return err
			}
			extra, err := parseParameters(parameters)
			if err != nil {
				return err
			}
			if imageTag == "" {
				imageTag = time.Now().UTC().Format("20060102150405")
			}
			if installTimeout <= 0 {
				return config.Invalid("--install-timeout %s is not positive: use a duration such as 10m", installTimeout)
			}
			cfg := deploy.Config{
				ResourceGroup:  common.resourceGroup,
				Location:       location,
				BaseName:       baseName,
				RepoRoot:       common.repoRoot,
				TemplateFile:   templateFile,
				Parameters:     extra,
				WhatIf:         whatIf,
				AssumeYes:      common.yes,
				OperatorAccess: operatorAccess,
				OutputsPath:    common.outputs,
				SkipImage:      skipImage,
				ImageTag:       imageTag,
				BuildProducer:  buildProducer,
				Kubeconfig:     kubeconfig,
				SkipInstall:    skipInstall,
			}
			if err := cfg.Validate(); err != nil {
				return config.Invalid("%v", err)
			}

			stderr := cmd.ErrOrStderr()
			logger := common.logger(stderr)
			options := []deploy.Option{
				deploy.WithOutput(stderr),
				deploy.WithInput(cmd.InOrStdin(), isTerminal(cmd.InOrStdin())),
				deploy.WithLogger(logger),
			}
			if !skipInstall {
				options = append(options, deploy.WithInstaller(chartInstaller{
					repoRoot: common.repoRoot, progress: stderr, logger: logger, timeout: installTimeout,
				}))
			}
			deployer := deploy.New(azcli.New(azcli.WithLogger(logger), azcli.WithDir(common.repoRoot)), options...)
			result, err := deployer.Deploy(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "outputs: %s\nkube context: %s\n", result.OutputsPath, result.KubeContext)
			if result.ConsumerImage != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "consumer image: %s\n", result.ConsumerImage)
			}
			if result.ProducerImage != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "producer image: %s\n", result.ProducerImage)
			}
			return nil
		},
	}
	common.bind(command)
	flags := command.Flags()
	flags.StringVarP(&location, "location", "l", "", "Azure region; required when the resource group does not exist yet (default: the resource group's region)")
	flags.StringVar(&baseName, "base-name", "edw", "prefix of the resource names: 2-8 lowercase letters and digits, starting with a letter")
	flags.StringVar(&templateFile, "template-file", "", "Bicep template (default: <repo-root>/"+deploy.DefaultTemplateFile+")")
	flags.StringArrayVarP(&parameters, "parameter", "p", nil, "template parameter as name=value, repeatable, such as enableContainerInsights=true; overrides the values edwctl sets")
	flags.BoolVar(&whatIf, "what-if", false, "print the changes the deployment would make and ask before making them")
	flags.BoolVar(&operatorAccess, "operator-access", true, "grant the signed-in principal the data roles to send messages and read the queues and the table")
	flags.BoolVar(&skipImage, "skip-image", false, "do not build the images; the chart install then uses the chart's own image tag in the deployment's registry")
	flags.StringVar(&imageTag, "image-tag", "", "tag of the images built in the registry (default: the UTC start time, such as 20260102150405)")
	flags.BoolVar(&buildProducer, "producer-image", false, "also build the producer image, for an in-cluster producer Job")
	flags.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file that az aks get-credentials writes to (default: $KUBECONFIG or ~/.kube/config)")
	flags.BoolVar(&skipInstall, "skip-install", false, "stop after the cluster credentials; run edwctl install yourself")
	flags.DurationVar(&installTimeout, "install-timeout", 10*time.Minute, "how long the chart install may take, including waiting for the consumer to be ready")
	return command
}

// parseParameters turns name=value flags into a map; a name given twice keeps the last
// value, as az does.
func parseParameters(values []string) (map[string]string, error) {
	parameters := map[string]string{}
	for _, value := range values {
		name, parameterValue, found := strings.Cut(value, "=")
		if !found || strings.TrimSpace(name) == "" {
			return nil, config.Invalid("--parameter %q is invalid: write name=value, such as enableContainerInsights=true", value)
		}
		parameters[strings.TrimSpace(name)] = parameterValue
	}
	return parameters, nil
}

func newDestroyCommand() *cobra.Command {
	var common commonFlags
	var wait bool
	command := &cobra.Command{
		Use:   "destroy",
		Short: "Delete the resource group that deploy created, and everything in it",
		Long: `Lists the resources in the resource group, asks you to type the group's name, and deletes
the group with the Azure CLI. The AKS cluster's node resource group goes with the cluster.
With --yes no confirmation is asked; without a terminal, --yes is required. A group that does
not exist is not an error. The deployment outputs file is removed when it describes the
deleted group.`,
		Example: `  edwctl destroy --resource-group rg-aks-edw
  edwctl destroy -g rg-aks-edw --yes --wait=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if common.repoRoot == "" && common.outputs == "" {
				// Destroy needs the checkout only to find the outputs file, so it runs anywhere.
				if root, err := findRepoRoot(); err == nil {
					common.repoRoot = root
				} else {
					common.outputs = filepath.FromSlash(deploy.DefaultOutputsPath)
				}
			}
			if err := common.resolve(); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			logger := common.logger(stderr)
			deployer := deploy.New(azcli.New(azcli.WithLogger(logger)),
				deploy.WithOutput(stderr),
				deploy.WithInput(cmd.InOrStdin(), isTerminal(cmd.InOrStdin())),
				deploy.WithLogger(logger),
			)
			return deployer.Destroy(cmd.Context(), deploy.DestroyConfig{
				ResourceGroup: common.resourceGroup,
				AssumeYes:     common.yes,
				Wait:          wait,
				OutputsPath:   common.outputs,
			})
		},
	}
	common.bind(command)
	command.Flags().BoolVar(&wait, "wait", true, "wait until Azure has deleted everything")
	return command
}
