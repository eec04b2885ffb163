// Parameters for a manual deployment:
//   az group create --name RG --location LOCATION
//   az deployment group create --resource-group RG --parameters bicep/main.bicepparam
// `edwctl deploy` passes the same values as command-line parameters instead.
using './main.bicep'

param baseName = 'edw'
param queueName = 'edw-messages'
param tableName = 'edwrows'
param allowSharedKeyAccess = false
param serviceAccountNamespace = 'aks-edw'
param serviceAccountName = 'aks-edw-consumer'
param clusterSkuTier = 'Free'
param systemNodeVmSize = 'Standard_D2s_v5'
param systemNodeCount = 2
param enableContainerInsights = false
param workloadCanSend = false
