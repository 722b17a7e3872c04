/**
 * Telemetry tables with the column names and types of the OpenTelemetry Collector's ClickHouse exporter
 * (opentelemetry-collector-contrib, exporter/clickhouseexporter/internal/sqltemplates, non-JSON variant with
 * DateTime64(9) metrics), so the standard Collector can write into them (`create_schema: false`, README
 * "Running the OpenTelemetry Collector instead") and Grafana's ClickHouse OTel views read them.
 *
 * Every column the exporter writes exists with its type (EventName on otel_logs and the
 * otel_traces_trace_id_ts lookup table + view came with migration 5). The differences are not all additive:
 * - an extra `TenantId` MATERIALIZED column (from the `tenant.id` attribute, resource first, then span / log /
 *   data-point attributes); the exporter's INSERTs name their columns, so it does not disturb them;
 * - different sort keys: `TenantId` leads every ORDER BY / PRIMARY KEY (the exporter's start with ServiceName,
 *   and newer exporter versions order logs by time bucket first), so queries written for the exporter's key
 *   return the same rows but may read more of the table;
 * - codecs (`Duration` T64), settings (`non_replicated_deduplication_window` for idempotent spool replay) and
 *   our own retention TTL instead of the exporter's `ttl`.
 */
import { ATTRIBUTES } from '@fhirwatch/contract';
import type { AddColumnsDef, ColumnDef, MaterializedViewDef, TableDef } from './types.ts';

/** Attribute carrying the tenant on telemetry (resource or span/log/data-point attribute). */
export const TENANT_ATTRIBUTE = ATTRIBUTES.tenantId;
/** Default telemetry retention (days). */
export const DEFAULT_TELEMETRY_RETENTION_DAYS = 30;

export const OTEL_TABLES = {
  traces: 'otel_traces',
  logs: 'otel_logs',
  gauge: 'otel_metrics_gauge',
  sum: 'otel_metrics_sum',
  histogram: 'otel_metrics_histogram',
  exponentialHistogram: 'otel_metrics_exponential_histogram',
  summary: 'otel_metrics_summary',
} as const;

/** The Collector exporter's trace-id lookup (first and last span time per trace, for "trace by id" reads). */
export const TRACE_ID_TS_TABLE = 'otel_traces_trace_id_ts';
export const TRACE_ID_TS_VIEW = 'otel_traces_trace_id_ts_mv';

export const LATENCY_ROLLUP_TABLE = 'otel_latency_rollup';
export const LATENCY_ROLLUP_VIEW = 'otel_latency_rollup_mv';
/** Quantile levels stored in the rollup's t-digest states (read with quantilesTDigestMerge(…)(LatencyMs)). */
export const LATENCY_ROLLUP_LEVELS = [0.5, 0.9, 0.95, 0.99] as const;

const z1 = 'CODEC(ZSTD(1))';
const attrMap = 'Map(LowCardinality(String), String)';
const lc = 'LowCardinality(String)';

function tenantColumn(otherMap: string): ColumnDef {
  return {
    name: 'TenantId',
    type: lc,
    expression: `MATERIALIZED if(ResourceAttributes['${TENANT_ATTRIBUTE}'] != '', ResourceAttributes['${TENANT_ATTRIBUTE}'], ${otherMap}['${TENANT_ATTRIBUTE}'])`,
    comment: 'fhirwatch: tenant for the sort key',
  };
}

const attrIndexes = (maps: readonly [string, string][]): string[] =>
  maps.flatMap(([prefix, column]) => [
    `idx_${prefix}_key mapKeys(${column}) TYPE bloom_filter(0.01) GRANULARITY 1`,
    `idx_${prefix}_value mapValues(${column}) TYPE bloom_filter(0.01) GRANULARITY 1`,
  ]);

function telemetrySettings(): Record<string, string | number> {
  // the deduplication window makes spool replay idempotent (insert_deduplication_token = spool file name)
  return { index_granularity: 8192, ttl_only_drop_parts: 1, non_replicated_deduplication_window: 1000 };
}

const ttlDays = (column: string, days: number): string => `toDateTime(${column}) + toIntervalDay(${days})`;

