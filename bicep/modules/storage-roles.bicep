// Data-plane role assignments on the storage account, each scoped to the single queue or
// table it is for.
//
// Which built-in role covers which operation (actions from the Azure Storage REST API's
// "Authorize with Microsoft Entra ID" permission tables and the built-in role definitions):
// - Storage Queue Data Message Processor on the work queue: Get Messages and Delete Message
//   (messages/process/action) and Peek Messages (messages/read). This is the consumer's
//   receive/delete path. It does not include Update Message (messages/write).
// - Storage Queue Data Reader on the work queue: Get Queue Metadata, which returns the
//   approximate message count, needs queueServices/queues/read, an action that the Message
//   Processor role lacks. KEDA's azure-queue scaler reads that count (queueLengthStrategy
//   all) and peeks up to 32 messages (visibleonly), so it needs this role.
// - Storage Queue Data Message Sender on the poison queue: Put Message (messages/add/action).
//   Storage Queue Data Contributor is not needed to move a message to the poison queue.
// - Storage Queue Data Reader on the poison queue: the consumer's startup check reads the
//   properties of both queues (queues/read).
// - Storage Table Data Contributor on the table: Insert Or Replace Entity and Insert Or Merge
//   Entity (entities/write). There is no narrower built-in table role that can write.
//
// The consumer and KEDA share one identity, so that identity holds the union of both sets.
// NOTE: Update Message (messages/write) is in no role granted here, so when the consumer
// stops with received but unstarted messages it cannot make them visible again at once. They
// become visible when their visibility timeout ends. Storage Queue Data Contributor would
// allow it, at the price of queue delete and metadata write.
//
// Each assignment sets principalType so that Azure does not look the new principal up in
// Microsoft Entra ID, which fails with PrincipalNotFound while the identity is still
// replicating. Names are guid() of scope, principal and role, so a redeploy is a no-op.

@description('Name of the existing storage account.')
param storageAccountName string

@description('Name of the work queue.')
param queueName string

@description('Name of the poison queue.')
param poisonQueueName string

@description('Name of the result table.')
param tableName string

@description('Principal (object) ID of the workload identity used by the consumer and KEDA.')
param workloadPrincipalId string

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

// Built-in role definition IDs, the same in every Azure cloud and tenant.
var roleIds = {
  queueDataMessageProcessor: '8a0f0c08-91a1-4084-bc3d-661d67233fed'
  queueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  queueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  tableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
}

var grantOperator = !empty(operatorPrincipalId)

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource queue 'queues' existing = {
      name: queueName
    }

    resource poisonQueue 'queues' existing = {
      name: poisonQueueName
    }
  }

  resource tableService 'tableServices' existing = {
    name: 'default'

    resource table 'tables' existing = {
      name: tableName
    }
  }
}

resource workloadQueueProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account::queueService::queue.id, workloadPrincipalId, roleIds.queueDataMessageProcessor)
  scope: account::queueService::queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataMessageProcessor)
    principalId: workloadPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workloadQueueReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account::queueService::queue.id, workloadPrincipalId, roleIds.queueDataReader)
  scope: account::queueService::queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataReader)
    principalId: workloadPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workloadPoisonSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account::queueService::poisonQueue.id, workloadPrincipalId, roleIds.queueDataMessageSender)
  scope: account::queueService::poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataMessageSender)
    principalId: workloadPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workloadPoisonReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account::queueService::poisonQueue.id, workloadPrincipalId, roleIds.queueDataReader)
  scope: account::queueService::poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataReader)
    principalId: workloadPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workloadTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account::tableService::table.id, workloadPrincipalId, roleIds.tableDataContributor)
  scope: account::tableService::table
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.tableDataContributor)
    principalId: workloadPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workloadQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (workloadCanSend) {
  name: guid(account::queueService::queue.id, workloadPrincipalId, roleIds.queueDataMessageSender)
  scope: account::queueService::queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataMessageSender)
    principalId: workloadPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The operator produces test messages, watches both queues and counts rows; the same
// reasoning as above picks Message Sender, Reader and Table Data Reader.
resource operatorQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantOperator) {
  name: guid(account::queueService::queue.id, operatorPrincipalId, roleIds.queueDataMessageSender)
  scope: account::queueService::queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataMessageSender)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorQueueReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantOperator) {
  name: guid(account::queueService::queue.id, operatorPrincipalId, roleIds.queueDataReader)
  scope: account::queueService::queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorPoisonReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantOperator) {
  name: guid(account::queueService::poisonQueue.id, operatorPrincipalId, roleIds.queueDataReader)
  scope: account::queueService::poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.queueDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorTableReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantOperator) {
  name: guid(account::tableService::table.id, operatorPrincipalId, roleIds.tableDataReader)
  scope: account::tableService::table
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.tableDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
