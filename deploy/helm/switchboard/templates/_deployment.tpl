{{/*
The Deployment of one component. Call with
(dict "root" $ "component" "edge" "roles" "edge,api" "values" $.Values.edge).
Both components run the same image and Secret; only --roles, replicas,
resources and drain settings differ.
*/}}
{{- define "switchboard.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $grace := add $v.preStopSleepSeconds $v.drainTimeoutSeconds $v.terminationGraceMarginSeconds -}}
{{- if le (int $v.terminationGraceMarginSeconds) 0 -}}
{{- fail (printf "%s.terminationGraceMarginSeconds must be positive: the grace period must exceed the preStop sleep plus the drain deadline" .component) -}}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "switchboard.componentName" . }}
  labels: {{- include "switchboard.componentLabels" . | nindent 4 }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  selector:
    matchLabels: {{- include "switchboard.componentSelectorLabels" . | nindent 6 }}
  strategy:
    # Replace one pod at a time (an edge pod's sockets reconnect to the others).
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  template:
    metadata:
      labels: {{- include "switchboard.componentSelectorLabels" . | nindent 8 }}
      annotations:
        # Roll pods when credentials change (only for the chart's own Secret).
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    spec:
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets: {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext: {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      # preStop sleep + drain deadline + margin, so the kubelet never
      # SIGKILLs a pod mid-drain.
      terminationGracePeriodSeconds: {{ $grace }}
      containers:
        - name: switchboard
          image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag | default $root.Chart.AppVersion }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - serve
            - --roles={{ .roles }}
            - --port=6001
            - --metrics-addr=:{{ $root.Values.service.metricsPort }}
            - --drain-timeout={{ $v.drainTimeoutSeconds }}s
            {{- if $root.Values.migrate }}
            - --migrate
            {{- end }}
            {{- range $root.Values.extraArgs }}
            - {{ . | quote }}
            {{- end }}
            {{- range $v.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          envFrom:
            - secretRef:
                name: {{ include "switchboard.secretName" $root }}
          {{- with (concat $root.Values.extraEnv $v.extraEnv) }}
          env: {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - {name: http, containerPort: 6001}
            - {name: metrics, containerPort: {{ $root.Values.service.metricsPort }}}
          # A draining node closes its port at once, so readiness fails from
          # the first moment of a drain and the pod leaves the Service.
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 2
            failureThreshold: 2
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            failureThreshold: 3
          lifecycle:
            preStop:
              # Kubernetes >= 1.30: the image has no shell or sleep binary.
              sleep:
                seconds: {{ $v.preStopSleepSeconds }}
          resources: {{- toYaml $v.resources | nindent 12 }}
          securityContext: {{- toYaml $root.Values.securityContext | nindent 12 }}
      {{- with $v.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* The Service of one component; same argument as the Deployment. */}}
{{- define "switchboard.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "switchboard.componentName" . }}
  labels: {{- include "switchboard.componentLabels" . | nindent 4 }}
spec:
  type: {{ .root.Values.service.type }}
  selector: {{- include "switchboard.componentSelectorLabels" . | nindent 4 }}
  ports:
    - {name: http, port: {{ .root.Values.service.port }}, targetPort: http}
    - {name: metrics, port: {{ .root.Values.service.metricsPort }}, targetPort: metrics}
{{- end -}}

{{/* The PodDisruptionBudget of one component. */}}
{{- define "switchboard.pdb" -}}
{{- if .values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "switchboard.componentName" . }}
  labels: {{- include "switchboard.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels: {{- include "switchboard.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
