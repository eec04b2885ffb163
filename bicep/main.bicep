// aks-edw infrastructure: a storage queue and table, a container registry, an AKS cluster
// with node autoprovisioning and the KEDA add-on, and the workload identity that the
// consumer and KEDA use to reach the storage account.
//
// Deploy into an existing resource group:
//   az deployment group create --resource-group RG --parameters bicep/main.bicepparam
// `edwctl deploy` does the same and saves the outputs below for `edwctl install`.
//
// Names get a suffix from uniqueString(resourceGroup().id, baseName), so they are globally
// unique yet the same on every redeploy of the same resource group; a redeploy with the
// same parameters changes nothing.

targetScope = 'resourceGroup'

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Short prefix for resource names: 2-8 lowercase letters and digits.')
@minLength(2)
@maxLength(8)
param baseName string = 'edw'

@description('Name of the work queue: 3-56 lowercase letters, digits and single hyphens. The poison queue is this name plus -poison.')
@minLength(3)
@maxLength(56)
param queueName string = 'edw-messages'

@description('Name of the result table: 3-63 letters and digits, starting with a letter.')
@minLength(3)
@maxLength(63)
param tableName string = 'edwrows'

@description('Allow account-key (shared key) and SAS authorization on the storage account. Off by default, so only Microsoft Entra ID tokens work.')
param allowSharedKeyAccess bool = false

@description('Kubernetes namespace of the consumer ServiceAccount.')
param serviceAccountNamespace string = 'aks-edw'

@description('Name of the consumer ServiceAccount.')
param serviceAccountName string = 'aks-edw-consumer'

@description('Kubernetes version. Empty selects the default version of the region.')
param kubernetesVersion string = ''

@description('Pricing tier of the AKS control plane.')
@allowed([
  'Free'
  'Standard'
])
param clusterSkuTier string = 'Free'

@description('VM size of the fixed-size system node pool.')
param systemNodeVmSize string = 'Standard_D2s_v5'

@description('Number of nodes in the system node pool.')
@minValue(1)
@maxValue(10)
param systemNodeCount int = 2

@description('Source address ranges allowed to reach the API server, in CIDR notation. Empty allows every address.')
param apiServerAuthorizedIpRanges array = []

@description('Create a Log Analytics workspace and turn on Container Insights.')
param enableContainerInsights bool = false

@description('Also let the workload identity add messages to the work queue, for an in-cluster producer Job.')
param workloadCanSend bool = false

@description('Object ID of the person or CI principal running the deployment, granted enough to produce messages and read results. Empty grants nothing.')
param operatorPrincipalId string = ''

@description('Kind of principal that operatorPrincipalId names.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

@description('Tags applied to every resource.')
param tags object = {
  app: 'aks-edw'
}

var suffix = uniqueString(resourceGroup().id, baseName)
var names = {
  storageAccount: take('st${baseName}${suffix}', 24)
  registry: 'cr${baseName}${suffix}'
  cluster: 'aks-${baseName}-${suffix}'
  identity: 'id-${baseName}-${suffix}'
  workspace: 'log-${baseName}-${suffix}'
  dataCollectionRule: 'MSCI-${location}-aks-${baseName}-${suffix}'
}
var poisonQueueName = '${queueName}-poison'

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    storageAccountName: names.storageAccount
    queueName: queueName
    poisonQueueName: poisonQueueName
    tableName: tableName
    allowSharedKeyAccess: allowSharedKeyAccess
    tags: tags
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    location: location
    registryName: names.registry
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = if (enableContainerInsights) {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: names.workspace
    dataCollectionRuleName: names.dataCollectionRule
    tags: tags
  }
}

module aks 'modules/aks.bicep' = {
  name: 'aks'
  params: {
    location: location
    clusterName: names.cluster
    kubernetesVersion: kubernetesVersion
    skuTier: clusterSkuTier
    systemNodeVmSize: systemNodeVmSize
    systemNodeCount: systemNodeCount
    apiServerAuthorizedIpRanges: apiServerAuthorizedIpRanges
    registryName: registry.outputs.registryName
    logAnalyticsWorkspaceId: enableContainerInsights ? monitoring.outputs.workspaceId : ''
    dataCollectionRuleId: enableContainerInsights ? monitoring.outputs.dataCollectionRuleId : ''
    tags: tags
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    identityName: names.identity
    tags: tags
  }
}

module storageRoles 'modules/storage-roles.bicep' = {
  name: 'storage-roles'
  params: {
    storageAccountName: storage.outputs.storageAccountName
    queueName: storage.outputs.queueName
    poisonQueueName: storage.outputs.poisonQueueName
    tableName: storage.outputs.tableName
    workloadPrincipalId: identity.outputs.principalId
    workloadCanSend: workloadCanSend
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module federatedCredentials 'modules/federated-credentials.bicep' = {
  name: 'federated-credentials'
  params: {
    identityName: identity.outputs.identityName
    issuerUrl: aks.outputs.oidcIssuerUrl
    serviceAccountNamespace: serviceAccountNamespace
    serviceAccountName: serviceAccountName
    kedaNamespace: 'kube-system'
    kedaServiceAccountName: 'keda-operator'
  }
}

// The names below are the deployment outputs contract that `edwctl install --outputs`
// reads; keep them in step with internal/deploy.
output storageAccountName string = storage.outputs.storageAccountName
output queueName string = storage.outputs.queueName
output poisonQueueName string = storage.outputs.poisonQueueName
output tableName string = storage.outputs.tableName
output storageEndpointSuffix string = environment().suffixes.storage
output registryName string = registry.outputs.registryName
output registryLoginServer string = registry.outputs.loginServer
output clusterName string = aks.outputs.clusterName
output resourceGroupName string = resourceGroup().name
output oidcIssuerUrl string = aks.outputs.oidcIssuerUrl
output workloadIdentityClientId string = identity.outputs.clientId
output tenantId string = identity.outputs.tenantId
output serviceAccountNamespace string = serviceAccountNamespace
output serviceAccountName string = serviceAccountName
