{{/*
Names, labels and small value conversions shared by the templates.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "aks-edw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: fullnameOverride, else the release name when it already contains
the chart name, else `<release>-<chart>`. Truncated to 63 characters because some names become
label values.
*/}}
{{- define "aks-edw.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the consumer's Deployment, ScaledObject and TriggerAuthentication. */}}
{{- define "aks-edw.consumerName" -}}
{{- printf "%s-consumer" (include "aks-edw.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "aks-edw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "aks-edw.labels" -}}
helm.sh/chart: {{ include "aks-edw.chart" . }}
{{ include "aks-edw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aks-edw
{{- end }}

{{/*
Selector labels. Only name and instance, because a Deployment's selector is immutable and
must not change when the chart version or a component label changes.
*/}}
{{- define "aks-edw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aks-edw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the consumer's objects and pods. */}}
{{- define "aks-edw.consumerLabels" -}}
{{ include "aks-edw.labels" . }}
app.kubernetes.io/component: consumer
{{- end }}

{{/* Name of the consumer's ServiceAccount. */}}
{{- define "aks-edw.serviceAccountName" -}}
{{- default (include "aks-edw.consumerName" .) .Values.serviceAccount.name }}
{{- end }}

{{/* Whether the consumer authenticates with workload identity ("true" or ""). */}}
{{- define "aks-edw.workloadIdentity" -}}
{{- if eq .Values.auth.mode "workloadIdentity" }}true{{ end }}
{{- end }}

{{/* Consumer image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "aks-edw.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret that holds the connection string. */}}
{{- define "aks-edw.connectionSecretName" -}}
{{- default (printf "%s-storage" (include "aks-edw.fullname" .)) .Values.auth.connectionString.existingSecret }}
{{- end }}

{{/* Poison queue name: storage.poisonQueueName, else `<queueName>-poison`. */}}
{{- define "aks-edw.poisonQueueName" -}}
{{- default (printf "%s-poison" .Values.storage.queueName) .Values.storage.poisonQueueName }}
{{- end }}

{{/*
Decimal string of a count given as an integer or a numeric string. YAML numbers reach templates
as float64, which plain printing turns into 1e+06 for large values, so the value goes through
int64 first.
*/}}
{{- define "aks-edw.countString" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ int64 . }}{{ end }}
{{- end }}

{{/*
Whole seconds in a Go duration string such as "20s", "1m30s" or "500ms", rounded up. The values
schema has already checked the format.
*/}}
{{- define "aks-edw.durationSeconds" -}}
{{- $unitSeconds := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll `[0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h)` . -1 }}
{{- $number := regexFind `^[0-9]+(\.[0-9]+)?` . }}
{{- $unit := trimPrefix $number . }}
{{- $total = addf $total (mulf (float64 $number) (get $unitSeconds $unit)) }}
{{- end }}
{{- ceil $total | int64 }}
{{- end }}

{{/*
Nanoseconds in a Go duration string, computed as Go's time.ParseDuration does: each part is
truncated to whole nanoseconds, so "0.5ns" is 0. The result is a decimal string without an
exponent. mulf and addf compute in decimal, so the result is exact up to about 104 days (2^53 ns),
far above any limit it is compared with.
*/}}
{{- define "aks-edw.durationNanoseconds" -}}
{{- $unitNanoseconds := dict "ns" 1.0 "us" 1000.0 "µs" 1000.0 "ms" 1000000.0 "s" 1000000000.0 "m" 60000000000.0 "h" 3600000000000.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll `[0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h)` . -1 }}
{{- $number := regexFind `^[0-9]+(\.[0-9]+)?` . }}
{{- $unit := trimPrefix $number . }}
{{- $total = addf $total (floor (mulf (float64 $number) (get $unitNanoseconds $unit))) }}
{{- end }}
{{- printf "%.0f" $total }}
{{- end }}

{{/* Pod termination grace period: the value, else the shutdown grace plus 10 seconds. */}}
{{- define "aks-edw.terminationGracePeriodSeconds" -}}
{{- $shutdownGrace := include "aks-edw.durationSeconds" .Values.consumer.shutdownGrace | int64 }}
{{- if kindIs "invalid" .Values.consumer.terminationGracePeriodSeconds }}
{{- add $shutdownGrace 10 }}
{{- else }}
{{- int64 .Values.consumer.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Name of the NodePool. */}}
{{- define "aks-edw.nodePoolName" -}}
{{- include "aks-edw.fullname" . }}
{{- end }}

{{/*
Label that the NodePool puts on its nodes and that the consumer pods select, so the pods land on
this pool's nodes and nowhere else.
*/}}
{{- define "aks-edw.nodePoolSelector" -}}
aks-edw/nodepool: {{ include "aks-edw.nodePoolName" . }}
{{- end }}

{{/* Name of the node class that the NodePool references. */}}
{{- define "aks-edw.nodeClassName" -}}
{{- if .Values.nodeClass.enabled }}
{{- include "aks-edw.fullname" . }}
{{- else }}
{{- .Values.nodePool.nodeClassRef.name }}
{{- end }}
{{- end }}

{{/*
The scaler's `cloud` metadata: scaledObject.cloud, else the cloud whose storage suffix is
storage.endpointSuffix, else Private.
*/}}
{{- define "aks-edw.kedaCloud" -}}
{{- $clouds := dict "core.windows.net" "AzurePublicCloud" "core.usgovcloudapi.net" "AzureUSGovernmentCloud" "core.chinacloudapi.cn" "AzureChinaCloud" }}
{{- default (get $clouds .Values.storage.endpointSuffix | default "Private") .Values.scaledObject.cloud }}
{{- end }}

{{/*
The consumer's configuration as container env vars. The Deployment and the `helm test` Pod both
use it, so the check runs with exactly the consumer's settings.
*/}}
{{- define "aks-edw.consumerEnv" -}}
{{- if eq .Values.auth.mode "connectionString" }}
- name: AZURE_STORAGE_CONNECTION_STRING
  valueFrom:
    secretKeyRef:
      name: {{ include "aks-edw.connectionSecretName" . }}
      key: {{ .Values.auth.connectionString.secretKey }}
{{- end }}
{{- /* An explicit mode makes a pod that lacks the injected token file stop at once, naming the missing pod label, instead of falling back to other credentials. */}}
- name: EDW_AUTH_MODE
  value: {{ .Values.auth.mode | quote }}
{{- with .Values.storage.accountName }}
- name: AZURE_STORAGE_ACCOUNT_NAME
  value: {{ . | quote }}
{{- end }}
- name: AZURE_QUEUE_NAME
  value: {{ .Values.storage.queueName | quote }}
- name: AZURE_TABLE_NAME
  value: {{ .Values.storage.tableName | quote }}
- name: EDW_POISON_QUEUE_NAME
  value: {{ include "aks-edw.poisonQueueName" . | quote }}
- name: AZURE_STORAGE_ENDPOINT_SUFFIX
  value: {{ .Values.storage.endpointSuffix | quote }}
- name: EDW_LOG_LEVEL
  value: {{ .Values.consumer.logLevel | quote }}
- name: EDW_HTTP_ADDR
  value: {{ printf ":%d" (int .Values.consumer.httpPort) | quote }}
- name: EDW_BATCH_SIZE
  value: {{ include "aks-edw.countString" .Values.consumer.batchSize | quote }}
- name: EDW_CONCURRENCY
  value: {{ include "aks-edw.countString" .Values.consumer.concurrency | quote }}
- name: EDW_VISIBILITY_TIMEOUT
  value: {{ .Values.consumer.visibilityTimeout | quote }}
- name: EDW_MAX_DEQUEUE_COUNT
  value: {{ include "aks-edw.countString" .Values.consumer.maxDequeueCount | quote }}
- name: EDW_DECODE
  value: {{ .Values.consumer.decode | quote }}
{{- /* A Deployment restarts a container that exits, so the consumer never stops on an empty queue here. */}}
- name: EDW_UNTIL_EMPTY
  value: "false"
- name: EDW_MAX_BACKOFF
  value: {{ .Values.consumer.maxBackoff | quote }}
- name: EDW_SHUTDOWN_GRACE
  value: {{ .Values.consumer.shutdownGrace | quote }}
- name: EDW_RETRY_TIMEOUT
  value: {{ .Values.consumer.retryTimeout | quote }}
{{- with .Values.consumer.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod-level securityContext that meets the restricted Pod Security profile. */}}
{{- define "aks-edw.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int64 .Values.consumer.podSecurityContext.runAsUser }}
runAsGroup: {{ int64 .Values.consumer.podSecurityContext.runAsGroup }}
fsGroup: {{ int64 .Values.consumer.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container securityContext that meets the restricted Pod Security profile. */}}
{{- define "aks-edw.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Node selector, tolerations and affinity of the consumer pods. With the NodePool on, the pods
select the pool's own label and tolerate exactly the pool's taints, both taken from the
nodePool values that the NodePool template also uses.
*/}}
{{- define "aks-edw.consumerScheduling" -}}
{{- $nodeSelector := dict }}
{{- if .Values.nodePool.enabled }}
{{- $nodeSelector = include "aks-edw.nodePoolSelector" . | fromYaml }}
{{- end }}
{{- $nodeSelector = merge $nodeSelector (deepCopy .Values.consumer.nodeSelector) }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $tolerations := list }}
{{- if .Values.nodePool.enabled }}
{{- range .Values.nodePool.taints }}
{{- $toleration := dict "key" .key "effect" .effect }}
{{- if .value }}
{{- $_ := set $toleration "operator" "Equal" }}
{{- $_ := set $toleration "value" .value }}
{{- else }}
{{- $_ := set $toleration "operator" "Exists" }}
{{- end }}
{{- $tolerations = append $tolerations $toleration }}
{{- end }}
{{- end }}
{{- $tolerations = concat $tolerations .Values.consumer.tolerations }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.consumer.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.consumer.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.consumer.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}
