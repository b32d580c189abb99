{{- define "lite.labels" -}}
app: jupyterhub
release: {{ .root.Release.Name }}
chart: {{ .root.Chart.Name }}-{{ .root.Chart.Version }}
heritage: {{ .root.Release.Service }}
component: {{ .component }}
app.kubernetes.io/name: jupyterhub
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}
{{- define "lite.matchLabels" -}}
app: jupyterhub
release: {{ .root.Release.Name }}
component: {{ .component }}
{{- end }}
{{- /* Upstream's extraEnv accepts a map whose values are plain strings or EnvVar bodies (valueFrom). */ -}}
{{- define "lite.extraEnv" -}}
{{- if kindIs "slice" . }}
{{- toYaml . }}
{{- else }}
{{- range $name, $value := . }}
- name: {{ $name }}
{{- if kindIs "map" $value }}
{{ toYaml $value | indent 2 }}
{{- else }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
