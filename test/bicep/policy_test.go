package bicep

// This file holds the rules that the parsed Bicep trees must follow. Each check returns one
// problem per broken rule, naming the file, the resource and the field, so that a drifted
// template fails with a message that names what to restore.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Built-in role definition IDs, the same in every tenant.
const (
	roleQueueMessageProcessor = "8a0f0c08-91a1-4084-bc3d-661d67233fed"
	roleQueueMessageSender    = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
	roleQueueReader           = "19e7f393-937e-4f77-808e-94535e297925"
	roleQueueContributor      = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
	roleTableContributor      = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
	roleTableReader           = "76199698-9eea-4c19-bc75-cec21354c6b6"
	roleAcrPull               = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	roleContributor           = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleOwner                 = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	roleStorageContributor    = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
)

var roleNames = map[string]string{
	roleQueueMessageProcessor: "Storage Queue Data Message Processor",
	roleQueueMessageSender:    "Storage Queue Data Message Sender",
	roleQueueReader:           "Storage Queue Data Reader",
	roleQueueContributor:      "Storage Queue Data Contributor",
	roleTableContributor:      "Storage Table Data Contributor",
	roleTableReader:           "Storage Table Data Reader",
	roleAcrPull:               "AcrPull",
	roleContributor:           "Contributor",
	roleOwner:                 "Owner",
	roleStorageContributor:    "Storage Account Contributor",
}

// Roles broader than any principal here needs. Granting one is drift.
var forbiddenRoles = []string{roleQueueContributor, roleContributor, roleOwner, roleStorageContributor}

const (
	workloadIdentityAudience = "api://AzureADTokenExchange"
	kedaOperatorSubject      = "system:serviceaccount:kube-system:keda-operator"
)

// deploymentOutputs is the deployment outputs contract that `edwctl install --outputs` reads.
var deploymentOutputs = []string{
	"storageAccountName", "queueName", "poisonQueueName", "tableName", "storageEndpointSuffix",
	"registryName", "registryLoginServer", "clusterName", "resourceGroupName", "oidcIssuerUrl",
	"workloadIdentityClientId", "tenantId", "serviceAccountNamespace", "serviceAccountName",
}

func where(r Resource) string { return fmt.Sprintf("%s: resource %s", r.File.Path, r.Name) }

// checkAll runs every rule and returns the problems sorted.
func checkAll(set *TemplateSet) []string {
	var problems []string
	problems = append(problems, checkNodeAutoprovisioning(set)...)
	problems = append(problems, checkRoleAssignments(set)...)
	problems = append(problems, checkFederatedCredentials(set)...)
	problems = append(problems, checkStorage(set)...)
	problems = append(problems, checkRegistry(set)...)
	problems = append(problems, checkNames(set)...)
	problems = append(problems, checkOutputs(set)...)
	sort.Strings(problems)
	return problems
}

// checkNodeAutoprovisioning pins the cluster settings that node autoprovisioning needs:
// Azure CNI overlay with the Cilium dataplane, IPv4 only, a public API server, and one system
// pool without the cluster autoscaler and no other pool. It also pins the KEDA add-on, the
// OIDC issuer and workload identity.
func checkNodeAutoprovisioning(set *TemplateSet) []string {
	var problems []string
	clusters := 0
	for _, tpl := range set.All() {
		scope := set.ScopeOf(tpl)
		for _, r := range tpl.Resources() {
			if strings.HasPrefix(r.Type, "Microsoft.ContainerService/managedClusters/agentPools") {
				problems = append(problems, fmt.Sprintf("%s: declares an agentPools resource; node autoprovisioning must create every node outside the system pool", where(r)))
			}
			if r.Type != "Microsoft.ContainerService/managedClusters" || r.Existing {
				continue
			}
			clusters++
			problems = append(problems, checkCluster(r, scope)...)
		}
	}
	if clusters != 1 {
		problems = append(problems, fmt.Sprintf("found %d AKS clusters, want exactly 1", clusters))
	}
	return problems
}

