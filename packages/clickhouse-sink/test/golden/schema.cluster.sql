CREATE DATABASE IF NOT EXISTS `fhirwatch` ON CLUSTER '{cluster}';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`fhirwatch_migrations_local` ON CLUSTER '{cluster}'
(
    `version` UInt32,
    `name` String,
    `checksum` String,
    `applied_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/fhirwatch_migrations_local', '{replica}')
ORDER BY version;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`fhirwatch_migrations` ON CLUSTER '{cluster}'
AS `fhirwatch`.`fhirwatch_migrations_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'fhirwatch_migrations_local', version);

-- migration 1: audit_events

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_events_local` ON CLUSTER '{cluster}'
(
    `event_id` UUID COMMENT 'UUIDv7, idempotency key',
    `event_time` DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `recorded_by` LowCardinality(String),
    `seq` UInt64 CODEC(Delta(8), ZSTD(1)),
    `prev_hash` String CODEC(ZSTD(1)),
    `hash` String CODEC(ZSTD(1)),
    `tenant_id` LowCardinality(String),
    `routed_tenant_id` LowCardinality(String),
    `client_id` LowCardinality(String),
    `user_id` String CODEC(ZSTD(1)),
    `user_name` String CODEC(ZSTD(1)),
    `source_ip` String CODEC(ZSTD(1)),
    `user_agent` LowCardinality(String),
    `event_type` LowCardinality(String),
    `fhir_interaction` LowCardinality(String),
    `resource_type` LowCardinality(String),
    `fhir_version` LowCardinality(String),
    `query` String COMMENT 'PHI: search parameters as sent' CODEC(ZSTD(3)),
    `patient_id` String CODEC(ZSTD(1)),
    `batch_id` String CODEC(ZSTD(1)),
    `entry_index` Int32,
    `trace_id` String CODEC(ZSTD(1)),
    `outcome` UInt8,
    `http_status` UInt16,
    `duration_ms` Float64 CODEC(ZSTD(1)),
    `result_count` UInt32,
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1,
    PROJECTION by_user (SELECT * ORDER BY (tenant_id, user_id, event_time, event_id))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_events_local', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant_id, patient_id, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(2557)
SETTINGS index_granularity = 8192, deduplicate_merge_projection_mode = 'rebuild'
COMMENT 'fhirwatch clinician read audit events (shared/spec/audit-events.md)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_events` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_events_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_events_local', cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS `fhirwatch`.`audit_events_dedup` ON CLUSTER '{cluster}'
AS SELECT * FROM `fhirwatch`.`audit_events` FINAL;

