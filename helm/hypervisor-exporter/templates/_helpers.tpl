{{/* Names and labels, in the usual Helm conventions. */}}
{{- define "hypervisor-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hypervisor-exporter.fullname" -}}
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

{{- define "hypervisor-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hypervisor-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hypervisor-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hypervisor-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hypervisor-exporter
{{- end }}

{{- define "hypervisor-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hypervisor-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hypervisor-exporter.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "hypervisor-exporter.scheme" -}}
{{- if .Values.webConfig.tls }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* The environment variable carrying a target's password in credentials.mode env. */}}
{{- define "hypervisor-exporter.passwordEnv" -}}
{{- printf "HYPERVISOR_EXPORTER_PASSWORD_%s" (regexReplaceAll "[^A-Z0-9]" (upper .) "_") }}
{{- end }}

{{/*
The exporter's config file: the targets of values, with `passwordSecretKey` turned into
password_file (a file of the mounted Secret) or password_env (a variable set from it).
*/}}
{{- define "hypervisor-exporter.config" -}}
{{- $targets := list }}
{{- $envNames := dict }}
{{- $names := dict }}
{{- range $i, $t := .Values.config.targets }}
{{- if hasKey $names $t.name }}
{{- fail (printf "config.targets[%d]: name %q is a duplicate of config.targets[%d]; names must be unique (they become the target label)" $i $t.name (get $names $t.name)) }}
{{- end }}
{{- $_ := set $names $t.name $i }}
{{- $out := omit $t "passwordSecretKey" }}
{{- if hasKey $t "passwordSecretKey" }}
{{- if not $.Values.credentials.existingSecret }}
{{- fail (printf "config.targets[%d] (%s): passwordSecretKey needs credentials.existingSecret, the Secret holding the password" $i $t.name) }}
{{- end }}
{{- if or (hasKey $t "password_file") (hasKey $t "password_env") }}
{{- fail (printf "config.targets[%d] (%s): give only one of passwordSecretKey, password_file, password_env" $i $t.name) }}
{{- end }}
{{- if eq $.Values.credentials.mode "env" }}
{{- $env := include "hypervisor-exporter.passwordEnv" $t.name }}
{{- if hasKey $envNames $env }}
{{- fail (printf "config.targets[%d] (%s): its password variable %s clashes with target %s; use credentials.mode file or rename a target" $i $t.name $env (get $envNames $env)) }}
{{- end }}
{{- $_ := set $envNames $env $t.name }}
{{- $_ := set $out "password_env" $env }}
{{- else }}
{{- $_ := set $out "password_file" (printf "%s/%s" (trimSuffix "/" $.Values.credentials.mountPath) $t.passwordSecretKey) }}
{{- end }}
{{- end }}
{{- $targets = append $targets $out }}
{{- end }}
{{- toYaml (dict "targets" $targets) }}
{{- end }}

{{/* True when some target takes its password from credentials.existingSecret. */}}
{{- define "hypervisor-exporter.usesSecret" -}}
{{- range .Values.config.targets }}{{ if hasKey . "passwordSecretKey" }}true{{ end }}{{ end }}
{{- end }}
