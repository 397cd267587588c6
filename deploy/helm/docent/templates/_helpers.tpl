{{/* Names and labels. */}}
{{- define "docent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "docent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: docent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "docent.selector" -}}
app.kubernetes.io/name: docent
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "docent.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "docent.secretName" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-secrets" (include "docent.fullname" .)) }}
{{- end -}}

{{/* Where the services are: the bundled charts, or external URLs. */}}
{{- define "docent.qdrantUrl" -}}
{{- if .Values.qdrant.enabled -}}http://{{ .Release.Name }}-qdrant:6333{{- else -}}{{ required "externalQdrant.url is required when qdrant.enabled=false" .Values.externalQdrant.url }}{{- end -}}
{{- end -}}

{{- define "docent.redisHost" -}}
{{- if .Values.redis.enabled -}}{{ .Release.Name }}-redis-master:6379{{- else -}}{{ required "externalRedis.host is required when redis.enabled=false" .Values.externalRedis.host }}{{- end -}}
{{- end -}}

{{- define "docent.postgresqlHost" -}}
{{ include "docent.fullname" . }}-postgresql
{{- end -}}

{{- define "docent.llmUrl" -}}
{{- if .Values.vllm.enabled -}}http://{{ include "docent.fullname" . }}-vllm:8000{{- else -}}{{ .Values.externalLLM.url }}{{- end -}}
{{- end -}}

{{/* The environment of every Docent container: plain settings from the ConfigMap, secrets from the Secret. */}}
{{- define "docent.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "docent.fullname" . }}-config
env:
  - name: DOCENT_QDRANT__API_KEY
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: qdrant-api-key}}
  - name: REDIS_PASSWORD
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: redis-password}}
  - name: DOCENT_REDIS_URL
    value: "redis://:$(REDIS_PASSWORD)@{{ include "docent.redisHost" . }}/0"
  {{- if .Values.postgresql.enabled }}
  - name: POSTGRES_PASSWORD
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: postgres-password}}
  - name: DOCENT_DATABASE_URL
    value: "postgresql+psycopg://{{ .Values.postgresql.username }}:$(POSTGRES_PASSWORD)@{{ include "docent.postgresqlHost" . }}:5432/{{ .Values.postgresql.database }}"
  {{- else }}
  - name: DOCENT_DATABASE_URL
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: database-url}}
  {{- end }}
  - name: DOCENT_LLM__API_KEY
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: vllm-api-key}}
  - name: DOCENT_SLACK__BOT_TOKEN
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: slack-bot-token, optional: true}}
  - name: DOCENT_SLACK__APP_TOKEN
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: slack-app-token, optional: true}}
  - name: DOCENT_SLACK__SIGNING_SECRET
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: slack-signing-secret, optional: true}}
  - name: DOCENT_OIDC__CLIENT_SECRET
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: oidc-client-secret, optional: true}}
  - name: DOCENT_OIDC__SESSION_SECRET
    valueFrom: {secretKeyRef: {name: {{ include "docent.secretName" . }}, key: oidc-session-secret, optional: true}}
{{- end -}}

{{- define "docent.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "docent.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
{{- end -}}

{{/* The shared data volume (uploads) and a writable /tmp. */}}
{{- define "docent.volumes" -}}
volumes:
  - name: data
    {{- if .Values.persistence.enabled }}
    persistentVolumeClaim: {claimName: {{ include "docent.fullname" . }}-data}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: tmp
    emptyDir: {}
{{- end -}}

{{- define "docent.mounts" -}}
volumeMounts:
  - {name: data, mountPath: /data}
  - {name: tmp, mountPath: /tmp}
{{- end -}}

{{/* A NetworkPolicy: only Docent's `clients` components (and, with `peers`, the service's own pods) reach `ports`. */}}
{{- define "docent.netpol" -}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "docent.fullname" .root }}-{{ .name }}-clients
  labels: {{- include "docent.labels" .root | nindent 4 }}
spec:
  podSelector:
    matchLabels: {{- toYaml .labels | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    - from:
        {{- range .clients }}
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: docent
              app.kubernetes.io/instance: {{ $.root.Release.Name }}
              app.kubernetes.io/component: {{ . }}
        {{- end }}
        {{- if .peers }}
        - podSelector:
            matchLabels: {{- toYaml .labels | nindent 14 }}
        {{- end }}
      ports:
        {{- range .ports }}
        - {port: {{ . }}, protocol: TCP}
        {{- end }}
{{- end -}}
