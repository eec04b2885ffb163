package storage

import (
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aks-edw/aks-edw/internal/config"
)

// Environment variables of Azure identity. The AKS workload identity webhook injects the
// first three (and AZURE_AUTHORITY_HOST) into pods labelled azure.workload.identity/use=true.
const (
	envClientID         = "AZURE_CLIENT_ID"
	envTenantID         = "AZURE_TENANT_ID"
	envTokenFile        = "AZURE_FEDERATED_TOKEN_FILE"
	envClientSecret     = "AZURE_CLIENT_SECRET"
	envClientCert       = "AZURE_CLIENT_CERTIFICATE_PATH"
	envKubernetesHost   = "KUBERNETES_SERVICE_HOST"
	workloadIdentityFix = `add the label azure.workload.identity/use: "true" to the pod template (the aks-edw chart sets it when auth.mode is workloadIdentity) and give the ServiceAccount the annotation azure.workload.identity/client-id`
)

// NewCredential chooses the Azure identity for mode and returns it with a description for
// logs. In mode auto it takes workload identity when AZURE_FEDERATED_TOKEN_FILE is set, and
// DefaultAzureCredential otherwise. The exception is a pod with AZURE_CLIENT_ID and
// AZURE_TENANT_ID but no token file, client secret or certificate. Such a pod was meant for
// workload identity and lacks the label that makes the webhook inject the token, so
// NewCredential returns a *config.UsageError naming that label at once, before any request.
func NewCredential(mode string, getenv config.Getenv) (azcore.TokenCredential, string, error) {
	tokenFile := getenv(envTokenFile)
	clientID := getenv(envClientID)
	tenantID := getenv(envTenantID)

	workloadIdentity := mode == config.AuthWorkloadIdentity
	if mode == config.AuthAuto {
		switch {
		case tokenFile != "":
			workloadIdentity = true
		case clientID != "" && tenantID != "" && getenv(envKubernetesHost) != "" &&
			getenv(envClientSecret) == "" && getenv(envClientCert) == "":
			workloadIdentity = true
		}
	}

	if !workloadIdentity {
		credential, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, "", fmt.Errorf("creating DefaultAzureCredential: %w", err)
		}
		return credential, "DefaultAzureCredential", nil
	}

	if tokenFile == "" {
		return nil, "", config.Invalid("workload identity is configured but %s is not set, so the workload identity webhook injected no token into this pod: %s",
			envTokenFile, workloadIdentityFix)
	}
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, "", config.Invalid("workload identity token file %s (%s) cannot be read (%v): %s",
			tokenFile, envTokenFile, err, workloadIdentityFix)
	}
	if clientID == "" || tenantID == "" {
		return nil, "", config.Invalid("workload identity needs %s and %s, and one is empty: %s",
			envClientID, envTenantID, workloadIdentityFix)
	}

	credential, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientID:      clientID,
		TenantID:      tenantID,
		TokenFilePath: tokenFile,
	})
	if err != nil {
		return nil, "", fmt.Errorf("creating the workload identity credential for client %s: %w", clientID, err)
	}
	return credential, "workload identity (client " + clientID + ")", nil
}