export function otelTracesTable(days: number): TableDef {
  return {
    kind: 'table',
    name: OTEL_TABLES.traces,
    columns: [
      { name: 'Timestamp', type: 'DateTime64(9)', codec: 'CODEC(Delta(8), ZSTD(1))' },
      { name: 'TraceId', type: 'String', codec: z1 },
      { name: 'SpanId', type: 'String', codec: z1 },
      { name: 'ParentSpanId', type: 'String', codec: z1 },
      { name: 'TraceState', type: 'String', codec: z1 },
      { name: 'SpanName', type: lc, codec: z1 },
      { name: 'SpanKind', type: lc, codec: z1 },
      { name: 'ServiceName', type: lc, codec: z1 },
      { name: 'ResourceAttributes', type: attrMap, codec: z1 },
      { name: 'ScopeName', type: 'String', codec: z1 },
      { name: 'ScopeVersion', type: 'String', codec: z1 },
      { name: 'SpanAttributes', type: attrMap, codec: z1 },
      { name: 'Duration', type: 'UInt64', codec: 'CODEC(T64, ZSTD(1))' },
      { name: 'StatusCode', type: lc, codec: z1 },
      { name: 'StatusMessage', type: 'String', codec: z1 },
      { name: 'Events', type: `Nested(Timestamp DateTime64(9), Name ${lc}, Attributes ${attrMap})`, codec: z1 },
      {
        name: 'Links',
        type: `Nested(TraceId String, SpanId String, TraceState String, Attributes ${attrMap})`,
        codec: z1,
      },
      tenantColumn('SpanAttributes'),
    ],
    indexes: [
      'idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1',
      ...attrIndexes([
        ['res_attr', 'ResourceAttributes'],
        ['span_attr', 'SpanAttributes'],
      ]),
      'idx_duration Duration TYPE minmax GRANULARITY 1',
    ],
    engine: 'MergeTree',
    partitionBy: 'toDate(Timestamp)',
    primaryKey: '(TenantId, ServiceName, SpanName, toDateTime(Timestamp))',
    orderBy: '(TenantId, ServiceName, SpanName, toDateTime(Timestamp), Timestamp)',
    ttl: ttlDays('Timestamp', days),
    settings: telemetrySettings(),
    shardingKey: 'cityHash64(TenantId)',
  };
}

export function otelLogsTable(days: number): TableDef {
  return {
    kind: 'table',
    name: OTEL_TABLES.logs,
    columns: [
      { name: 'Timestamp', type: 'DateTime64(9)', codec: 'CODEC(Delta(8), ZSTD(1))' },
      { name: 'TimestampTime', type: 'DateTime', expression: 'DEFAULT toDateTime(Timestamp)' },
      { name: 'TraceId', type: 'String', codec: z1 },
      { name: 'SpanId', type: 'String', codec: z1 },
      { name: 'TraceFlags', type: 'UInt8' },
      { name: 'SeverityText', type: lc, codec: z1 },
      { name: 'SeverityNumber', type: 'UInt8' },
      { name: 'ServiceName', type: lc, codec: z1 },
      { name: 'Body', type: 'String', codec: z1 },
      { name: 'ResourceSchemaUrl', type: lc, codec: z1 },
      { name: 'ResourceAttributes', type: attrMap, codec: z1 },
      { name: 'ScopeSchemaUrl', type: lc, codec: z1 },
      { name: 'ScopeName', type: 'String', codec: z1 },
      { name: 'ScopeVersion', type: lc, codec: z1 },
      { name: 'ScopeAttributes', type: attrMap, codec: z1 },
      { name: 'LogAttributes', type: attrMap, codec: z1 },
      tenantColumn('LogAttributes'),
    ],
    indexes: [
      'idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1',
      ...attrIndexes([
        ['res_attr', 'ResourceAttributes'],
        ['scope_attr', 'ScopeAttributes'],
        ['log_attr', 'LogAttributes'],
      ]),
      'idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8',
    ],
    engine: 'MergeTree',
    partitionBy: 'toDate(TimestampTime)',
    primaryKey: '(TenantId, ServiceName, TimestampTime)',
    orderBy: '(TenantId, ServiceName, TimestampTime, Timestamp)',
    ttl: ttlDays('TimestampTime', days),
    settings: telemetrySettings(),
    shardingKey: 'cityHash64(TenantId)',
  };
}

const exemplarsColumn: ColumnDef = {
  name: 'Exemplars',
  type: `Nested(FilteredAttributes ${attrMap}, TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String)`,
  codec: z1,
};

