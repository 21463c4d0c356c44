{{/* The labels every object of the chart carries. */}}
{{- define "orders.labels" -}}
app: {{ .Chart.Name }}
{{- end -}}

{{/* The container image: by digest when helm_chart gave one, else repository:tag. */}}
{{- define "orders.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}