func checkCluster(r Resource, scope Scope) []string {
	var problems []string
	want := func(path string, expected any) {
		got := scope.Resolve(lookup(r.Body, path))
		if jsonText(got) != jsonText(expected) {
			problems = append(problems, fmt.Sprintf("%s: %s is %s, want %s", where(r), path, jsonText(got), jsonText(expected)))
		}
	}

	want("properties.nodeProvisioningProfile.mode", "Auto")
	want("properties.networkProfile.networkPlugin", "azure")
	want("properties.networkProfile.networkPluginMode", "overlay")
	want("properties.networkProfile.networkDataplane", "cilium")
	want("properties.networkProfile.networkPolicy", "cilium")
	want("properties.networkProfile.ipFamilies", []any{"IPv4"})
	want("properties.publicNetworkAccess", "Enabled")
	want("properties.workloadAutoScalerProfile.keda.enabled", true)
	want("properties.oidcIssuerProfile.enabled", true)
	want("properties.securityProfile.workloadIdentity.enabled", true)

	pools, _ := lookup(r.Body, "properties.agentPoolProfiles").([]any)
	if len(pools) != 1 {
		problems = append(problems, fmt.Sprintf("%s: properties.agentPoolProfiles has %d pools, want exactly 1 system pool", where(r), len(pools)))
	}
	for i, raw := range pools {
		pool, _ := raw.(map[string]any)
		prefix := fmt.Sprintf("%s: properties.agentPoolProfiles[%d]", where(r), i)
		if autoscaling, ok := pool["enableAutoScaling"]; !ok || autoscaling != false {
			problems = append(problems, fmt.Sprintf("%s.enableAutoScaling is %s, want false: node autoprovisioning cannot run next to the cluster autoscaler", prefix, jsonText(autoscaling)))
		}
		if mode := scope.Resolve(pool["mode"]); mode != "System" {
			problems = append(problems, fmt.Sprintf("%s.mode is %s, want \"System\"", prefix, jsonText(mode)))
		}
		taints, _ := pool["nodeTaints"].([]any)
		if !slices.Contains(taints, any("CriticalAddonsOnly=true:NoSchedule")) {
			problems = append(problems, fmt.Sprintf("%s.nodeTaints is %s, want it to contain \"CriticalAddonsOnly=true:NoSchedule\"", prefix, jsonText(taints)))
		}
	}
	return problems
}

// assignment is one role assignment reduced to who gets which role on what.
type assignment struct {
	resource    Resource
	principal   string // workload, operator or kubelet
	role        string // role definition GUID
	scope       string // last identifier of the scope: queue, poisonQueue, table, registry
	conditional bool
}

func (a assignment) key() string { return a.scope + "/" + roleNames[a.role] }

// checkRoleAssignments enforces least privilege and the settings that make role
// assignments to a new identity reliable: principalType set explicitly and guid() names.
func checkRoleAssignments(set *TemplateSet) []string {
	var problems []string
	var assignments []assignment

	for _, tpl := range set.All() {
		scope := set.ScopeOf(tpl)
		for _, r := range tpl.Resources() {
			if r.Type != "Microsoft.Authorization/roleAssignments" {
				continue
			}
			a, assignmentProblems := readAssignment(r, scope)
			problems = append(problems, assignmentProblems...)
			assignments = append(assignments, a)
		}
	}

	problems = append(problems, comparePrincipalRoles(assignments, "workload", false, []string{
		"queue/" + roleNames[roleQueueMessageProcessor],
		"queue/" + roleNames[roleQueueReader],
		"poisonQueue/" + roleNames[roleQueueMessageSender],
		"poisonQueue/" + roleNames[roleQueueReader],
		"table/" + roleNames[roleTableContributor],
	})...)
	problems = append(problems, comparePrincipalRoles(assignments, "workload", true, []string{
		"queue/" + roleNames[roleQueueMessageSender],
	})...)
	problems = append(problems, comparePrincipalRoles(assignments, "operator", true, []string{
		"queue/" + roleNames[roleQueueMessageSender],
		"queue/" + roleNames[roleQueueReader],
		"poisonQueue/" + roleNames[roleQueueReader],
		"table/" + roleNames[roleTableReader],
	})...)
	problems = append(problems, comparePrincipalRoles(assignments, "kubelet", false, []string{
		"registry/" + roleNames[roleAcrPull],
	})...)
	return problems
}