/** Columns every metrics table starts with. */
const metricHead: readonly ColumnDef[] = [
  { name: 'ResourceAttributes', type: attrMap, codec: z1 },
  { name: 'ResourceSchemaUrl', type: 'String', codec: z1 },
  { name: 'ScopeName', type: 'String', codec: z1 },
  { name: 'ScopeVersion', type: 'String', codec: z1 },
  { name: 'ScopeAttributes', type: attrMap, codec: z1 },
  { name: 'ScopeDroppedAttrCount', type: 'UInt32', codec: z1 },
  { name: 'ScopeSchemaUrl', type: 'String', codec: z1 },
  { name: 'ServiceName', type: lc, codec: z1 },
  { name: 'MetricName', type: 'String', codec: z1 },
  { name: 'MetricDescription', type: 'String', codec: z1 },
  { name: 'MetricUnit', type: 'String', codec: z1 },
  { name: 'Attributes', type: attrMap, codec: z1 },
  { name: 'StartTimeUnix', type: 'DateTime64(9)', codec: 'CODEC(Delta, ZSTD(1))' },
  { name: 'TimeUnix', type: 'DateTime64(9)', codec: 'CODEC(Delta, ZSTD(1))' },
];

function metricTable(name: string, body: readonly ColumnDef[], days: number): TableDef {
  return {
    kind: 'table',
    name,
    columns: [...metricHead, ...body, tenantColumn('Attributes')],
    indexes: attrIndexes([
      ['res_attr', 'ResourceAttributes'],
      ['scope_attr', 'ScopeAttributes'],
      ['attr', 'Attributes'],
    ]),
    engine: 'MergeTree',
    partitionBy: 'toDate(TimeUnix)',
    orderBy: '(TenantId, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))',
    ttl: ttlDays('TimeUnix', days),
    settings: telemetrySettings(),
    shardingKey: 'cityHash64(TenantId)',
  };
}

export function otelMetricTables(days: number): TableDef[] {
  return [
    metricTable(
      OTEL_TABLES.gauge,
      [{ name: 'Value', type: 'Float64', codec: z1 }, { name: 'Flags', type: 'UInt32', codec: z1 }, exemplarsColumn],
      days,
    ),
    metricTable(
      OTEL_TABLES.sum,
      [
        { name: 'Value', type: 'Float64', codec: z1 },
        { name: 'Flags', type: 'UInt32', codec: z1 },
        exemplarsColumn,
        { name: 'AggregationTemporality', type: 'Int32', codec: z1 },
        { name: 'IsMonotonic', type: 'Bool', codec: 'CODEC(Delta, ZSTD(1))' },
      ],
      days,
    ),
    metricTable(
      OTEL_TABLES.histogram,
      [
        { name: 'Count', type: 'UInt64', codec: 'CODEC(Delta, ZSTD(1))' },
        { name: 'Sum', type: 'Float64', codec: z1 },
        { name: 'BucketCounts', type: 'Array(UInt64)', codec: z1 },
        { name: 'ExplicitBounds', type: 'Array(Float64)', codec: z1 },
        exemplarsColumn,
        { name: 'Flags', type: 'UInt32', codec: z1 },
        { name: 'Min', type: 'Float64', codec: z1 },
        { name: 'Max', type: 'Float64', codec: z1 },
        { name: 'AggregationTemporality', type: 'Int32', codec: z1 },
      ],
      days,
    ),
    metricTable(
      OTEL_TABLES.exponentialHistogram,
      [
        { name: 'Count', type: 'UInt64', codec: 'CODEC(Delta, ZSTD(1))' },
        { name: 'Sum', type: 'Float64', codec: z1 },
        { name: 'Scale', type: 'Int32', codec: z1 },
        { name: 'ZeroCount', type: 'UInt64', codec: z1 },
        { name: 'PositiveOffset', type: 'Int32', codec: z1 },
        { name: 'PositiveBucketCounts', type: 'Array(UInt64)', codec: z1 },
        { name: 'NegativeOffset', type: 'Int32', codec: z1 },
        { name: 'NegativeBucketCounts', type: 'Array(UInt64)', codec: z1 },
        exemplarsColumn,
        { name: 'Flags', type: 'UInt32', codec: z1 },
        { name: 'Min', type: 'Float64', codec: z1 },
        { name: 'Max', type: 'Float64', codec: z1 },
        { name: 'AggregationTemporality', type: 'Int32', codec: z1 },
      ],
      days,
    ),
    metricTable(
      OTEL_TABLES.summary,
      [
        { name: 'Count', type: 'UInt64', codec: 'CODEC(Delta, ZSTD(1))' },
        { name: 'Sum', type: 'Float64', codec: z1 },
        { name: 'ValueAtQuantiles', type: 'Nested(Quantile Float64, Value Float64)', codec: z1 },
        { name: 'Flags', type: 'UInt32', codec: z1 },
      ],
      days,
    ),
  ];
}

