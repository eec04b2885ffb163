// Storage account with the work queue, its poison queue and the result table.

@description('Azure region of the storage account.')
param location string

@description('Globally unique storage account name: 3-24 lowercase letters and digits.')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Name of the queue the producer fills and the consumer drains.')
@minLength(3)
@maxLength(56)
param queueName string

@description('Name of the queue that receives messages the consumer cannot process.')
@minLength(3)
@maxLength(63)
param poisonQueueName string

@description('Name of the table the consumer writes one row per message to.')
@minLength(3)
@maxLength(63)
param tableName string

@description('Allow account-key (shared key) and SAS authorization. Off by default, so only Microsoft Entra ID tokens work.')
param allowSharedKeyAccess bool = false

@description('Replication SKU of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_LRS'

@description('Tags applied to every resource.')
param tags object = {}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: consumer pods run on autoprovisioned nodes whose egress addresses are not known in advance, so a firewall rule cannot list them; every request needs a Microsoft Entra ID token instead.
  // checkov:skip=CKV_AZURE_59: the cluster reaches the account over its public endpoint for the reason given for CKV_AZURE_35; a private endpoint needs a virtual network that this deployment does not create.
  // checkov:skip=CKV_AZURE_206: replication is the skuName parameter; locally redundant storage is the default for a disposable demo.
  // checkov:skip=CKV_AZURE_43: the name is the storageAccountName parameter, built in main.bicep from lowercase letters and digits; checkov reads the parameter's identifier as the literal name.
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: poisonQueueName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource table 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: tableName
}

output storageAccountName string = account.name
output storageAccountId string = account.id
output queueName string = queue.name
output poisonQueueName string = poisonQueue.name
output tableName string = table.name