func readAssignment(r Resource, scope Scope) (assignment, []string) {
	var problems []string
	a := assignment{resource: r, conditional: r.Conditional}

	principalID := lookup(r.Body, "properties.principalId")
	switch names := accessorNames(principalID); {
	case slices.Contains(names, "kubeletidentity"):
		a.principal = "kubelet"
	case jsonText(principalID) == `"workloadPrincipalId"`:
		a.principal = "workload"
	case jsonText(principalID) == `"operatorPrincipalId"`:
		a.principal = "operator"
	default:
		problems = append(problems, fmt.Sprintf("%s: properties.principalId %s is none of workloadPrincipalId, operatorPrincipalId or the kubelet identity", where(r), jsonText(principalID)))
	}

	roleRef := lookup(r.Body, "properties.roleDefinitionId")
	if functionName(roleRef) == "subscription_resource_id" {
		roleRef = lookup(roleRef, "function.parameters.resource_name_1")
	}
	a.role = resolveRole(roleRef, scope)
	if _, known := roleNames[a.role]; !known {
		problems = append(problems, fmt.Sprintf("%s: properties.roleDefinitionId resolves to %q, which is not a role this deployment uses", where(r), a.role))
	}
	if slices.Contains(forbiddenRoles, a.role) {
		problems = append(problems, fmt.Sprintf("%s: grants %s, broader than any principal here needs", where(r), roleNames[a.role]))
	}

	if scopeNames := accessorNames(r.Body["scope"]); len(scopeNames) > 0 {
		a.scope = scopeNames[len(scopeNames)-1]
	} else {
		problems = append(problems, fmt.Sprintf("%s: has no scope; scope every assignment to the one queue, table or registry it is for", where(r)))
	}

	// principalType is the literal ServicePrincipal for managed identities. For the operator,
	// the caller names the kind of principal through a parameter.
	properties, _ := r.Body["properties"].(map[string]any)
	principalType, hasType := properties["principalType"]
	switch {
	case !hasType:
		problems = append(problems, fmt.Sprintf("%s: properties.principalType is missing; without it Azure looks the principal up in Microsoft Entra ID and a new identity fails with PrincipalNotFound", where(r)))
	case a.principal == "operator":
		if !scope.IsParam(principalType) {
			problems = append(problems, fmt.Sprintf("%s: properties.principalType is %s, want the operatorPrincipalType parameter", where(r), jsonText(principalType)))
		}
	case scope.IsParam(principalType) || principalType != "ServicePrincipal":
		problems = append(problems, fmt.Sprintf("%s: properties.principalType is %s, want \"ServicePrincipal\" for a managed identity", where(r), jsonText(principalType)))
	}

	// name: guid() over values fixed at deployment start, including the role, so a redeploy
	// finds the same assignment and two roles never collide.
	name := r.Body["name"]
	if functionName(name) != "guid" {
		problems = append(problems, fmt.Sprintf("%s: name is %s, want a guid() of scope, principal and role so that a redeploy is a no-op", where(r), jsonText(name)))
	} else if !strings.Contains(jsonText(name), jsonText(roleRef)) {
		problems = append(problems, fmt.Sprintf("%s: name guid() does not include the role %s, so two roles on one scope would collide", where(r), jsonText(roleRef)))
	}
	for _, volatile := range []string{"new_guid", "utc_now"} {
		if containsFunction(name, volatile) {
			problems = append(problems, fmt.Sprintf("%s: name calls %s(), which changes on every deployment", where(r), volatile))
		}
	}
	return a, problems
}

func resolveRole(ref any, scope Scope) string {
	// roleIds.queueDataReader is a property of an object variable.
	if names := accessorNames(ref); len(names) == 2 {
		if object, ok := scope.Resolve(names[0]).(map[string]any); ok {
			if id, ok := object[names[1]].(string); ok {
				return id
			}
		}
	}
	if id, ok := scope.Resolve(ref).(string); ok {
		return id
	}
	return jsonText(ref)
}

