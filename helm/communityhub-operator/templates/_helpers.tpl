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
