package bicep

// This file tests the GitHub Actions workflows, which cannot run here: that they parse, that
// pull requests run `make test` and `make e2e`, and that the AKS test runs only when started
// by hand and logs in to Azure through OpenID Connect without a stored secret.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// workflow is the part of a workflow file these tests read. yaml.v3 keeps the key `on` a
// string, where YAML 1.1 decoders turn it into the boolean true.
type workflow struct {
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		If          string            `yaml:"if"`
		Permissions map[string]string `yaml:"permissions"`
		Steps       []struct {
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readWorkflow(t *testing.T, name string) workflow {
	t.Helper()
	content, err := os.ReadFile(filepath.Join(repoRoot(t), ".github", "workflows", name))
	require.NoError(t, err)

	var parsed workflow
	require.NoError(t, yaml.Unmarshal(content, &parsed), "%s is not valid YAML", name)
	require.NotEmpty(t, parsed.Jobs, "%s has no jobs", name)
	return parsed
}

// runCommands returns every `run:` line of the workflow, keyed by job name.
func runCommands(w workflow) map[string][]string {
	commands := map[string][]string{}
	for name, job := range w.Jobs {
		for _, step := range job.Steps {
			for _, line := range strings.Split(step.Run, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					commands[name] = append(commands[name], line)
				}
			}
		}
	}
	return commands
}

func TestCIWorkflowRunsTestsOnPullRequests(t *testing.T) {
	ci := readWorkflow(t, "ci.yml")

	assert.Contains(t, ci.On, "pull_request")
	assert.Equal(t, map[string]string{"contents": "read"}, ci.Permissions)

	var all []string
	for _, commands := range runCommands(ci) {
		all = append(all, commands...)
	}
	assert.Contains(t, all, "make test")
	assert.Contains(t, all, "make e2e")
	assert.NotContains(t, all, "make e2e-aks", "the AKS test must not run on pull requests")
}

func TestAKSWorkflowRunsByHandWithOIDC(t *testing.T) {
	aks := readWorkflow(t, "e2e-aks.yml")

	assert.Equal(t, []string{"workflow_dispatch"}, keys(aks.On), "the AKS test creates billable resources, so only a person starts it")
	assert.Equal(t, map[string]string{"contents": "read"}, aks.Permissions)

	logins := 0
	for name, job := range aks.Jobs {
		for _, step := range job.Steps {
			if !strings.HasPrefix(step.Uses, "azure/login@") {
				continue
			}
			logins++
			assert.Equal(t, "write", job.Permissions["id-token"], "job %s logs in with OpenID Connect, which needs id-token: write", name)
			for _, input := range []string{"client-id", "tenant-id", "subscription-id"} {
				assert.Contains(t, step.With, input, "azure/login in job %s", name)
			}
			for _, secret := range []string{"creds", "client-secret"} {
				assert.NotContains(t, step.With, secret, "azure/login in job %s must not use a stored secret", name)
			}
		}
	}
	assert.Equal(t, 1, logins)
	assert.Contains(t, runCommands(aks)["e2e-aks"], "make e2e-aks")
}

func TestWorkflowActionsArePinned(t *testing.T) {
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$`)
	for _, name := range []string{"ci.yml", "e2e-aks.yml"} {
		for jobName, job := range readWorkflow(t, name).Jobs {
			for _, step := range job.Steps {
				if step.Uses != "" {
					assert.Regexp(t, pinned, step.Uses, "%s job %s", name, jobName)
				}
			}
		}
	}
}
