// Container registry for the consumer and producer images. Images are pushed with
// `az acr build` and pulled by the cluster's kubelet identity, so no admin user is needed.

@description('Azure region of the registry.')
param location string

@description('Globally unique registry name: 5-50 letters and digits.')
@minLength(5)
@maxLength(50)
param registryName string

@description('Registry SKU. Basic is enough for one cluster pulling two small images.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param skuName string = 'Basic'

@description('Tags applied to every resource.')
param tags object = {}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: az acr build and the AKS kubelet reach the registry over its public endpoint; private access needs the Premium SKU and a virtual network.
  // checkov:skip=CKV_AZURE_163: vulnerability scanning is a Microsoft Defender for Containers plan on the subscription, not a registry property.
  // checkov:skip=CKV_AZURE_166: image quarantine needs the Premium SKU; the images here are built from this repository by az acr build.
  name: registryName
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

output registryName string = registry.name
output registryId string = registry.id
output loginServer string = registry.properties.loginServer
