{{- define "triton-openai.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "triton-openai.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "triton-openai.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "triton-openai.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: include with (dict "root" $ "component" "frontend"). */}}
{{- define "triton-openai.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triton-openai.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "triton-openai.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "triton-openai.tritonName" -}}
{{ include "triton-openai.fullname" . }}-triton
{{- end -}}

{{/* The --triton-url list: frontend.tritonUrls, else each Triton pod by its stable DNS name. */}}
{{- define "triton-openai.tritonUrls" -}}
{{- $urls := .Values.frontend.tritonUrls -}}
{{- if not $urls -}}
{{- $name := include "triton-openai.tritonName" . -}}
{{- range $i := until (int .Values.triton.replicas) -}}
{{- $urls = append $urls (printf "%s-%d.%s-headless.%s.svc.cluster.local:%d" $name $i $name $.Release.Namespace (int $.Values.triton.ports.grpc)) -}}
{{- end -}}
{{- end -}}
{{- toJson $urls -}}
{{- end -}}

{{- define "triton-openai.apiKeysSecret" -}}
{{- if .Values.apiKeys.existingSecret -}}
{{ .Values.apiKeys.existingSecret }}
{{- else if .Values.apiKeys.keys -}}
{{ include "triton-openai.fullname" . }}-api-keys
{{- end -}}
{{- end -}}

{{- define "triton-openai.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{ .Values.database.existingSecret }}
{{- else if .Values.database.url -}}
{{ include "triton-openai.fullname" . }}-database
{{- end -}}
{{- end -}}

{{/* Several frontend pods share their state only through a database. */}}
{{- define "triton-openai.checkReplicas" -}}
{{- if and (gt (int .Values.frontend.replicas) 1) (not (include "triton-openai.databaseSecret" .)) -}}
{{- fail (printf "frontend.replicas=%d needs database.existingSecret or database.url: without a database each frontend pod keeps its own files, documents and LoRA adapters, and requests landing on another pod would not find them. Set a PostgreSQL database, or use frontend.replicas=1 with more frontend.workers." (int .Values.frontend.replicas)) -}}
{{- end -}}
{{- end -}}

{{/* Flags of `triton-openai build` from the values (one list item per line). */}}
{{- define "triton-openai.buildArgs" -}}
{{- range .Values.models }}
- --model={{ . }}
{{- end }}
{{- range .Values.embeddingModels }}
- --embedding-model={{ . }}
{{- end }}
{{- range .Values.transcriptionModels }}
- --transcription-model={{ . }}
{{- end }}
{{- range .Values.speechVoices }}
- --speech-voice={{ . }}
{{- end }}
- --engine={{ .Values.engine }}
- --device={{ .Values.device }}
- --dtype={{ .Values.dtype }}
- --max-num-seqs={{ .Values.maxNumSeqs }}
- --max-model-len={{ .Values.maxModelLen }}
- --tensor-parallel-size={{ .Values.tensorParallelSize }}
{{- range .Values.buildArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
