package bicep

// This file tests the Bicep files in bicep/ through their parsed trees: that every file
// parses, that the rules in policy_test.go hold, and that a copy of the templates with one
// setting drifted fails the rule that guards it.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func bicepDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "bicep")
}

func TestEveryBicepFileParses(t *testing.T) {
	dir := bicepDir(t)

	t.Log("Listing the .bicep files on disk")
	var onDisk []string
	err := filepath.WalkDir(dir, func(path string, entry os.DirEntry, err error) error {
		if err == nil && !entry.IsDir() && strings.HasSuffix(path, ".bicep") {
			rel, _ := filepath.Rel(dir, path)
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, onDisk)

	t.Log("Parsing them with pycep-parser")
	parsed := parseDirs(t, dir)[dir]
	assert.ElementsMatch(t, onDisk, keys(parsed))

	t.Log("Checking that main.bicep calls every module")
	set := newSet(t, parsed)
	for path := range set.Modules {
		assert.Contains(t, set.Main.ModuleCalls(), path, "main.bicep does not call %s", path)
	}
}

func TestTemplatesFollowEveryRule(t *testing.T) {
	set := loadSet(t, bicepDir(t))
	assert.Empty(t, checkAll(set))
}

func TestClusterMeetsNodeAutoprovisioningPrerequisites(t *testing.T) {
	set := loadSet(t, bicepDir(t))
	cluster := findResource(t, set, "Microsoft.ContainerService/managedClusters")
	network := lookup(cluster.Body, "properties.networkProfile")

	assert.Equal(t, "Auto", lookup(cluster.Body, "properties.nodeProvisioningProfile.mode"))
	assert.Equal(t, "azure", lookup(network, "networkPlugin"))
	assert.Equal(t, "overlay", lookup(network, "networkPluginMode"))
	assert.Equal(t, "cilium", lookup(network, "networkDataplane"))
	assert.Equal(t, "cilium", lookup(network, "networkPolicy"))
	assert.Equal(t, []any{"IPv4"}, lookup(network, "ipFamilies"))
	assert.Equal(t, "Enabled", lookup(cluster.Body, "properties.publicNetworkAccess"))

	pools := asList(lookup(cluster.Body, "properties.agentPoolProfiles"))
	require.Len(t, pools, 1)
	assert.Equal(t, false, lookup(pools[0], "enableAutoScaling"))
	assert.Equal(t, []any{"CriticalAddonsOnly=true:NoSchedule"}, lookup(pools[0], "nodeTaints"))

	assert.Empty(t, checkNodeAutoprovisioning(set))
}

func TestRoleAssignmentsAreLeastPrivilegeAndIdempotent(t *testing.T) {
	set := loadSet(t, bicepDir(t))

	count := 0
	for _, tpl := range set.All() {
		for _, r := range tpl.Resources() {
			if r.Type != "Microsoft.Authorization/roleAssignments" {
				continue
			}
			count++
			t.Logf("Checking %s", where(r))
			assert.Equal(t, "guid", functionName(r.Body["name"]), "%s: name", where(r))
			assert.Contains(t, lookup(r.Body, "properties"), "principalType", "%s", where(r))
		}
	}
	assert.Equal(t, 11, count, "want 6 workload (1 optional), 4 optional operator and 1 kubelet assignments")
	assert.Empty(t, checkRoleAssignments(set))
}

func TestFederatedCredentialsCoverConsumerAndKeda(t *testing.T) {
	set := loadSet(t, bicepDir(t))
	module := set.Modules["modules/federated-credentials.bicep"]
	require.NotNil(t, module)
	scope := set.ScopeOf(module)

	subjects := map[string]string{}
	for _, r := range module.Resources() {
		if r.Type == "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials" {
			subjects[r.Name] = scope.Resolve(lookup(r.Body, "properties.subject")).(string)
		}
	}
	assert.Equal(t, map[string]string{
		"consumerCredential": "system:serviceaccount:aks-edw:aks-edw-consumer",
		"kedaCredential":     "system:serviceaccount:kube-system:keda-operator",
	}, subjects)
	assert.Empty(t, checkFederatedCredentials(set))
}

func TestParameterFileNamesOnlyMainParameters(t *testing.T) {
	dir := bicepDir(t)
	set := loadSet(t, dir)
	params := set.Main.section("parameters")

	content, err := os.ReadFile(filepath.Join(dir, "main.bicepparam"))
	require.NoError(t, err)
	text := string(content)

	assert.Regexp(t, `(?m)^using '\./main\.bicep'$`, text)
	assignments := regexp.MustCompile(`(?m)^param\s+([A-Za-z_][A-Za-z0-9_]*)\s*=`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, assignments)
	for _, match := range assignments {
		assert.Contains(t, params, match[1], "main.bicepparam sets %s, which main.bicep does not declare", match[1])
	}
}

// mutation is one drifted copy of the templates: old is replaced by new in file.
type mutation struct {
	name string
	file string
	old  string
	new  string
	want string // a substring of the problem the checks must report
}

var mutations = []mutation{
	{"kubenet networking", "modules/aks.bicep", "networkPlugin: 'azure'", "networkPlugin: 'kubenet'", "networkPlugin is \"kubenet\""},
	{"overlay mode dropped", "modules/aks.bicep", "      networkPluginMode: 'overlay'\n", "", "networkPluginMode is null"},
	{"azure dataplane", "modules/aks.bicep", "networkDataplane: 'cilium'", "networkDataplane: 'azure'", "networkDataplane"},
	{"calico network policy", "modules/aks.bicep", "networkPolicy: 'cilium'", "networkPolicy: 'calico'", "networkPolicy"},
	{"dual stack", "modules/aks.bicep", "        'IPv4'\n", "        'IPv4'\n        'IPv6'\n", "ipFamilies"},
	{"public network access disabled", "modules/aks.bicep", "publicNetworkAccess: 'Enabled'", "publicNetworkAccess: 'Disabled'", "publicNetworkAccess"},
	{"node provisioning manual", "modules/aks.bicep", "mode: 'Auto'", "mode: 'Manual'", "nodeProvisioningProfile.mode"},
	{"autoscaler on the system pool", "modules/aks.bicep", "enableAutoScaling: false", "enableAutoScaling: true\n        minCount: 1\n        maxCount: 3", "enableAutoScaling is true"},
	{"autoscaler setting dropped", "modules/aks.bicep", "        enableAutoScaling: false\n", "", "enableAutoScaling is null"},
	{"system pool taint dropped", "modules/aks.bicep", "'CriticalAddonsOnly=true:NoSchedule'", "'CriticalAddonsOnly=true:PreferNoSchedule'", "nodeTaints"},
	{"extra node pool", "modules/aks.bicep", "resource kubeletAcrPull", "resource userPool 'Microsoft.ContainerService/managedClusters/agentPools@2025-05-01' = {\n  parent: cluster\n  name: 'user'\n  properties: {\n    count: 1\n  }\n}\n\nresource kubeletAcrPull", "agentPools"},
	{"keda add-on off", "modules/aks.bicep", "keda: {\n        enabled: true", "keda: {\n        enabled: false", "keda.enabled"},
	{"workload identity off", "modules/aks.bicep", "workloadIdentity: {\n        enabled: true", "workloadIdentity: {\n        enabled: false", "workloadIdentity.enabled"},
	{"principalType dropped", "modules/storage-roles.bicep", "    principalType: 'ServicePrincipal'\n", "", "principalType is missing"},
	{"principalType user for the workload", "modules/storage-roles.bicep", "principalType: 'ServicePrincipal'", "principalType: 'User'", "want \"ServicePrincipal\""},
	{"kubelet principalType dropped", "modules/aks.bicep", "    principalType: 'ServicePrincipal'\n", "", "principalType is missing"},
	{"fixed role assignment name", "modules/storage-roles.bicep", "name: guid(account::queueService::queue.id, workloadPrincipalId, roleIds.queueDataMessageProcessor)", "name: 'consumer-queue-processor'", "want a guid()"},
	{"guid without the role", "modules/storage-roles.bicep", "name: guid(account::queueService::queue.id, workloadPrincipalId, roleIds.queueDataReader)", "name: guid(account::queueService::queue.id, workloadPrincipalId)", "does not include the role"},
	{"queue data contributor for the workload", "modules/storage-roles.bicep", "queueDataMessageProcessor: '8a0f0c08-91a1-4084-bc3d-661d67233fed'", "queueDataMessageProcessor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'", "grants Storage Queue Data Contributor"},
	{"keda cannot read the queue", "modules/storage-roles.bicep", "scope: account::queueService::queue\n  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataReader)\n    principalId: workloadPrincipalId", "scope: account::queueService::poisonQueue\n  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataReader)\n    principalId: workloadPrincipalId", "workload identity has unconditional role assignments"},
	{"acr pull replaced", "modules/aks.bicep", "var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'", "var acrPullRoleId = 'b24988ac-6180-42a0-ab88-20f7382dd24c'", "grants Contributor"},
	{"keda credential in the wrong namespace", "main.bicep", "kedaNamespace: 'kube-system'", "kedaNamespace: 'keda'", "system:serviceaccount:kube-system:keda-operator"},
	{"consumer credential for another account", "modules/federated-credentials.bicep", "subject: 'system:serviceaccount:${serviceAccountNamespace}:${serviceAccountName}'", "subject: 'system:serviceaccount:${serviceAccountNamespace}:default'", "system:serviceaccount:aks-edw:aks-edw-consumer"},
	{"wrong audience", "modules/federated-credentials.bicep", "var audience = 'api://AzureADTokenExchange'", "var audience = 'api://AzureADTokenExchange/'", "properties.audiences"},
	{"credentials in parallel", "modules/federated-credentials.bicep", "  dependsOn: [\n    consumerCredential\n  ]\n", "", "not ordered by dependsOn"},
	{"tls 1.0", "modules/storage.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'", "minimumTlsVersion"},
	{"http allowed", "modules/storage.bicep", "supportsHttpsTrafficOnly: true", "supportsHttpsTrafficOnly: false", "supportsHttpsTrafficOnly"},
	{"public blob access", "modules/storage.bicep", "allowBlobPublicAccess: false", "allowBlobPublicAccess: true", "allowBlobPublicAccess"},
	{"shared key on by default", "main.bicep", "param allowSharedKeyAccess bool = false", "param allowSharedKeyAccess bool = true", "allowSharedKeyAccess"},
	{"poison queue renamed", "main.bicep", "var poisonQueueName = '${queueName}-poison'", "var poisonQueueName = '${queueName}-dead'", "edw-messages-poison"},
	{"registry admin user", "modules/registry.bicep", "adminUserEnabled: false", "adminUserEnabled: true", "adminUserEnabled"},
	{"suffix from the deployment name", "main.bicep", "var suffix = uniqueString(resourceGroup().id, baseName)", "var suffix = uniqueString(deployment().name, baseName)", "var suffix"},
	{"output renamed", "main.bicep", "output oidcIssuerUrl string", "output oidcIssuer string", "missing [oidcIssuerUrl]"},
}

func TestDriftedCopiesFailTheChecks(t *testing.T) {
	source := bicepDir(t)

	t.Log("Writing one drifted copy of bicep/ per mutation")
	dirs := make([]string, len(mutations))
	for i, m := range mutations {
		dirs[i] = filepath.Join(t.TempDir(), "bicep")
		copyDir(t, source, dirs[i])

		path := filepath.Join(dirs[i], filepath.FromSlash(m.file))
		content, err := os.ReadFile(path)
		require.NoError(t, err)
		// The mutation must change the file, or the case would pass without testing anything.
		require.Contains(t, string(content), m.old, "mutation %q: %s no longer contains the text it replaces", m.name, m.file)
		require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(content), m.old, m.new, 1)), 0o644))
	}

	t.Log("Parsing every copy in one parser run")
	parsed := parseDirs(t, dirs...)

	for i, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			problems := checkAll(newSet(t, parsed[dirs[i]]))
			require.NotEmpty(t, problems, "the checks accept the drifted copy")
			assert.True(t, slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, m.want) }),
				"no problem mentions %q; problems:\n%s", m.want, strings.Join(problems, "\n"))
		})
	}
}

func findResource(t *testing.T, set *TemplateSet, resourceType string) Resource {
	t.Helper()
	for _, tpl := range set.All() {
		for _, r := range tpl.Resources() {
			if r.Type == resourceType && !r.Existing {
				return r
			}
		}
	}
	t.Fatalf("no %s resource in the templates", resourceType)
	return Resource{}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, entry os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if entry.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, content, 0o644)
	})
	require.NoError(t, err)
}
