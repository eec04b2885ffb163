// User-assigned managed identity that the consumer and KEDA's operator both use through
// workload identity.

@description('Azure region of the identity.')
param location string

@description('Name of the user-assigned managed identity.')
param identityName string

@description('Tags applied to every resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

output identityName string = identity.name
output identityId string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
output tenantId string = identity.properties.tenantId
