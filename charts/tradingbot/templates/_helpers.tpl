{{/* Name of the TradingBot: the operator derives <name>-blue, <name>-green, <name>-preview from it. */}}
{{- define "tradingbot.name" -}}
{{- $name := default .Release.Name .Values.name }}
{{- if gt (len $name) 40 }}
{{- fail (printf "TradingBot name %q is longer than 40 characters (set `name`)" $name) }}
{{- end }}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $name) }}
{{- fail (printf "TradingBot name %q must start with a lowercase letter and hold only lowercase letters, digits and '-' (set `name`)" $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "tradingbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of the chart's own objects (not the operator's children, which the operator labels). */}}
{{- define "tradingbot.labels" -}}
helm.sh/chart: {{ include "tradingbot.chart" . }}
app.kubernetes.io/name: tradingbot
app.kubernetes.io/instance: {{ include "tradingbot.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ploy
ploy.dev/tradingbot: {{ include "tradingbot.name" . }}
{{- end }}

{{/* Selects both colors' pods (and the active and preview Services) of this bot. */}}
{{- define "tradingbot.selectorLabels" -}}
ploy.dev/tradingbot: {{ include "tradingbot.name" . }}
{{- end }}

{{- define "tradingbot.serviceAccountName" -}}
{{- default (printf "%s-bot" (include "tradingbot.name" .)) .Values.serviceAccount.name }}
{{- end }}

{{- define "tradingbot.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if eq $tag "latest" }}
{{- fail "image.tag must not be `latest`: a revision must name one fixed build" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* PromQL matchers of this bot's series as scraped by its ServiceMonitor. */}}
{{- define "tradingbot.promSelector" -}}
namespace="{{ .Release.Namespace }}", tradingbot="{{ include "tradingbot.name" . }}"
{{- end }}
