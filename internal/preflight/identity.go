package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// ClientIDAnnotation is the ServiceAccount annotation that names the Azure identity whose
	// tokens the workload identity webhook injects.
	ClientIDAnnotation = "azure.workload.identity/client-id"
	// UseLabel is the pod label that makes the workload identity webhook inject the token.
	UseLabel = "azure.workload.identity/use"
	// FederatedTokenFileEnv is the variable the webhook injects into each container.
	FederatedTokenFileEnv = "AZURE_FEDERATED_TOKEN_FILE"
	// TokenExchangeAudience is the audience every federated identity credential for AKS
	// workload identity carries.
	TokenExchangeAudience = "api://AzureADTokenExchange"
	// KEDAOperatorName is the name of KEDA operator's Deployment and ServiceAccount, both in the
	// AKS add-on and in KEDA's Helm chart.
	KEDAOperatorName = "keda-operator"
	// webhookConfigurationName is the MutatingWebhookConfiguration that the AKS workload identity
	// add-on and the azure-workload-identity Helm chart install.
	webhookConfigurationName = "azure-wi-webhook-mutating-webhook-configuration"
)

// defaultKEDASubject is the KEDA operator's subject with the AKS add-on.
var defaultKEDASubject = ServiceAccountSubject("kube-system", KEDAOperatorName)

// KEDAOperatorNamespaces are the namespaces searched for the KEDA operator: kube-system for the
// AKS add-on, keda for KEDA's Helm chart.
var KEDAOperatorNamespaces = []string{"kube-system", "keda"}

func checkWorkloadIdentity(ctx context.Context, c *clients, config Config) []Result {
	identity := config.WorkloadIdentity
	results := []Result{
		checkConsumerSubject(config),
		checkClientID(config),
		checkWebhook(ctx, c, config),
	}
	subjects := []string{identity.Subject()}
	if identity.KEDAOperator {
		result, kedaSubject := checkKEDAOperator(ctx, c, config)
		results = append(results, result)
		subjects = append(subjects, kedaSubject)
	}
	return append(results, checkFederatedCredentials(ctx, config, subjects)...)
}

// checkConsumerSubject compares the consumer ServiceAccount's subject with the one the
// infrastructure deployment gave the federated credential.
func checkConsumerSubject(config Config) Result {
	identity := config.WorkloadIdentity
	subject := identity.Subject()
	if identity.ExpectedSubject == "" {
		return Result{
			Check:   "federated-subject",
			Status:  Pass,
			Message: fmt.Sprintf("the identity's federated credential must carry subject %s and audience %s (not compared: no deployment outputs given)", subject, TokenExchangeAudience),
		}
	}
	if identity.ExpectedSubject != subject {
		expectedNamespace, expectedName := splitSubject(identity.ExpectedSubject)
		return Result{
			Check:  "federated-subject",
			Status: Fail,
			Message: fmt.Sprintf("the consumer's ServiceAccount subject is %s but the federated credential in the deployment outputs is for %s, so Azure rejects its token",
				subject, identity.ExpectedSubject),
			Fix: fmt.Sprintf("install into namespace %s with serviceAccount.name=%s, or redeploy the infrastructure with serviceAccountNamespace=%s and serviceAccountName=%s",
				expectedNamespace, expectedName, identity.ServiceAccountNamespace, identity.ServiceAccountName),
		}
	}
	return Result{
		Check:   "federated-subject",
		Status:  Pass,
		Message: fmt.Sprintf("consumer ServiceAccount subject %s matches the federated credential in the deployment outputs", subject),
	}
}

func splitSubject(subject string) (namespace, name string) {
	parts := strings.Split(subject, ":")
	if len(parts) != 4 {
		return "<namespace>", "<name>"
	}
	return parts[2], parts[3]
}

func checkClientID(config Config) Result {
	identity := config.WorkloadIdentity
	account := identity.ServiceAccountNamespace + "/" + identity.ServiceAccountName
	switch {
	case identity.ClientID == "":
		return Result{
			Check:   "client-id",
			Status:  Fail,
			Message: fmt.Sprintf("ServiceAccount %s has no %s annotation, so the webhook injects no token", account, ClientIDAnnotation),
			Fix:     "set the identity's client id in the chart values (--outputs with the deployment outputs file sets it)",
		}
	case identity.ExpectedClientID != "" && identity.ExpectedClientID != identity.ClientID:
		return Result{
			Check:   "client-id",
			Status:  Fail,
			Message: fmt.Sprintf("ServiceAccount %s names client id %s but the deployment outputs give %s", account, identity.ClientID, identity.ExpectedClientID),
			Fix:     "drop the value that overrides the client id, or pass the outputs file of this cluster's deployment",
		}
	}
	return Result{Check: "client-id", Status: Pass, Message: fmt.Sprintf("ServiceAccount %s names client id %s", account, identity.ClientID)}
}

func checkWebhook(ctx context.Context, c *clients, config Config) Result {
	_, err := c.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhookConfigurationName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Result{
			Check:   "workload-identity-webhook",
			Status:  Fail,
			Message: fmt.Sprintf("MutatingWebhookConfiguration %s not found, so no pod gets %s", webhookConfigurationName, FederatedTokenFileEnv),
			Fix:     azCommand(config, "az aks update", "--enable-oidc-issuer --enable-workload-identity"),
		}
	case err != nil:
		return Result{
			Check:   "workload-identity-webhook",
			Status:  Warn,
			Message: fmt.Sprintf("could not read MutatingWebhookConfiguration %s: %v", webhookConfigurationName, err),
			Fix:     "check that the workload identity webhook is installed: kubectl get mutatingwebhookconfiguration " + webhookConfigurationName,
		}
	}
	return Result{Check: "workload-identity-webhook", Status: Pass, Message: "the workload identity webhook is installed"}
}