-- migration 2: otel_tables

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_traces_local` ON CLUSTER '{cluster}'
(
    `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    `TraceId` String CODEC(ZSTD(1)),
    `SpanId` String CODEC(ZSTD(1)),
    `ParentSpanId` String CODEC(ZSTD(1)),
    `TraceState` String CODEC(ZSTD(1)),
    `SpanName` LowCardinality(String) CODEC(ZSTD(1)),
    `SpanKind` LowCardinality(String) CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` String CODEC(ZSTD(1)),
    `SpanAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `Duration` UInt64 CODEC(T64, ZSTD(1)),
    `StatusCode` LowCardinality(String) CODEC(ZSTD(1)),
    `StatusMessage` String CODEC(ZSTD(1)),
    `Events` Nested(Timestamp DateTime64(9), Name LowCardinality(String), Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    `Links` Nested(TraceId String, SpanId String, TraceState String, Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    `TenantId` LowCardinality(String) MATERIALIZED if(ResourceAttributes['tenant.id'] != '', ResourceAttributes['tenant.id'], SpanAttributes['tenant.id']) COMMENT 'fhirwatch: tenant for the sort key',
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_traces_local', '{replica}')
PARTITION BY toDate(Timestamp)
PRIMARY KEY (TenantId, ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (TenantId, ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_traces` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_traces_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_traces_local', cityHash64(TenantId));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_logs_local` ON CLUSTER '{cluster}'
(
    `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    `TimestampTime` DateTime DEFAULT toDateTime(Timestamp),
    `TraceId` String CODEC(ZSTD(1)),
    `SpanId` String CODEC(ZSTD(1)),
    `TraceFlags` UInt8,
    `SeverityText` LowCardinality(String) CODEC(ZSTD(1)),
    `SeverityNumber` UInt8,
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `Body` String CODEC(ZSTD(1)),
    `ResourceSchemaUrl` LowCardinality(String) CODEC(ZSTD(1)),
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeSchemaUrl` LowCardinality(String) CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` LowCardinality(String) CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `LogAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `TenantId` LowCardinality(String) MATERIALIZED if(ResourceAttributes['tenant.id'] != '', ResourceAttributes['tenant.id'], LogAttributes['tenant.id']) COMMENT 'fhirwatch: tenant for the sort key',
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_logs_local', '{replica}')
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (TenantId, ServiceName, TimestampTime)
ORDER BY (TenantId, ServiceName, TimestampTime, Timestamp)
TTL toDateTime(TimestampTime) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_logs` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_logs_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_logs_local', cityHash64(TenantId));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_gauge_local` ON CLUSTER '{cluster}'
(
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ResourceSchemaUrl` String CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` String CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeDroppedAttrCount` UInt32 CODEC(ZSTD(1)),
    `ScopeSchemaUrl` String CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `MetricName` String CODEC(ZSTD(1)),
    `MetricDescription` String CODEC(ZSTD(1)),
    `MetricUnit` String CODEC(ZSTD(1)),
    `Attributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `StartTimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `TimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `Value` Float64 CODEC(ZSTD(1)),
    `Flags` UInt32 CODEC(ZSTD(1)),
    `Exemplars` Nested(FilteredAttributes Map(LowCardinality(String), String), TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String) CODEC(ZSTD(1)),
    `TenantId` LowCardinality(String) MATERIALIZED if(ResourceAttributes['tenant.id'] != '', ResourceAttributes['tenant.id'], Attributes['tenant.id']) COMMENT 'fhirwatch: tenant for the sort key',
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_metrics_gauge_local', '{replica}')
PARTITION BY toDate(TimeUnix)
ORDER BY (TenantId, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
TTL toDateTime(TimeUnix) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_gauge` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_metrics_gauge_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_metrics_gauge_local', cityHash64(TenantId));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_sum_local` ON CLUSTER '{cluster}'
(
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ResourceSchemaUrl` String CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` String CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeDroppedAttrCount` UInt32 CODEC(ZSTD(1)),
    `ScopeSchemaUrl` String CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `MetricName` String CODEC(ZSTD(1)),
    `MetricDescription` String CODEC(ZSTD(1)),
    `MetricUnit` String CODEC(ZSTD(1)),
    `Attributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `StartTimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `TimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `Value` Float64 CODEC(ZSTD(1)),
    `Flags` UInt32 CODEC(ZSTD(1)),
    `Exemplars` Nested(FilteredAttributes Map(LowCardinality(String), String), TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String) CODEC(ZSTD(1)),
    `AggregationTemporality` Int32 CODEC(ZSTD(1)),
    `IsMonotonic` Bool CODEC(Delta, ZSTD(1)),
    `TenantId` LowCardinality(String) MATERIALIZED if(ResourceAttributes['tenant.id'] != '', ResourceAttributes['tenant.id'], Attributes['tenant.id']) COMMENT 'fhirwatch: tenant for the sort key',
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_metrics_sum_local', '{replica}')
PARTITION BY toDate(TimeUnix)
ORDER BY (TenantId, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
TTL toDateTime(TimeUnix) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_sum` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_metrics_sum_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_metrics_sum_local', cityHash64(TenantId));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_histogram_local` ON CLUSTER '{cluster}'
(
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ResourceSchemaUrl` String CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` String CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeDroppedAttrCount` UInt32 CODEC(ZSTD(1)),
    `ScopeSchemaUrl` String CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `MetricName` String CODEC(ZSTD(1)),
    `MetricDescription` String CODEC(ZSTD(1)),
    `MetricUnit` String CODEC(ZSTD(1)),
    `Attributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `StartTimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `TimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `Count` UInt64 CODEC(Delta, ZSTD(1)),
    `Sum` Float64 CODEC(ZSTD(1)),
    `BucketCounts` Array(UInt64) CODEC(ZSTD(1)),
    `ExplicitBounds` Array(Float64) CODEC(ZSTD(1)),
    `Exemplars` Nested(FilteredAttributes Map(LowCardinality(String), String), TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String) CODEC(ZSTD(1)),
    `Flags` UInt32 CODEC(ZSTD(1)),
    `Min` Float64 CODEC(ZSTD(1)),
    `Max` Float64 CODEC(ZSTD(1)),
    `AggregationTemporality` Int32 CODEC(ZSTD(1)),
    `TenantId` LowCardinality(String) MATERIALIZED if(ResourceAttributes['tenant.id'] != '', ResourceAttributes['tenant.id'], Attributes['tenant.id']) COMMENT 'fhirwatch: tenant for the sort key',
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_metrics_histogram_local', '{replica}')
PARTITION BY toDate(TimeUnix)
ORDER BY (TenantId, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
TTL toDateTime(TimeUnix) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_histogram` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_metrics_histogram_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_metrics_histogram_local', cityHash64(TenantId));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_exponential_histogram_local` ON CLUSTER '{cluster}'
(
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ResourceSchemaUrl` String CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` String CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeDroppedAttrCount` UInt32 CODEC(ZSTD(1)),
    `ScopeSchemaUrl` String CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `MetricName` String CODEC(ZSTD(1)),
    `MetricDescription` String CODEC(ZSTD(1)),
    `MetricUnit` String CODEC(ZSTD(1)),
    `Attributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `StartTimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `TimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `Count` UInt64 CODEC(Delta, ZSTD(1)),
    `Sum` Float64 CODEC(ZSTD(1)),
    `Scale` Int32 CODEC(ZSTD(1)),
    `ZeroCount` UInt64 CODEC(ZSTD(1)),
    `PositiveOffset` Int32 CODEC(ZSTD(1)),
    `PositiveBucketCounts` Array(UInt64) CODEC(ZSTD(1)),
    `NegativeOffset` Int32 CODEC(ZSTD(1)),
    `NegativeBucketCounts` Array(UInt64) CODEC(ZSTD(1)),
    `Exemplars` Nested(FilteredAttributes Map(LowCardinality(String), String), TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String) CODEC(ZSTD(1)),
    `Flags` UInt32 CODEC(ZSTD(1)),
    `Min` Float64 CODEC(ZSTD(1)),
    `Max` Float64 CODEC(ZSTD(1)),
    `AggregationTemporality` Int32 CODEC(ZSTD(1)),
    `TenantId` LowCardinality(String) MATERIALIZED if(ResourceAttributes['tenant.id'] != '', ResourceAttributes['tenant.id'], Attributes['tenant.id']) COMMENT 'fhirwatch: tenant for the sort key',
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_metrics_exponential_histogram_local', '{replica}')
PARTITION BY toDate(TimeUnix)
ORDER BY (TenantId, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
TTL toDateTime(TimeUnix) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_exponential_histogram` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_metrics_exponential_histogram_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_metrics_exponential_histogram_local', cityHash64(TenantId));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_summary_local` ON CLUSTER '{cluster}'
(
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ResourceSchemaUrl` String CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` String CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeDroppedAttrCount` UInt32 CODEC(ZSTD(1)),
    `ScopeSchemaUrl` String CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `MetricName` String CODEC(ZSTD(1)),
    `MetricDescription` String CODEC(ZSTD(1)),
    `MetricUnit` String CODEC(ZSTD(1)),
    `Attributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `StartTimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `TimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
    `Count` UInt64 CODEC(Delta, ZSTD(1)),
    `Sum` Float64 CODEC(ZSTD(1)),
    `ValueAtQuantiles` Nested(Quantile Float64, Value Float64) CODEC(ZSTD(1)),
    `Flags` UInt32 CODEC(ZSTD(1)),
    `TenantId` LowCardinality(String) MATERIALIZED if(ResourceAttributes['tenant.id'] != '', ResourceAttributes['tenant.id'], Attributes['tenant.id']) COMMENT 'fhirwatch: tenant for the sort key',
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_metrics_summary_local', '{replica}')
PARTITION BY toDate(TimeUnix)
ORDER BY (TenantId, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
TTL toDateTime(TimeUnix) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_metrics_summary` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_metrics_summary_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_metrics_summary_local', cityHash64(TenantId));

-- migration 3: latency_rollup

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_latency_rollup_local` ON CLUSTER '{cluster}'
(
    `TenantId` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `Route` LowCardinality(String),
    `Minute` DateTime,
    `Requests` SimpleAggregateFunction(sum, UInt64),
    `Errors` SimpleAggregateFunction(sum, UInt64),
    `LatencyMs` AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_latency_rollup_local', '{replica}')
PARTITION BY toDate(Minute)
ORDER BY (TenantId, ServiceName, Route, Minute)
TTL Minute + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_latency_rollup` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_latency_rollup_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_latency_rollup_local', cityHash64(TenantId));

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`otel_latency_rollup_mv` ON CLUSTER '{cluster}'
TO `fhirwatch`.`otel_latency_rollup_local`
AS SELECT
    TenantId,
    ServiceName,
    if(SpanAttributes['http.route'] != '', SpanAttributes['http.route'], SpanName) AS Route,
    toStartOfMinute(Timestamp) AS Minute,
    toUInt64(count()) AS Requests,
    toUInt64(countIf(StatusCode = 'STATUS_CODE_ERROR' OR toUInt16OrZero(SpanAttributes['http.response.status_code']) >= 500)) AS Errors,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(Duration / 1e6) AS LatencyMs
  FROM `fhirwatch`.`otel_traces_local`
  WHERE SpanKind = 'SPAN_KIND_SERVER'
  GROUP BY TenantId, ServiceName, Route, Minute;

-- migration 4: audit_vip_patients

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_vip_patients_local` ON CLUSTER '{cluster}'
(
    `tenant_id` LowCardinality(String),
    `patient_id` String,
    `reason` String,
    `changed_by` String,
    `changed_at` DateTime64(3, 'UTC'),
    `removed` UInt8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_vip_patients_local', '{replica}')
ORDER BY (tenant_id, patient_id, changed_at);

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_vip_patients` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_vip_patients_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_vip_patients_local', cityHash64(tenant_id));

-- migration 5: otel_collector_compat

ALTER TABLE `fhirwatch`.`otel_logs_local` ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS `EventName` String CODEC(ZSTD(1)) AFTER `LogAttributes`;

ALTER TABLE `fhirwatch`.`otel_logs` ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS `EventName` String CODEC(ZSTD(1)) AFTER `LogAttributes`;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_traces_trace_id_ts_local` ON CLUSTER '{cluster}'
(
    `TraceId` String CODEC(ZSTD(1)),
    `Start` SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    `End` SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/fhirwatch/otel_traces_trace_id_ts_local', '{replica}')
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
TTL toDateTime(Start) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`otel_traces_trace_id_ts` ON CLUSTER '{cluster}'
AS `fhirwatch`.`otel_traces_trace_id_ts_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'otel_traces_trace_id_ts_local', cityHash64(TraceId));

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`otel_traces_trace_id_ts_mv` ON CLUSTER '{cluster}'
TO `fhirwatch`.`otel_traces_trace_id_ts_local`
AS SELECT
    TraceId,
    min(toDateTime(Timestamp)) AS Start,
    max(toDateTime(Timestamp)) AS End
  FROM `fhirwatch`.`otel_traces_local`
  WHERE TraceId != ''
  GROUP BY TraceId;

-- migration 6: audit_requests

ALTER TABLE `fhirwatch`.`audit_events_local` ON CLUSTER '{cluster}' MODIFY COLUMN `result_count` Nullable(UInt32);

ALTER TABLE `fhirwatch`.`audit_events` ON CLUSTER '{cluster}' MODIFY COLUMN `result_count` Nullable(UInt32);

CREATE OR REPLACE VIEW `fhirwatch`.`audit_events_dedup` ON CLUSTER '{cluster}' AS SELECT * FROM `fhirwatch`.`audit_events` FINAL;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_requests_local` ON CLUSTER '{cluster}'
(
    `request_id` UUID COMMENT 'UUIDv7 of the request (wire event_id), idempotency key',
    `event_time` DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `recorded_by` LowCardinality(String),
    `seq` UInt64 CODEC(Delta(8), ZSTD(1)),
    `prev_hash` String CODEC(ZSTD(1)),
    `hash` String CODEC(ZSTD(1)),
    `v` UInt8 COMMENT '2 = request record, 1 = legacy single record',
    `tenant_id` LowCardinality(String),
    `tenant_claimed` UInt8 COMMENT '1 = tenant_id only claimed by the path, not verified',
    `routed_tenant_id` LowCardinality(String),
    `client_id` LowCardinality(String),
    `user_id` String CODEC(ZSTD(1)),
    `user_name` String CODEC(ZSTD(1)),
    `source_ip` String CODEC(ZSTD(1)),
    `user_agent` LowCardinality(String),
    `fhir_version` LowCardinality(String),
    `batch_id` String CODEC(ZSTD(1)),
    `trace_id` String CODEC(ZSTD(1)),
    `http_status` UInt16,
    `duration_ms` Float64 CODEC(ZSTD(1)),
    `e_event_type` Array(LowCardinality(String)),
    `e_fhir_interaction` Array(LowCardinality(String)),
    `e_resource_type` Array(LowCardinality(String)),
    `e_query` Array(String) COMMENT 'PHI: search parameters as sent' CODEC(ZSTD(3)),
    `e_entry_index` Array(Int32),
    `e_http_status` Array(UInt16),
    `e_outcome` Array(UInt8),
    `e_result_count` Array(Nullable(Int64)) COMMENT 'null (or legacy -1) = unknown',
    `x_entry` Array(UInt16) COMMENT 'per-patient row -> 1-based entry',
    `x_patient_id` Array(String) CODEC(ZSTD(1)),
    INDEX idx_request_id request_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_requests_local', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (recorded_by, seq, request_id)
TTL toDateTime(event_time) + toIntervalDay(2557)
SETTINGS index_granularity = 8192
COMMENT 'fhirwatch audit request records: the HMAC-chained source of truth of audit_events';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_requests` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_requests_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_requests_local', cityHash64(recorded_by));

INSERT INTO `fhirwatch`.`audit_requests_local` SELECT
    event_id AS request_id, event_time, recorded_by, seq, prev_hash, hash, 1 AS v, tenant_id, 0 AS tenant_claimed,
    routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, fhir_version, batch_id, trace_id,
    http_status, duration_ms, [event_type], [fhir_interaction], [resource_type], [query], [entry_index],
    [http_status], [outcome], [CAST(result_count AS Nullable(Int64))], [1], [patient_id]
FROM `fhirwatch`.`audit_events_local` FINAL;

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`audit_requests_expand` ON CLUSTER '{cluster}'
TO `fhirwatch`.`audit_events_local`
AS SELECT
    if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id,
    event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name,
    source_ip, user_agent,
    e_event_type[_e] AS event_type,
    e_fhir_interaction[_e] AS fhir_interaction,
    e_resource_type[_e] AS resource_type,
    fhir_version,
    e_query[_e] AS query,
    _p AS patient_id,
    batch_id,
    e_entry_index[_e] AS entry_index,
    trace_id,
    e_outcome[_e] AS outcome,
    e_http_status[_e] AS http_status,
    duration_ms,
    CAST(if(ifNull(e_result_count[_e], -1) < 0, NULL, e_result_count[_e]) AS Nullable(UInt32)) AS result_count
FROM `fhirwatch`.`audit_requests_local`
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

-- migration 7: loadtest_runs

CREATE TABLE IF NOT EXISTS `fhirwatch`.`loadtest_runs_local` ON CLUSTER '{cluster}'
(
    `run_id` String,
    `started_at` DateTime64(3, 'UTC'),
    `finished_at` DateTime64(3, 'UTC'),
    `scenario` LowCardinality(String),
    `engine` LowCardinality(String),
    `target` String,
    `tenant_id` String,
    `fhir_version` LowCardinality(String),
    `passed` UInt8,
    `slo_verdicts` String COMMENT 'JSON array of {name, threshold, observed, passed}',
    `requests` UInt64,
    `errors` UInt64,
    `dropped_iterations` UInt64,
    `throughput_rps` Float64,
    `p50_ms` Float64,
    `p95_ms` Float64,
    `p99_ms` Float64,
    `report` String COMMENT 'report.json of the run' CODEC(ZSTD(3))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/loadtest_runs_local', '{replica}')
ORDER BY (started_at, run_id)
COMMENT 'fhirwatch load-test runs (fhirwatch loadtest)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`loadtest_runs` ON CLUSTER '{cluster}'
AS `fhirwatch`.`loadtest_runs_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'loadtest_runs_local', cityHash64(run_id));

-- migration 8: audit_tenant_settings_relationships_groups

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_tenant_settings_local` ON CLUSTER '{cluster}'
(
    `tenant_id` LowCardinality(String),
    `settings` String COMMENT 'JSON: timeZone, workHours, workDays, holidays, thresholds',
    `changed_by` String,
    `changed_at` DateTime64(3, 'UTC'),
    `removed` UInt8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_tenant_settings_local', '{replica}')
ORDER BY (tenant_id, changed_at);

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_tenant_settings` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_tenant_settings_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_tenant_settings_local', cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_care_relationships_local` ON CLUSTER '{cluster}'
(
    `tenant_id` LowCardinality(String),
    `user_id` String,
    `patient_id` String,
    `valid_from` DateTime64(3, 'UTC'),
    `valid_to` DateTime64(3, 'UTC') COMMENT 'exclusive; 2299-12-31 when open',
    `source` String COMMENT 'the imported file name',
    `imported_by` String,
    `imported_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_care_relationships_local', '{replica}')
ORDER BY (tenant_id, user_id, patient_id, valid_from);

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_care_relationships` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_care_relationships_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_care_relationships_local', cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_group_members_local` ON CLUSTER '{cluster}'
(
    `tenant_id` LowCardinality(String),
    `group_id` String,
    `patient_id` String,
    `source` String COMMENT 'the imported file name',
    `imported_by` String,
    `imported_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_group_members_local', '{replica}')
ORDER BY (tenant_id, group_id, patient_id);

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_group_members` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_group_members_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_group_members_local', cityHash64(tenant_id));

-- migration 9: audit_query_log

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_query_log_local` ON CLUSTER '{cluster}'
(
    `query_id` UUID,
    `at` DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `principal` String COMMENT 'token fingerprint, or loopback',
    `actor` String COMMENT 'user named by the caller (x-fhirwatch-actor), as declared',
    `auth` LowCardinality(String) COMMENT 'loopback | token',
    `remote_addr` String,
    `user_agent` String CODEC(ZSTD(1)),
    `surface` LowCardinality(String) COMMENT 'api | console',
    `endpoint` LowCardinality(String),
    `parameters` String COMMENT 'PHI: query parameters as sent (JSON)' CODEC(ZSTD(3)),
    `format` LowCardinality(String),
    `rows` UInt64,
    `status` UInt16,
    `error_code` LowCardinality(String),
    `duration_ms` Float64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_query_log_local', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (at, query_id)
TTL toDateTime(at) + toIntervalDay(2557)
COMMENT 'fhirwatch: reads of audit records through the query API and console (audit of audit access)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_query_log` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_query_log_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_query_log_local', cityHash64(query_id));

-- migration 10: audit_events_by_patient

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_events_by_patient_local` ON CLUSTER '{cluster}'
(
    `event_id` UUID COMMENT 'UUIDv7, idempotency key',
    `event_time` DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `recorded_by` LowCardinality(String),
    `seq` UInt64 CODEC(Delta(8), ZSTD(1)),
    `prev_hash` String CODEC(ZSTD(1)),
    `hash` String CODEC(ZSTD(1)),
    `tenant_id` LowCardinality(String),
    `routed_tenant_id` LowCardinality(String),
    `client_id` LowCardinality(String),
    `user_id` String CODEC(ZSTD(1)),
    `user_name` String CODEC(ZSTD(1)),
    `source_ip` String CODEC(ZSTD(1)),
    `user_agent` LowCardinality(String),
    `event_type` LowCardinality(String),
    `fhir_interaction` LowCardinality(String),
    `resource_type` LowCardinality(String),
    `fhir_version` LowCardinality(String),
    `query` String COMMENT 'PHI: search parameters as sent' CODEC(ZSTD(3)),
    `patient_id` String CODEC(ZSTD(1)),
    `batch_id` String CODEC(ZSTD(1)),
    `entry_index` Int32,
    `trace_id` String CODEC(ZSTD(1)),
    `outcome` UInt8,
    `http_status` UInt16,
    `duration_ms` Float64 CODEC(ZSTD(1)),
    `result_count` Nullable(UInt32)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_events_by_patient_local', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (patient_id, tenant_id, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(2557)
SETTINGS index_granularity = 1024, min_compress_block_size = 4096, max_compress_block_size = 65536
COMMENT 'copy of audit_events with yearly partitions for the patient access report (fed by a view)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_events_by_patient` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_events_by_patient_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_events_by_patient_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`audit_events_by_patient_mv` ON CLUSTER '{cluster}'
TO `fhirwatch`.`audit_events_by_patient_local`
AS SELECT event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, event_type, fhir_interaction, resource_type, fhir_version, query, patient_id, batch_id, entry_index, trace_id, outcome, http_status, duration_ms, result_count FROM `fhirwatch`.`audit_events_local`;

INSERT INTO `fhirwatch`.`audit_events_by_patient` (`event_id`, `event_time`, `recorded_by`, `seq`, `prev_hash`, `hash`, `tenant_id`, `routed_tenant_id`, `client_id`, `user_id`, `user_name`, `source_ip`, `user_agent`, `event_type`, `fhir_interaction`, `resource_type`, `fhir_version`, `query`, `patient_id`, `batch_id`, `entry_index`, `trace_id`, `outcome`, `http_status`, `duration_ms`, `result_count`)
SELECT `event_id`, `event_time`, `recorded_by`, `seq`, `prev_hash`, `hash`, `tenant_id`, `routed_tenant_id`, `client_id`, `user_id`, `user_name`, `source_ip`, `user_agent`, `event_type`, `fhir_interaction`, `resource_type`, `fhir_version`, `query`, `patient_id`, `batch_id`, `entry_index`, `trace_id`, `outcome`, `http_status`, `duration_ms`, `result_count` FROM `fhirwatch`.`audit_events`;

-- migration 11: audit_patient_index

DROP VIEW IF EXISTS `fhirwatch`.`audit_requests_expand_local` ON CLUSTER '{cluster}';

DROP VIEW IF EXISTS `fhirwatch`.`audit_requests_expand` ON CLUSTER '{cluster}';

ALTER TABLE `fhirwatch`.`audit_requests_local` ON CLUSTER '{cluster}' MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE `fhirwatch`.`audit_requests_local` ON CLUSTER '{cluster}' ADD PROJECTION IF NOT EXISTS by_user (SELECT tenant_id, user_id, event_time, recorded_by, seq ORDER BY (tenant_id, user_id, event_time));

ALTER TABLE `fhirwatch`.`audit_requests_local` ON CLUSTER '{cluster}' MATERIALIZE PROJECTION by_user;

DROP VIEW IF EXISTS `fhirwatch`.`audit_events_by_patient_mv_local` ON CLUSTER '{cluster}';

DROP VIEW IF EXISTS `fhirwatch`.`audit_events_by_patient_mv` ON CLUSTER '{cluster}';

INSERT INTO `fhirwatch`.`audit_requests_local` SELECT
    event_id AS request_id, event_time, recorded_by, seq, prev_hash, hash, 1 AS v, tenant_id, 0 AS tenant_claimed,
    routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, fhir_version, batch_id, trace_id,
    http_status, duration_ms, [event_type], [fhir_interaction], [resource_type], [query], [entry_index],
    [http_status], [outcome], [CAST(result_count AS Nullable(Int64))], [1], [patient_id]
FROM `fhirwatch`.`audit_events_local`
WHERE (recorded_by, seq) NOT IN (SELECT recorded_by, seq FROM `fhirwatch`.`audit_requests_local`)
LIMIT 1 BY event_id;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_patient_index_local` ON CLUSTER '{cluster}'
(
    `patient_id` String CODEC(ZSTD(1)),
    `tenant_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `recorded_by` LowCardinality(String),
    `seq` UInt64 CODEC(ZSTD(1)),
    `event_id` UUID COMMENT 'the per-patient event id (request id and expansion ordinal)'
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_patient_index_local', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (patient_id, tenant_id, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(2557)
SETTINGS index_granularity = 8192
COMMENT 'per-patient index of audit_requests: which requests disclosed a patient (fed by a view)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_patient_index` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_patient_index_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_patient_index_local', cityHash64(recorded_by));

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`audit_patient_index_mv` ON CLUSTER '{cluster}'
TO `fhirwatch`.`audit_patient_index_local`
AS SELECT _p AS patient_id, tenant_id, event_time, recorded_by, seq, if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id
FROM `fhirwatch`.`audit_requests_local`
ARRAY JOIN x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

INSERT INTO `fhirwatch`.`audit_patient_index_local` SELECT _p AS patient_id, tenant_id, event_time, recorded_by, seq, if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id
FROM `fhirwatch`.`audit_requests_local`
ARRAY JOIN x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

DROP VIEW IF EXISTS `fhirwatch`.`audit_events_dedup_local` ON CLUSTER '{cluster}';

DROP VIEW IF EXISTS `fhirwatch`.`audit_events_dedup` ON CLUSTER '{cluster}';

DROP TABLE IF EXISTS `fhirwatch`.`audit_events_by_patient_local` ON CLUSTER '{cluster}';

DROP TABLE IF EXISTS `fhirwatch`.`audit_events_by_patient` ON CLUSTER '{cluster}';

DROP TABLE IF EXISTS `fhirwatch`.`audit_events_local` ON CLUSTER '{cluster}';

DROP TABLE IF EXISTS `fhirwatch`.`audit_events` ON CLUSTER '{cluster}';

CREATE VIEW IF NOT EXISTS `fhirwatch`.`audit_events` ON CLUSTER '{cluster}'
AS SELECT if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, e_event_type[_e] AS event_type, e_fhir_interaction[_e] AS fhir_interaction, e_resource_type[_e] AS resource_type, fhir_version, e_query[_e] AS query, _p AS patient_id, batch_id, e_entry_index[_e] AS entry_index, trace_id, e_outcome[_e] AS outcome, e_http_status[_e] AS http_status, floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms, CAST(if(ifNull(e_result_count[_e], -1) < 0, NULL, e_result_count[_e]) AS Nullable(UInt32)) AS result_count
FROM `fhirwatch`.`audit_requests`
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

CREATE VIEW IF NOT EXISTS `fhirwatch`.`audit_events_dedup` ON CLUSTER '{cluster}'
AS SELECT if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, e_event_type[_e] AS event_type, e_fhir_interaction[_e] AS fhir_interaction, e_resource_type[_e] AS resource_type, fhir_version, e_query[_e] AS query, _p AS patient_id, batch_id, e_entry_index[_e] AS entry_index, trace_id, e_outcome[_e] AS outcome, e_http_status[_e] AS http_status, floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms, CAST(if(ifNull(e_result_count[_e], -1) < 0, NULL, e_result_count[_e]) AS Nullable(UInt32)) AS result_count
FROM `fhirwatch`.`audit_requests` FINAL
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_verify_checkpoints_local` ON CLUSTER '{cluster}'
(
    `recorded_by` LowCardinality(String),
    `seq` UInt64,
    `hash` String,
    `records` UInt64,
    `rows` UInt64,
    `verified_at` DateTime64(3, 'UTC'),
    `signature` String COMMENT 'HMAC-SHA256 (hex) of the fields, key derived from the audit key'
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_verify_checkpoints_local', '{replica}')
ORDER BY (recorded_by, seq, verified_at)
TTL toDateTime(verified_at) + toIntervalDay(2557)
COMMENT 'fhirwatch audit verify checkpoints (signed): last verified seq and hash per writer';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_verify_checkpoints` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_verify_checkpoints_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_verify_checkpoints_local', cityHash64(recorded_by));

-- migration 12: audit_incidents

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_incidents_local` ON CLUSTER '{cluster}'
(
    `incident_id` String COMMENT 'sha256(report, tenant, principal, period) hex, 32 chars',
    `report` LowCardinality(String),
    `tenant_id` LowCardinality(String),
    `principal` String COMMENT 'the flagged user id, or client:<id>',
    `period_from` DateTime64(3, 'UTC'),
    `period_to` DateTime64(3, 'UTC'),
    `rows` UInt32 COMMENT 'report rows that flag the principal',
    `patients` UInt32 COMMENT 'distinct patient ids in those rows (0 when the rows name none)',
    `patient_ids` Array(String) COMMENT 'PHI: sent only when the tenant settings allow it',
    `detected_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_incidents_local', '{replica}')
PARTITION BY toYYYYMM(period_from)
ORDER BY incident_id
TTL toDateTime(detected_at) + toIntervalDay(2557)
COMMENT 'fhirwatch: incidents found by the monitoring reports (one row per incident key)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_incidents` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_incidents_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_incidents_local', cityHash64(incident_id));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_incident_events_local` ON CLUSTER '{cluster}'
(
    `incident_id` String,
    `at` DateTime64(3, 'UTC'),
    `actor` String COMMENT 'who changed it (officer, OS user, or fhirwatch-sink)',
    `from_state` LowCardinality(String) COMMENT '\'\' when created',
    `to_state` LowCardinality(String) COMMENT 'open | acknowledged | closed',
    `note` String CODEC(ZSTD(1))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_incident_events_local', '{replica}')
ORDER BY (incident_id, at)
TTL toDateTime(at) + toIntervalDay(2557)
COMMENT 'fhirwatch: every state change of an incident (append-only)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_incident_events` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_incident_events_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_incident_events_local', cityHash64(incident_id));

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_incident_outbox_local` ON CLUSTER '{cluster}'
(
    `destination` LowCardinality(String),
    `incident_id` String,
    `attempt` UInt32 COMMENT 'version: attempts made; delivered rows carry 1000000 + attempts',
    `status` LowCardinality(String) COMMENT 'pending | delivered',
    `next_attempt_at` DateTime64(3, 'UTC'),
    `last_error` LowCardinality(String) COMMENT 'an error code or HTTP status, never a payload',
    `updated_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_incident_outbox_local', '{replica}', attempt)
ORDER BY (destination, incident_id)
TTL toDateTime(updated_at) + toIntervalDay(2557)
COMMENT 'fhirwatch: deliveries of incidents to their destinations (newest attempt wins)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_incident_outbox` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_incident_outbox_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_incident_outbox_local', cityHash64(incident_id));

-- migration 13: audit_query_log_comments

ALTER TABLE `fhirwatch`.`audit_query_log_local` ON CLUSTER '{cluster}' COMMENT COLUMN principal 'who is authenticated: token:<name> (named or shared token), loopback, or os:<OS user> (in process)', COMMENT COLUMN actor 'who asked, as recorded: the officer of a named token, else x-fhirwatch-actor (CLI: --actor or the OS user)', COMMENT COLUMN auth 'loopback | token | process (the query core run in the reader\'s own process)', COMMENT COLUMN surface 'api | console | cli | demo';

ALTER TABLE `fhirwatch`.`audit_query_log` ON CLUSTER '{cluster}' COMMENT COLUMN principal 'who is authenticated: token:<name> (named or shared token), loopback, or os:<OS user> (in process)', COMMENT COLUMN actor 'who asked, as recorded: the officer of a named token, else x-fhirwatch-actor (CLI: --actor or the OS user)', COMMENT COLUMN auth 'loopback | token | process (the query core run in the reader\'s own process)', COMMENT COLUMN surface 'api | console | cli | demo';

ALTER TABLE `fhirwatch`.`audit_query_log_local` ON CLUSTER '{cluster}' MODIFY COMMENT 'fhirwatch: every read of audit records (query API over HTTP, console, CLI and demo in process), itself audited';

-- migration 14: audit_patient_index_wide

DROP VIEW IF EXISTS `fhirwatch`.`audit_patient_index_mv_local` ON CLUSTER '{cluster}';

DROP VIEW IF EXISTS `fhirwatch`.`audit_patient_index_mv` ON CLUSTER '{cluster}';

DROP TABLE IF EXISTS `fhirwatch`.`audit_patient_index_local` ON CLUSTER '{cluster}' SYNC;

DROP TABLE IF EXISTS `fhirwatch`.`audit_patient_index` ON CLUSTER '{cluster}' SYNC;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_patient_index_local` ON CLUSTER '{cluster}'
(
    `event_id` UUID COMMENT 'the per-patient event id (request id and expansion ordinal)',
    `event_time` DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `recorded_by` LowCardinality(String),
    `seq` UInt64 CODEC(ZSTD(1)),
    `prev_hash` String CODEC(ZSTD(1)),
    `hash` String CODEC(ZSTD(1)),
    `tenant_id` LowCardinality(String),
    `routed_tenant_id` LowCardinality(String),
    `client_id` LowCardinality(String),
    `user_id` String CODEC(ZSTD(1)),
    `user_name` String CODEC(ZSTD(1)),
    `source_ip` String CODEC(ZSTD(1)),
    `user_agent` LowCardinality(String),
    `event_type` LowCardinality(String),
    `fhir_interaction` LowCardinality(String),
    `resource_type` LowCardinality(String),
    `fhir_version` LowCardinality(String),
    `query` String COMMENT 'PHI: search parameters as sent' CODEC(ZSTD(3)),
    `patient_id` String CODEC(ZSTD(1)),
    `batch_id` String CODEC(ZSTD(1)),
    `entry_index` Int32,
    `trace_id` String CODEC(ZSTD(1)),
    `outcome` UInt8,
    `http_status` UInt16,
    `duration_ms` Float64 CODEC(ZSTD(1)),
    `result_count` Nullable(UInt32) COMMENT 'null = unknown (over the capture cap)'
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_patient_index_local', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (patient_id, tenant_id, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(2557)
SETTINGS index_granularity = 8192
COMMENT 'per-patient rows of audit_requests (every row field), patient first (fed by a view)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_patient_index` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_patient_index_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_patient_index_local', cityHash64(recorded_by));

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`audit_patient_index_mv` ON CLUSTER '{cluster}'
TO `fhirwatch`.`audit_patient_index_local`
AS SELECT if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, e_event_type[_e] AS event_type, e_fhir_interaction[_e] AS fhir_interaction, e_resource_type[_e] AS resource_type, fhir_version, e_query[_e] AS query, _p AS patient_id, batch_id, e_entry_index[_e] AS entry_index, trace_id, e_outcome[_e] AS outcome, e_http_status[_e] AS http_status, floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms, CAST(if(ifNull(e_result_count[_e], -1) < 0, NULL, e_result_count[_e]) AS Nullable(UInt32)) AS result_count
FROM `fhirwatch`.`audit_requests_local`
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

INSERT INTO `fhirwatch`.`audit_patient_index_local` SELECT if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, e_event_type[_e] AS event_type, e_fhir_interaction[_e] AS fhir_interaction, e_resource_type[_e] AS resource_type, fhir_version, e_query[_e] AS query, _p AS patient_id, batch_id, e_entry_index[_e] AS entry_index, trace_id, e_outcome[_e] AS outcome, e_http_status[_e] AS http_status, floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms, CAST(if(ifNull(e_result_count[_e], -1) < 0, NULL, e_result_count[_e]) AS Nullable(UInt32)) AS result_count
FROM `fhirwatch`.`audit_requests_local`
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

-- migration 15: audit_patient_index_small_granules

DROP VIEW IF EXISTS `fhirwatch`.`audit_patient_index_mv_local` ON CLUSTER '{cluster}';

DROP VIEW IF EXISTS `fhirwatch`.`audit_patient_index_mv` ON CLUSTER '{cluster}';

DROP TABLE IF EXISTS `fhirwatch`.`audit_patient_index_local` ON CLUSTER '{cluster}' SYNC;

DROP TABLE IF EXISTS `fhirwatch`.`audit_patient_index` ON CLUSTER '{cluster}' SYNC;

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_patient_index_local` ON CLUSTER '{cluster}'
(
    `event_id` UUID COMMENT 'the per-patient event id (request id and expansion ordinal)',
    `event_time` DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `recorded_by` LowCardinality(String),
    `seq` UInt64 CODEC(ZSTD(1)),
    `prev_hash` String CODEC(ZSTD(1)),
    `hash` String CODEC(ZSTD(1)),
    `tenant_id` LowCardinality(String),
    `routed_tenant_id` LowCardinality(String),
    `client_id` LowCardinality(String),
    `user_id` String CODEC(ZSTD(1)),
    `user_name` String CODEC(ZSTD(1)),
    `source_ip` String CODEC(ZSTD(1)),
    `user_agent` LowCardinality(String),
    `event_type` LowCardinality(String),
    `fhir_interaction` LowCardinality(String),
    `resource_type` LowCardinality(String),
    `fhir_version` LowCardinality(String),
    `query` String COMMENT 'PHI: search parameters as sent' CODEC(ZSTD(3)),
    `patient_id` String CODEC(ZSTD(1)),
    `batch_id` String CODEC(ZSTD(1)),
    `entry_index` Int32,
    `trace_id` String CODEC(ZSTD(1)),
    `outcome` UInt8,
    `http_status` UInt16,
    `duration_ms` Float64 CODEC(ZSTD(1)),
    `result_count` Nullable(UInt32) COMMENT 'null = unknown (over the capture cap)'
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fhirwatch/audit_patient_index_local', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (patient_id, tenant_id, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(2557)
SETTINGS index_granularity = 1024, min_compress_block_size = 4096, max_compress_block_size = 65536
COMMENT 'per-patient rows of audit_requests (every row field), patient first (fed by a view)';

CREATE TABLE IF NOT EXISTS `fhirwatch`.`audit_patient_index` ON CLUSTER '{cluster}'
AS `fhirwatch`.`audit_patient_index_local`
ENGINE = Distributed('{cluster}', 'fhirwatch', 'audit_patient_index_local', cityHash64(recorded_by));

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`audit_patient_index_mv` ON CLUSTER '{cluster}'
TO `fhirwatch`.`audit_patient_index_local`
AS SELECT if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, e_event_type[_e] AS event_type, e_fhir_interaction[_e] AS fhir_interaction, e_resource_type[_e] AS resource_type, fhir_version, e_query[_e] AS query, _p AS patient_id, batch_id, e_entry_index[_e] AS entry_index, trace_id, e_outcome[_e] AS outcome, e_http_status[_e] AS http_status, floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms, CAST(if(ifNull(e_result_count[_e], -1) < 0, NULL, e_result_count[_e]) AS Nullable(UInt32)) AS result_count
FROM `fhirwatch`.`audit_requests_local`
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

INSERT INTO `fhirwatch`.`audit_patient_index_local` SELECT if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, e_event_type[_e] AS event_type, e_fhir_interaction[_e] AS fhir_interaction, e_resource_type[_e] AS resource_type, fhir_version, e_query[_e] AS query, _p AS patient_id, batch_id, e_entry_index[_e] AS entry_index, trace_id, e_outcome[_e] AS outcome, e_http_status[_e] AS http_status, floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms, CAST(if(ifNull(e_result_count[_e], -1) < 0, NULL, e_result_count[_e]) AS Nullable(UInt32)) AS result_count
FROM `fhirwatch`.`audit_requests_local`
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

-- migration 16: audit_patient_index_linear_view

CREATE MATERIALIZED VIEW IF NOT EXISTS `fhirwatch`.`audit_patient_index_expand` ON CLUSTER '{cluster}'
TO `fhirwatch`.`audit_patient_index_local`
AS SELECT if(_o = 1, request_id, toUUID(concat(substring(toString(request_id), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(request_id), 29, 8)))), toUInt32(_o - 1)))), 8, '0')))) AS event_id, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, _x_event_type AS event_type, _x_fhir_interaction AS fhir_interaction, _x_resource_type AS resource_type, fhir_version, _x_query AS query, _p AS patient_id, batch_id, _x_entry_index AS entry_index, trace_id, _x_outcome AS outcome, _x_http_status AS http_status, floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms, CAST(if(ifNull(_x_result_count, -1) < 0, NULL, _x_result_count) AS Nullable(UInt32)) AS result_count
FROM (SELECT *, x_entry[1] = 1 AND x_entry[-1] = length(e_event_type) AND arrayAll(d -> d = 0 OR d = 1, arrayDifference(x_entry)) AS _std, arrayMap(r -> length(r), arraySplit((e, d) -> d != 0, x_entry, arrayDifference(x_entry))) AS _runs, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_event_type, _runs)), arrayMap(_e -> e_event_type[_e], x_entry)) AS _x_event_type, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_fhir_interaction, _runs)), arrayMap(_e -> e_fhir_interaction[_e], x_entry)) AS _x_fhir_interaction, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_resource_type, _runs)), arrayMap(_e -> e_resource_type[_e], x_entry)) AS _x_resource_type, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_query, _runs)), arrayMap(_e -> e_query[_e], x_entry)) AS _x_query, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_entry_index, _runs)), arrayMap(_e -> e_entry_index[_e], x_entry)) AS _x_entry_index, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_outcome, _runs)), arrayMap(_e -> e_outcome[_e], x_entry)) AS _x_outcome, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_http_status, _runs)), arrayMap(_e -> e_http_status[_e], x_entry)) AS _x_http_status, if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), e_result_count, _runs)), arrayMap(_e -> e_result_count[_e], x_entry)) AS _x_result_count
      FROM `fhirwatch`.`audit_requests_local`)
ARRAY JOIN _x_event_type, _x_fhir_interaction, _x_resource_type, _x_query, _x_entry_index, _x_outcome, _x_http_status, _x_result_count, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o;

DROP VIEW IF EXISTS `fhirwatch`.`audit_patient_index_mv_local` ON CLUSTER '{cluster}';

DROP VIEW IF EXISTS `fhirwatch`.`audit_patient_index_mv` ON CLUSTER '{cluster}';
