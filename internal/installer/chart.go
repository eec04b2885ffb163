package installer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// DefaultChartDir is the chart's path relative to the repository root.
const DefaultChartDir = "charts/aks-edw"

// FindChart returns DefaultChartDir under the working directory or the nearest parent that has
// it, so that edwctl works from any folder of the repository.
func FindChart() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the chart: %w", err)
	}
	start := dir
	for {
		candidate := filepath.Join(dir, DefaultChartDir)
		if info, err := os.Stat(filepath.Join(candidate, "Chart.yaml")); err == nil && !info.IsDir() {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("chart %s not found in %s or any parent folder: run edwctl from the repository, or pass --chart", DefaultChartDir, start)
		}
		dir = parent
	}
}

// loadChart loads the chart at path, or the repository's chart when path is empty.
func loadChart(path string) (*chart.Chart, error) {
	if path == "" {
		found, err := FindChart()
		if err != nil {
			return nil, err
		}
		path = found
	}
	loaded, err := loader.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("chart %s not found: pass --chart with the chart directory or archive", path)
	}
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", path, err)
	}
	return loaded, nil
}

// FindOutputsFile returns DefaultOutputsFile under the repository root found from the working
// directory, or "" when there is none.
func FindOutputsFile() string {
	chartDir, err := FindChart()
	if err != nil {
		return ""
	}
	root := filepath.Dir(filepath.Dir(chartDir))
	candidate := filepath.Join(root, DefaultOutputsFile)
	if _, err := os.Stat(candidate); err != nil {
		return ""
	}
	return candidate
}
