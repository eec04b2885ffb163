package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DestroyConfig is one deletion.
type DestroyConfig struct {
	ResourceGroup string
	// AssumeYes deletes without asking the user to type the resource group's name.
	AssumeYes bool
	// Wait waits until Azure has deleted everything; otherwise Destroy returns once Azure
	// accepted the request.
	Wait bool
	// OutputsPath is removed after the deletion when it describes this resource group.
	OutputsPath string
}

// maxListedResources caps the resources shown in the confirmation.
const maxListedResources = 25

// Destroy deletes the resource group and everything in it (the AKS cluster's node resource
// group goes with the cluster), after the user types the group's name or with AssumeYes.
func (d *Deployer) Destroy(ctx context.Context, cfg DestroyConfig) error {
	if cfg.ResourceGroup == "" {
		return errors.New("--resource-group is empty: name the resource group to delete")
	}
	var deleted bool
	steps := []step{
		{"preflight", func(ctx context.Context) error { return d.destroyPreflight(ctx) }},
		{"delete resource group " + cfg.ResourceGroup, func(ctx context.Context) error {
			var err error
			deleted, err = d.deleteGroup(ctx, cfg)
			return err
		}},
	}
	if err := d.runSteps(ctx, steps); err != nil {
		return err
	}
	if deleted {
		d.removeOutputs(cfg)
	}
	return nil
}

func (d *Deployer) destroyPreflight(ctx context.Context) error {
	report := Report{}
	if d.checkCLI(ctx, &report) {
		d.checkLogin(ctx, &report)
	}
	for _, finding := range report.Findings {
		d.printf("  %s\n", finding)
	}
	if failed := report.Failed(); failed > 0 {
		return fmt.Errorf("%d of %d preflight checks failed; run the fix commands above and try again", failed, len(report.Findings))
	}
	return nil
}

// deleteGroup returns whether it deleted the group; a group that does not exist is not an
// error, so that destroy can run twice.
func (d *Deployer) deleteGroup(ctx context.Context, cfg DestroyConfig) (bool, error) {
	exists, err := d.az.GroupExists(ctx, cfg.ResourceGroup)
	if err != nil {
		return false, err
	}
	if !exists {
		d.printf("  resource group %s does not exist in this subscription; nothing to delete\n", cfg.ResourceGroup)
		return false, nil
	}

	resources, err := d.az.GroupResources(ctx, cfg.ResourceGroup)
	if err != nil {
		return false, err
	}
	d.printf("  %d resources in %s:\n", len(resources), cfg.ResourceGroup)
	for i, resource := range resources {
		if i == maxListedResources {
			d.printf("    ... and %d more\n", len(resources)-maxListedResources)
			break
		}
		d.printf("    %s (%s)\n", resource.Name, resource.Type)
	}

	if !cfg.AssumeYes {
		prompt := fmt.Sprintf("Type the resource group name (%s) to delete it and everything in it: ", cfg.ResourceGroup)
		ok, err := d.confirm(prompt, func(answer string) bool { return answer == cfg.ResourceGroup })
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fmt.Errorf("deletion %w: the name typed does not match %s", ErrCancelled, cfg.ResourceGroup)
		}
	}

	if cfg.Wait {
		d.printf("  deleting; this usually takes several minutes because the AKS cluster goes first\n")
	}
	if err := d.az.GroupDelete(ctx, cfg.ResourceGroup, cfg.Wait); err != nil {
		return false, err
	}
	if !cfg.Wait {
		d.printf("  deletion accepted; follow it with `az group show --name %s` until it reports ResourceGroupNotFound\n", cfg.ResourceGroup)
	}
	return true, nil
}

// removeOutputs deletes the outputs file when it belongs to the deleted resource group, so
// that a later `edwctl install --outputs` does not point at resources that are gone.
func (d *Deployer) removeOutputs(cfg DestroyConfig) {
	path := cfg.OutputsPath
	if path == "" {
		path = filepath.FromSlash(DefaultOutputsPath)
	}
	outputs, err := LoadOutputs(path)
	if err != nil || !strings.EqualFold(outputs.Strings()["resourceGroupName"], cfg.ResourceGroup) {
		return
	}
	if err := os.Remove(path); err != nil {
		d.logger.Warn("removing the outputs file of the deleted resource group failed", "path", path, "error", err)
		return
	}
	d.printf("removed %s, which described the deleted resource group\n", path)
}
