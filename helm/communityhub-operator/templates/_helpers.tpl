{{- define "chub.labels" -}}
app.kubernetes.io/name: communityhub-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "chub.selector" -}}
app.kubernetes.io/name: communityhub-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- /* A shard's Deployment (list $ shard): the unsharded name with one shard, so an upgrade keeps its pods. */}}
{{- define "chub.deployment" -}}
{{- $root := index . 0 -}}
{{- if gt (int $root.Values.shards) 1 -}}
communityhub-operator-shard-{{ index . 1 }}
{{- else -}}
communityhub-operator
{{- end -}}
{{- end }}
{{- /* A shard's pods (list $ shard): a Deployment's selector cannot change, so one shard keeps the unsharded one. */}}
{{- define "chub.shardSelector" -}}
{{- $root := index . 0 -}}
{{ include "chub.selector" $root }}
{{- if gt (int $root.Values.shards) 1 }}
hubs.2i2c.org/operator-shard: {{ index . 1 | quote }}
{{- end -}}
{{- end }}
