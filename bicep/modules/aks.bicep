// AKS cluster for the queue-driven workload: node autoprovisioning (Karpenter) adds and
// removes nodes, the KEDA add-on scales the consumer, and workload identity gives pods
// Microsoft Entra ID tokens.
//
// Node autoprovisioning supports only some cluster settings, so these are fixed here rather
// than exposed as parameters: Azure CNI in overlay mode with the Cilium dataplane (kubenet
// and Calico network policy are unsupported), IPv4 only (IPv6 clusters are unsupported),
// public network access Enabled, and no node pool with the cluster autoscaler (node
// autoprovisioning cannot be enabled next to one). test/bicep fails when one of them drifts.

@description('Azure region of the cluster.')
param location string

@description('Name of the AKS cluster.')
param clusterName string

@description('Kubernetes version. Empty selects the default version of the region.')
param kubernetesVersion string = ''

@description('Pricing tier of the control plane. Standard adds the uptime SLA.')
@allowed([
  'Free'
  'Standard'
])
param skuTier string = 'Free'

@description('VM size of the system node pool.')
param systemNodeVmSize string = 'Standard_D2s_v5'

@description('Number of nodes in the system node pool. It stays fixed: node autoprovisioning adds every other node.')
@minValue(1)
@maxValue(10)
param systemNodeCount int = 2

@description('Source address ranges allowed to reach the API server, in CIDR notation. Empty allows every address.')
param apiServerAuthorizedIpRanges array = []

@description('Name of the existing container registry the kubelet pulls images from.')
param registryName string

@description('Resource ID of the Log Analytics workspace for Container Insights. Empty turns Container Insights off.')
param logAnalyticsWorkspaceId string = ''

@description('Resource ID of the Container Insights data collection rule. Used only with logAnalyticsWorkspaceId.')
param dataCollectionRuleId string = ''

@description('Tags applied to every resource.')
param tags object = {}

// Built-in AcrPull role.
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

var containerInsightsEnabled = !empty(logAnalyticsWorkspaceId)

var monitoringAddonProfiles = {
  omsagent: {
    enabled: true
    config: {
      logAnalyticsWorkspaceResourceID: logAnalyticsWorkspaceId
      useAADAuth: 'true'
    }
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource cluster 'Microsoft.ContainerService/managedClusters@2025-05-01' = {
  // checkov:skip=CKV_AZURE_141: local accounts stay on so that az aks get-credentials works without kubelogin and Microsoft Entra ID cluster roles.
  // checkov:skip=CKV_AZURE_226: the default system VM size has no local temporary disk for an ephemeral OS disk, and node autoprovisioning picks the disks of every other node.
  // checkov:skip=CKV_AZURE_227: encryption at host needs the EncryptionAtHost feature registered on the subscription, which this deployment does not assume.
  // checkov:skip=CKV_AZURE_8: the Kubernetes dashboard add-on does not exist on supported AKS versions, so there is nothing to disable.
  // checkov:skip=CKV_AZURE_172: the Secrets Store CSI driver add-on is not enabled; the workload reads no secrets from Key Vault.
  // checkov:skip=CKV_AZURE_4: Container Insights is optional (enableContainerInsights in main.bicep) because a Log Analytics workspace costs money per GB ingested.
  name: clusterName
  location: location
  tags: tags
  sku: {
    name: 'Base'
    tier: skuTier
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    kubernetesVersion: empty(kubernetesVersion) ? null : kubernetesVersion
    dnsPrefix: clusterName
    enableRBAC: true
    publicNetworkAccess: 'Enabled'
    apiServerAccessProfile: {
      authorizedIPRanges: apiServerAuthorizedIpRanges
    }
    nodeProvisioningProfile: {
      mode: 'Auto'
    }
    workloadAutoScalerProfile: {
      keda: {
        enabled: true
      }
    }
    oidcIssuerProfile: {
      enabled: true
    }
    securityProfile: {
      workloadIdentity: {
        enabled: true
      }
    }
    autoUpgradeProfile: {
      upgradeChannel: 'patch'
      nodeOSUpgradeChannel: 'NodeImage'
    }
    networkProfile: {
      networkPlugin: 'azure'
      networkPluginMode: 'overlay'
      networkDataplane: 'cilium'
      networkPolicy: 'cilium'
      ipFamilies: [
        'IPv4'
      ]
      podCidr: '10.244.0.0/16'
      serviceCidr: '10.0.0.0/16'
      dnsServiceIP: '10.0.0.10'
      loadBalancerSku: 'standard'
      outboundType: 'loadBalancer'
    }
    agentPoolProfiles: [
      {
        // The only VM scale set pool. Its taint keeps application pods off it, so every
        // consumer pod lands on a node that node autoprovisioning created.
        name: 'system'
        mode: 'System'
        type: 'VirtualMachineScaleSets'
        osType: 'Linux'
        vmSize: systemNodeVmSize
        count: systemNodeCount
        enableAutoScaling: false
        maxPods: 110
        nodeTaints: [
          'CriticalAddonsOnly=true:NoSchedule'
        ]
      }
    ]
    addonProfiles: containerInsightsEnabled ? monitoringAddonProfiles : {}
  }
}

resource kubeletAcrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, cluster.id, acrPullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: cluster.properties.identityProfile.kubeletidentity.objectId
    principalType: 'ServicePrincipal'
  }
}

resource containerInsightsAssociation 'Microsoft.Insights/dataCollectionRuleAssociations@2022-06-01' = if (containerInsightsEnabled) {
  name: 'ContainerInsightsExtension'
  scope: cluster
  properties: {
    description: 'Sends the Container Insights data of this cluster through the data collection rule.'
    dataCollectionRuleId: dataCollectionRuleId
  }
}

output clusterName string = cluster.name
output clusterId string = cluster.id
output oidcIssuerUrl string = cluster.properties.oidcIssuerProfile.issuerURL
output kubeletObjectId string = cluster.properties.identityProfile.kubeletidentity.objectId
