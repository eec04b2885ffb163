package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/aks-edw/aks-edw/internal/deploy"
	"github.com/aks-edw/aks-edw/internal/installer"
)

// chartInstaller installs or upgrades the chart through edwctl's installer library, for the
// last step of deploy.
type chartInstaller struct {
	repoRoot string
	progress io.Writer
	logger   *slog.Logger
	timeout  time.Duration
}

// Install upgrades the release when it exists, so that a redeploy rolls out the new image,
// and installs it otherwise. The installer maps the deployment outputs to chart values
// (storage names, workload identity, ServiceAccount, registry); the image built by deploy is
// set on top.
func (c chartInstaller) Install(ctx context.Context, req deploy.InstallRequest) error {
	options := []installer.Option{
		installer.WithKubeconfig(req.Kubeconfig),
		installer.WithKubeContext(req.KubeContext),
		installer.WithOutputsFile(req.OutputsPath),
		installer.WithChart(filepath.Join(c.repoRoot, filepath.FromSlash(installer.DefaultChartDir))),
		installer.WithCreateNamespace(true),
		installer.WithTimeout(c.timeout),
		installer.WithProgress(c.progress),
		installer.WithLogger(c.logger),
	}
	if req.ConsumerImage != "" {
		repository, tag, err := splitImage(req.ConsumerImage)
		if err != nil {
			return err
		}
		options = append(options, installer.WithSetString("image.repository="+repository, "image.tag="+tag))
	}

	inst, err := installer.New(options...)
	if err != nil {
		return err
	}
	result, err := inst.Upgrade(ctx)
	if errors.Is(err, installer.ErrReleaseNotFound) {
		result, err = inst.Install(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.progress, "  release %s revision %d in namespace %s\n", result.ReleaseName, result.Revision, result.Namespace)
	return nil
}

// splitImage splits "host/path/name:tag" into repository and tag. The tag is after the last
// colon that follows the last slash, so a registry port is not mistaken for a tag.
func splitImage(image string) (string, string, error) {
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash || colon == len(image)-1 {
		return "", "", fmt.Errorf("image reference %q has no tag", image)
	}
	return image[:colon], image[colon+1:], nil
}