/**
 * Per-tenant latency rollup: t-digest quantile states of server-span durations (ms) per tenant, service,
 * route and minute, fed by a materialized view on otel_traces. Read with
 * `quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(LatencyMs)`, `sum(Requests)`, `sum(Errors)`.
 */
export function latencyRollupTable(days: number): TableDef {
  const levels = LATENCY_ROLLUP_LEVELS.join(', ');
  return {
    kind: 'table',
    name: LATENCY_ROLLUP_TABLE,
    columns: [
      { name: 'TenantId', type: lc },
      { name: 'ServiceName', type: lc },
      { name: 'Route', type: lc },
      { name: 'Minute', type: 'DateTime' },
      { name: 'Requests', type: 'SimpleAggregateFunction(sum, UInt64)' },
      { name: 'Errors', type: 'SimpleAggregateFunction(sum, UInt64)' },
      { name: 'LatencyMs', type: `AggregateFunction(quantilesTDigest(${levels}), Float64)` },
    ],
    engine: 'AggregatingMergeTree',
    partitionBy: 'toDate(Minute)',
    orderBy: '(TenantId, ServiceName, Route, Minute)',
    ttl: `Minute + toIntervalDay(${days})`,
    settings: telemetrySettings(),
    shardingKey: 'cityHash64(TenantId)',
  };
}

export const latencyRollupView: MaterializedViewDef = {
  kind: 'materialized-view',
  name: LATENCY_ROLLUP_VIEW,
  to: LATENCY_ROLLUP_TABLE,
  from: OTEL_TABLES.traces,
  select: `SELECT
    TenantId,
    ServiceName,
    if(SpanAttributes['${ATTRIBUTES.httpRoute}'] != '', SpanAttributes['${ATTRIBUTES.httpRoute}'], SpanName) AS Route,
    toStartOfMinute(Timestamp) AS Minute,
    toUInt64(count()) AS Requests,
    toUInt64(countIf(StatusCode = 'STATUS_CODE_ERROR' OR toUInt16OrZero(SpanAttributes['${ATTRIBUTES.httpResponseStatusCode}']) >= 500)) AS Errors,
    quantilesTDigestState(${LATENCY_ROLLUP_LEVELS.join(', ')})(Duration / 1e6) AS LatencyMs
  FROM {from}
  WHERE SpanKind = 'SPAN_KIND_SERVER'
  GROUP BY TenantId, ServiceName, Route, Minute`,
};

/** Migration 5: the log record's `event_name` (OTLP LogRecord field 12), where the exporter puts it. */
export const otelLogsEventName: AddColumnsDef = {
  kind: 'add-columns',
  table: OTEL_TABLES.logs,
  columns: [{ name: 'EventName', type: 'String', codec: z1, after: 'LogAttributes' }],
};

/**
 * The exporter's trace-id lookup: per trace the first and last span time (whole seconds), merged by the
 * AggregatingMergeTree, so a "trace by id" read can bound `Timestamp` before it uses the TraceId bloom filter:
 * `WITH (SELECT min(Start) … WHERE TraceId = x) AS start, (SELECT max(End) + 1 …) AS end SELECT … FROM
 * otel_traces WHERE TraceId = x AND Timestamp BETWEEN start AND end`.
 */
export function traceIdTsTable(days: number): TableDef {
  return {
    kind: 'table',
    name: TRACE_ID_TS_TABLE,
    columns: [
      { name: 'TraceId', type: 'String', codec: z1 },
      { name: 'Start', type: 'SimpleAggregateFunction(min, DateTime)', codec: z1 },
      { name: 'End', type: 'SimpleAggregateFunction(max, DateTime)', codec: z1 },
    ],
    engine: 'AggregatingMergeTree',
    partitionBy: 'toStartOfWeek(Start)',
    orderBy: '(TraceId)',
    ttl: ttlDays('Start', days),
    settings: { index_granularity: 8192, ttl_only_drop_parts: 1 },
    // fed only by the view on each shard's otel_traces_local, so a trace's row sits with its spans
    shardingKey: 'cityHash64(TraceId)',
  };
}

/** Fills the lookup from every span insert (spans stored before migration 5 are not in it). */
export const traceIdTsView: MaterializedViewDef = {
  kind: 'materialized-view',
  name: TRACE_ID_TS_VIEW,
  to: TRACE_ID_TS_TABLE,
  from: OTEL_TABLES.traces,
  select: `SELECT
    TraceId,
    min(toDateTime(Timestamp)) AS Start,
    max(toDateTime(Timestamp)) AS End
  FROM {from}
  WHERE TraceId != ''
  GROUP BY TraceId`,
};
