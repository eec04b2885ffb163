// Federated identity credentials that let two Kubernetes ServiceAccounts exchange their
// projected tokens for tokens of the workload identity: the consumer's own ServiceAccount,
// and KEDA's operator, which authenticates the azure-queue scaler with the same identity
// when the TriggerAuthentication uses `podIdentity.provider: azure-workload`.
//
// Microsoft Entra ID rejects concurrent writes to the federated credentials of one
// identity, so the second credential depends on the first and they are created one after
// the other.

@description('Name of the existing user-assigned managed identity.')
param identityName string

@description('OIDC issuer URL of the AKS cluster.')
param issuerUrl string

@description('Namespace of the consumer ServiceAccount.')
param serviceAccountNamespace string

@description('Name of the consumer ServiceAccount.')
param serviceAccountName string

@description('Namespace of the KEDA operator ServiceAccount. The AKS KEDA add-on runs it in kube-system.')
param kedaNamespace string = 'kube-system'

@description('Name of the KEDA operator ServiceAccount.')
param kedaServiceAccountName string = 'keda-operator'

// The only audience Microsoft Entra ID accepts for workload identity federation.
var audience = 'api://AzureADTokenExchange'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource consumerCredential 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: identity
  name: 'consumer'
  properties: {
    issuer: issuerUrl
    subject: 'system:serviceaccount:${serviceAccountNamespace}:${serviceAccountName}'
    audiences: [
      audience
    ]
  }
}

resource kedaCredential 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: identity
  name: 'keda-operator'
  properties: {
    issuer: issuerUrl
    subject: 'system:serviceaccount:${kedaNamespace}:${kedaServiceAccountName}'
    audiences: [
      audience
    ]
  }
  dependsOn: [
    consumerCredential
  ]
}

output consumerSubject string = consumerCredential.properties.subject
output kedaSubject string = kedaCredential.properties.subject
