{{/* Name of the chart, overridable. */}}
{{- define "ploy-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every resource: the release name, plus the chart name unless it is already in it. */}}
{{- define "ploy-operator.fullname" -}}
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

{{- define "ploy-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels selecting the operator pods; never change them after the first install (Deployment selectors are immutable). */}}
{{- define "ploy-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ploy-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ploy-operator.labels" -}}
helm.sh/chart: {{ include "ploy-operator.chart" . }}
{{ include "ploy-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ploy
app.kubernetes.io/component: operator
{{- end }}

{{- define "ploy-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ploy-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ploy-operator.peeringName" -}}
{{- default (include "ploy-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* The image reference: repository@digest when a digest is given, else repository:tag (default appVersion). */}}
{{- define "ploy-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Rules for the namespaced resources the operator reads and writes (a ClusterRole's or a Role's): exactly
the requests tradingbot_operator.kube makes and the watches its kopf handlers open. TradingBots are only
read; the operator writes their status subresource (manual actions are acknowledged there, so it never
patches the object itself). Deployments and Services are created and patched (JSON patches of the
owned fields; merge patch to scale); hashed ConfigMaps only created and watched (immutable, garbage-collected by ownerReference);
migration Jobs created and deleted; pods only read; core Events posted.
*/}}
{{- define "ploy-operator.namespacedRules" -}}
- apiGroups: [ploy.dev]
  resources: [tradingbots]
  verbs: [get, list, watch]
- apiGroups: [ploy.dev]
  resources: [tradingbots/status]
  verbs: [patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
