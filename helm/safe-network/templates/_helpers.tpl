{{/* The release's name prefix: statefulset/<release>-data-manager. */}}
{{- define "safe.fullname" -}}
{{- .Values.fullnameOverride | default .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "safe.network" -}}
{{- .Values.network | default .Release.Name -}}
{{- end -}}

{{- define "safe.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* values block -> persona (service directory) name. */}}
{{- define "safe.personas" -}}
maidManager: maid-manager
dataManager: data-manager
versionManager: version-manager
mpidManager: mpid-manager
pmidManager: pmid-manager
pmidNode: pmid-node
{{- end -}}

{{/*
Values keys -> environment variables. The keys are the services' config field names
(groupParameterFields, hostConfigFields, dataManagerConfigFields, pmidManagerConfigFields,
pmidNodeConfigFields); test/helm/chart.test.ts checks each pair against them.
*/}}
{{- define "safe.configEnv" -}}
group:
  closeGroupSize: SAFE_K
  syncAttemptsBeforeDrop: SAFE_SYNC_ATTEMPTS
  firewallMemoryMs: SAFE_FIREWALL_MEMORY_MS
  accumulatorMemoryMs: SAFE_ACCUMULATOR_MEMORY_MS
  transferBatchRecords: SAFE_TRANSFER_BATCH
  transferBatchesPerTick: SAFE_TRANSFER_BATCHES_PER_TICK
  transferPullMs: SAFE_TRANSFER_PULL_MS
  awaitRecordMs: SAFE_AWAIT_RECORD_MS
  awaitRecordRequests: SAFE_AWAIT_RECORD_REQUESTS
  cacheBytes: SAFE_CACHE_BYTES
  cacheEntries: SAFE_CACHE_ENTRIES
  contentBytes: SAFE_CONTENT_BYTES
  contentWaitMs: SAFE_CONTENT_WAIT_MS
  openCalls: SAFE_OPEN_CALLS
replica:
  tickMs: SAFE_TICK_MS
  heartbeatMs: SAFE_HEARTBEAT_MS
  memberExpiryMs: SAFE_MEMBER_EXPIRY_MS
  callTimeoutMs: SAFE_CALL_TIMEOUT_MS
  directDeadlineMs: SAFE_DIRECT_DEADLINE_MS
  connectTimeoutMs: SAFE_CONNECT_TIMEOUT_MS
  joinTimeoutMs: SAFE_JOIN_TIMEOUT_MS
  shutdownGraceMs: SAFE_SHUTDOWN_GRACE_MS
  kafkaPartitions: SAFE_KAFKA_PARTITIONS
  pgPoolSize: SAFE_PG_POOL_SIZE
  logLevel: SAFE_LOG_LEVEL
maidManager: {}
versionManager: {}
mpidManager: {}
dataManager:
  copiesPerGroup: SAFE_DM_COPIES_PER_GROUP
  maxHolders: SAFE_DM_MAX_HOLDERS
  lowRankPercent: SAFE_DM_LOW_RANK_PERCENT
  getRetryMs: SAFE_DM_GET_RETRY_MS
  pendingContentLimit: SAFE_DM_PENDING_CONTENT
  maxRepairs: SAFE_DM_MAX_REPAIRS
  farmingPolicy: SAFE_DM_FARMING_POLICY
  farmingRefreshMs: SAFE_DM_FARMING_REFRESH_MS
  repairRetryMs: SAFE_DM_REPAIR_RETRY_MS
  stalledStoreMs: SAFE_DM_STALLED_STORE_MS
  integrityPeriodMs: SAFE_DM_INTEGRITY_PERIOD_MS
  integrityBatch: SAFE_DM_INTEGRITY_BATCH
pmidManager:
  sendAccountBatch: SAFE_PM_SEND_ACCOUNT_BATCH
  rankReports: SAFE_PM_RANK_REPORTS
pmidNode:
  pmidCapacity: SAFE_PMID_CAPACITY
{{- end -}}

{{/* A value as an env string; numbers read from YAML arrive as float64 and must not print as 1e+09. */}}
{{- define "safe.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (floor .) }}{{ printf "%d" (int64 .) }}{{ else }}{{ . }}{{ end -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* env entries for one values block: (dict "block" "dataManager" "values" $map). Unknown keys fail. */}}
{{- define "safe.mappedEnv" -}}
{{- $table := index (include "safe.configEnv" .root | fromYaml) .block -}}
{{- range $key, $value := .values }}
{{- if not (hasKey $table $key) }}
{{- fail (printf "%s.%s is not a setting of this service; known: %s" $.path $key (keys $table | sortAlpha | join ", ")) }}
{{- end }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ index $table $key }}
  value: {{ include "safe.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Fails the render on values that cannot make a working network. */}}
{{- define "safe.validate" -}}
{{- $k := int .Values.group.closeGroupSize -}}
{{- if lt $k 2 }}{{ fail (printf "group.closeGroupSize (K) must be at least 2, got %d" $k) }}{{ end -}}
{{- range $block, $persona := include "safe.personas" . | fromYaml }}
{{- $replicas := int (index $.Values $block).replicas }}
{{- if and (ne $block "pmidNode") (lt $replicas $k) }}
{{- fail (printf "%s.replicas (%d) is below the close group size K = group.closeGroupSize (%d): a %s close group needs K members" $block $replicas $k $persona) }}
{{- end }}
{{- if lt $replicas 1 }}
{{- fail (printf "%s.replicas must be at least 1, got %d" $block $replicas) }}
{{- end }}
{{- end }}
{{- if not .Values.dev.enabled }}
{{- if empty .Values.kafka.brokers }}{{ fail "kafka.brokers is empty: list your Kafka bootstrap brokers (host:port), or set dev.enabled=true for in-chart infrastructure" }}{{ end }}
{{- if and (empty .Values.postgres.url) (empty .Values.postgres.existingSecret) }}{{ fail "postgres.url or postgres.existingSecret is required (or dev.enabled=true)" }}{{ end }}
{{- if and (empty .Values.redis.url) (empty .Values.redis.existingSecret) }}{{ fail "redis.url or redis.existingSecret is required (or dev.enabled=true)" }}{{ end }}
{{- end }}
{{- end -}}

{{- define "safe.infraSecretName" -}}
{{ include "safe.fullname" . }}-infra
{{- end -}}

{{/* secretKeyRef for Postgres or Redis: (dict "root" $ "which" "postgres"). */}}
{{- define "safe.urlSecretRef" -}}
{{- $v := index .root.Values .which -}}
{{- if and (not .root.Values.dev.enabled) $v.existingSecret -}}
name: {{ $v.existingSecret }}
key: {{ $v.secretKey }}
{{- else -}}
name: {{ include "safe.infraSecretName" .root }}
key: {{ printf "%s-url" .which }}
{{- end -}}
{{- end -}}

{{- define "safe.kafkaBrokers" -}}
{{- if .Values.dev.enabled -}}
{{ include "safe.fullname" . }}-kafka:9092
{{- else -}}
{{ join "," .Values.kafka.brokers }}
{{- end -}}
{{- end -}}

{{- define "safe.otelEndpoint" -}}
{{- if .Values.otel.endpoint -}}
{{ .Values.otel.endpoint }}
{{- else if and .Values.dev.enabled .Values.dev.jaeger.enabled -}}
http://{{ include "safe.fullname" . }}-jaeger:4318
{{- end -}}
{{- end -}}