// checkKEDAOperator checks that KEDA's operator can get a token for the identity the
// TriggerAuthentication names. Its pods must carry the webhook's label and have the injected
// token file, which the webhook adds only to pods created after the label exists. It also
// returns the subject of the operator's ServiceAccount, kube-system:keda-operator when no
// operator is found.
func checkKEDAOperator(ctx context.Context, c *clients, config Config) (Result, string) {
	deployments := c.kube.AppsV1().Deployments
	var namespace string
	var selector *metav1.LabelSelector
	var serviceAccount string
	var lookupErrors []string
	for _, candidate := range KEDAOperatorNamespaces {
		deployment, err := deployments(candidate).Get(ctx, KEDAOperatorName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			lookupErrors = append(lookupErrors, fmt.Sprintf("%s: %v", candidate, err))
			continue
		}
		namespace = candidate
		selector = deployment.Spec.Selector
		serviceAccount = deployment.Spec.Template.Spec.ServiceAccountName
		break
	}
	if namespace == "" {
		message := fmt.Sprintf("Deployment %s not found in %s", KEDAOperatorName, strings.Join(KEDAOperatorNamespaces, " or "))
		if len(lookupErrors) > 0 {
			message += " (" + strings.Join(lookupErrors, "; ") + ")"
		}
		return Result{Check: "keda-identity", Status: Fail, Message: message, Fix: kedaProvider.fix(config)}, defaultKEDASubject
	}
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	subject := ServiceAccountSubject(namespace, serviceAccount)
	fix := kedaIdentityFix(config, namespace, subject)

	labelSelector, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return Result{Check: "keda-identity", Status: Warn, Message: fmt.Sprintf("Deployment %s/%s has an invalid selector: %v", namespace, KEDAOperatorName, err), Fix: fix}, subject
	}
	pods, err := c.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labelSelector.String()})
	if err != nil {
		return Result{Check: "keda-identity", Status: Warn, Message: fmt.Sprintf("could not list the pods of Deployment %s/%s: %v", namespace, KEDAOperatorName, err), Fix: fix}, subject
	}
	if len(pods.Items) == 0 {
		return Result{
			Check:   "keda-identity",
			Status:  Fail,
			Message: fmt.Sprintf("Deployment %s/%s has no pods, so nothing requests tokens for the TriggerAuthentication", namespace, KEDAOperatorName),
			Fix:     fmt.Sprintf("kubectl -n %s rollout status deployment %s, and read its events", namespace, KEDAOperatorName),
		}, subject
	}

	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for i := range pods.Items {
		pod := &pods.Items[i]
		if problem := kedaPodProblem(pod); problem != "" {
			return Result{
				Check:   "keda-identity",
				Status:  Fail,
				Message: fmt.Sprintf("KEDA operator pod %s/%s %s, so KEDA cannot read the queue with workload identity", namespace, pod.Name, problem),
				Fix:     fix,
			}, subject
		}
	}
	return Result{
		Check:  "keda-identity",
		Status: Pass,
		Message: fmt.Sprintf("KEDA operator pods in %s have %s; the identity also needs a federated credential for %s (audience %s)",
			namespace, FederatedTokenFileEnv, subject, TokenExchangeAudience),
	}, subject
}

// kedaPodProblem returns what keeps pod from getting a workload identity token, or "".
func kedaPodProblem(pod *corev1.Pod) string {
	var problems []string
	if pod.Labels[UseLabel] != "true" {
		problems = append(problems, fmt.Sprintf("lacks the label %s=true", UseLabel))
	}
	if !hasEnv(pod, FederatedTokenFileEnv) {
		problems = append(problems, fmt.Sprintf("has no %s", FederatedTokenFileEnv))
	}
	return strings.Join(problems, " and ")
}

func hasEnv(pod *corev1.Pod, name string) bool {
	for _, container := range pod.Spec.Containers {
		for _, env := range container.Env {
			if env.Name == name {
				return true
			}
		}
	}
	return false
}

// kedaIdentityFix returns the three steps that give KEDA's operator a token: a second federated
// credential on the same identity for the operator's ServiceAccount, the webhook label on its
// pods, and a restart so the webhook injects the token.
func kedaIdentityFix(config Config, namespace, subject string) string {
	group := config.ResourceGroup
	if group == "" {
		group = "<group>"
	}
	issuer := config.OIDCIssuerURL
	if issuer == "" {
		issuer = "<cluster OIDC issuer URL>"
	}
	return fmt.Sprintf("add a second federated credential on the identity (client id %s) for the operator: az identity federated-credential create --name %s --identity-name <identity> --resource-group %s --issuer %s --subject %s --audience %s; make sure the operator's pods carry %s=true (on AKS the KEDA add-on sets it when workload identity is on); then kubectl -n %s rollout restart deployment %s",
		clientIDOrPlaceholder(config.WorkloadIdentity), KEDAOperatorName, group, issuer, subject, TokenExchangeAudience, UseLabel, namespace, KEDAOperatorName)
}

func clientIDOrPlaceholder(identity *WorkloadIdentity) string {
	switch {
	case identity.KEDAIdentityID != "":
		return identity.KEDAIdentityID
	case identity.ClientID != "":
		return identity.ClientID
	}
	return "<client id>"
}