// comparePrincipalRoles checks that the (conditional or unconditional) assignments of one
// principal are exactly the wanted scope/role pairs.
func comparePrincipalRoles(assignments []assignment, principal string, conditional bool, want []string) []string {
	var got []string
	for _, a := range assignments {
		if a.principal == principal && a.conditional == conditional {
			got = append(got, a.key())
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if slices.Equal(got, want) {
		return nil
	}
	kind := "unconditional"
	if conditional {
		kind = "conditional"
	}
	return []string{fmt.Sprintf("%s identity has %s role assignments %v, want exactly %v", principal, kind, got, want)}
}

// checkFederatedCredentials requires one credential for the consumer's ServiceAccount and
// one for KEDA's operator, both with the token exchange audience. They must be written one
// after the other because Microsoft Entra ID rejects concurrent writes to the credentials of
// one identity.
func checkFederatedCredentials(set *TemplateSet) []string {
	var problems []string
	mainScope := set.ScopeOf(set.Main)
	consumerSubject := fmt.Sprintf("system:serviceaccount:%v:%v",
		mainScope.Resolve("serviceAccountNamespace"), mainScope.Resolve("serviceAccountName"))

	var credentials []Resource
	subjects := map[string]bool{}
	for _, tpl := range set.All() {
		scope := set.ScopeOf(tpl)
		for _, r := range tpl.Resources() {
			if r.Type != "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials" {
				continue
			}
			credentials = append(credentials, r)
			subjects[fmt.Sprint(scope.Resolve(lookup(r.Body, "properties.subject")))] = true

			audiences, _ := lookup(r.Body, "properties.audiences").([]any)
			resolved := make([]any, 0, len(audiences))
			for _, audience := range audiences {
				resolved = append(resolved, scope.Resolve(audience))
			}
			if jsonText(resolved) != jsonText([]any{workloadIdentityAudience}) {
				problems = append(problems, fmt.Sprintf("%s: properties.audiences is %s, want [%q]", where(r), jsonText(resolved), workloadIdentityAudience))
			}
		}
	}

	for _, subject := range []string{consumerSubject, kedaOperatorSubject} {
		if !subjects[subject] {
			problems = append(problems, fmt.Sprintf("no federated credential has subject %q; found %v", subject, keys(subjects)))
		}
	}
	if len(credentials) != 2 {
		problems = append(problems, fmt.Sprintf("found %d federated credentials, want 2 (consumer and keda-operator)", len(credentials)))
	}
	return append(problems, checkSequential(credentials)...)
}

// checkSequential requires every pair of credentials to be ordered by dependsOn (directly or
// through other credentials), or a credential loop to carry @batchSize(1).
func checkSequential(credentials []Resource) []string {
	var problems []string
	dependsOn := map[string][]string{}
	for _, r := range credentials {
		for _, dependency := range asList(r.Body["dependsOn"]) {
			dependsOn[r.File.Path+"#"+r.Name] = append(dependsOn[r.File.Path+"#"+r.Name], r.File.Path+"#"+fmt.Sprint(dependency))
		}
		if r.Loop && !hasBatchSizeOne(r) {
			problems = append(problems, fmt.Sprintf("%s: loops over federated credentials without @batchSize(1), so they are written in parallel", where(r)))
		}
	}

	var reaches func(from, to string, seen map[string]bool) bool
	reaches = func(from, to string, seen map[string]bool) bool {
		if seen[from] {
			return false
		}
		seen[from] = true
		for _, next := range dependsOn[from] {
			if next == to || reaches(next, to, seen) {
				return true
			}
		}
		return false
	}
	for i, a := range credentials {
		for _, b := range credentials[i+1:] {
			idA, idB := a.File.Path+"#"+a.Name, b.File.Path+"#"+b.Name
			if !reaches(idA, idB, map[string]bool{}) && !reaches(idB, idA, map[string]bool{}) {
				problems = append(problems, fmt.Sprintf("federated credentials %s and %s are not ordered by dependsOn, so they are written at the same time and one fails", idA, idB))
			}
		}
	}
	return problems
}

func hasBatchSizeOne(r Resource) bool {
	for _, raw := range r.Decorators {
		decorator, _ := raw.(map[string]any)
		if decorator["type"] == "batchSize" && jsonText(decorator["argument"]) == "1" {
			return true
		}
	}
	return false
}

func asList(value any) []any {
	list, _ := value.([]any)
	return list
}

// checkStorage pins the storage account's transport and authorization settings and the
// queue, poison queue and table it holds.
func checkStorage(set *TemplateSet) []string {
	var problems []string
	queues := map[string]bool{}
	tables := 0
	accounts := 0
	for _, tpl := range set.All() {
		scope := set.ScopeOf(tpl)
		for _, r := range tpl.Resources() {
			if r.Existing {
				continue
			}
			switch r.Type {
			case "Microsoft.Storage/storageAccounts":
				accounts++
				for path, expected := range map[string]any{
					"kind":                                "StorageV2",
					"properties.minimumTlsVersion":        "TLS1_2",
					"properties.supportsHttpsTrafficOnly": true,
					"properties.allowBlobPublicAccess":    false,
					"properties.allowSharedKeyAccess":     false,
				} {
					if got := scope.Resolve(lookup(r.Body, path)); jsonText(got) != jsonText(expected) {
						problems = append(problems, fmt.Sprintf("%s: %s is %s, want %s", where(r), path, jsonText(got), jsonText(expected)))
					}
				}
			case "Microsoft.Storage/storageAccounts/queueServices/queues":
				queues[fmt.Sprint(scope.Resolve(r.Body["name"]))] = true
			case "Microsoft.Storage/storageAccounts/tableServices/tables":
				tables++
			}
		}
	}

	mainScope := set.ScopeOf(set.Main)
	queue := fmt.Sprint(mainScope.Resolve("queueName"))
	for _, name := range []string{queue, queue + "-poison"} {
		if !queues[name] {
			problems = append(problems, fmt.Sprintf("no queue named %q; found %v", name, keys(queues)))
		}
	}
	if accounts != 1 || tables != 1 {
		problems = append(problems, fmt.Sprintf("found %d storage accounts and %d tables, want 1 of each", accounts, tables))
	}
	return problems
}

// checkRegistry keeps the registry's admin user off: the kubelet pulls with AcrPull.
func checkRegistry(set *TemplateSet) []string {
	var problems []string
	for _, tpl := range set.All() {
		for _, r := range tpl.Resources() {
			if r.Type == "Microsoft.ContainerRegistry/registries" && !r.Existing {
				if admin := lookup(r.Body, "properties.adminUserEnabled"); admin != false {
					problems = append(problems, fmt.Sprintf("%s: properties.adminUserEnabled is %s, want false", where(r), jsonText(admin)))
				}
			}
		}
	}
	return problems
}

// checkNames keeps names deterministic: the suffix is uniqueString(resourceGroup().id, ...)
// and no name calls a function that changes per deployment.
func checkNames(set *TemplateSet) []string {
	var problems []string
	suffix := set.ScopeOf(set.Main).Vars["suffix"]
	base := lookup(suffix, "function.parameters.base_string")
	if functionName(suffix) != "unique_string" || functionName(lookup(base, "operator.operands.operand_1")) != "resource_group" {
		problems = append(problems, fmt.Sprintf("main.bicep: var suffix is %s, want uniqueString(resourceGroup().id, ...) so that names are the same on every redeploy", jsonText(suffix)))
	}
	for _, tpl := range set.All() {
		for _, r := range tpl.Resources() {
			for _, volatile := range []string{"new_guid", "utc_now"} {
				if containsFunction(r.Body, volatile) {
					problems = append(problems, fmt.Sprintf("%s: calls %s(), which changes on every deployment", where(r), volatile))
				}
			}
		}
	}
	return problems
}

// checkOutputs requires main.bicep to output exactly the names of the deployment outputs
// contract.
func checkOutputs(set *TemplateSet) []string {
	got := keys(set.Main.section("outputs"))
	want := slices.Clone(deploymentOutputs)
	sort.Strings(want)
	if slices.Equal(got, want) {
		return nil
	}
	var missing, extra []string
	for _, name := range want {
		if !slices.Contains(got, name) {
			missing = append(missing, name)
		}
	}
	for _, name := range got {
		if !slices.Contains(want, name) {
			extra = append(extra, name)
		}
	}
	return []string{fmt.Sprintf("main.bicep outputs are missing %v and have extra %v; edwctl install reads exactly %v", missing, extra, want)}
}
