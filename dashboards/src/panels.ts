/**
 * The panels SREs and compliance officers look at. ONE definition per panel (SQL + chart type + columns)
 * drives BOTH the fhirwatch console (packages/console runs `expandMacros(panel.sql, …)` against the store and
 * draws `panel.chart`) AND the Grafana dashboards (scripts/generate-grafana.ts turns PANELS into
 * dashboards/grafana/*.json for the `grafana-clickhouse-datasource` plugin, `rawSql` = `panel.sql` verbatim).
 * Change a panel here, run `npm run generate -w @fhirwatch/dashboards`, and both follow.
 *
 * SQL conventions (the console relies on them):
 * - macros of the ClickHouse data source only (see macros.ts): `$__timeFilter(col)`, `$__timeInterval(col)`,
 *   `$__interval_s`, `$__fromTime`, `$__toTime`, and `$__conditionalAll(col IN (${var}), $var)` for the template
 *   variables `tenant` and `interaction` (never used outside `$__conditionalAll`, so 'all' needs no value list);
 * - the result columns are exactly `columns`, in order. A `timeseries` panel starts with a `time` column (a
 *   DateTime bucket in the store's time zone; fhirwatch stores run in UTC), then `string` columns that name a
 *   series (long format: Grafana's "long to wide"), then `number` columns, each one line per series;
 *   a `bar` panel is the same shape drawn as bars; `table` and `stat` panels are rows as returned;
 * - audit_events may hold a record twice (at-least-once delivery): counts use `uniqExact(event_id)`.
 *
 * Tables and columns: packages/clickhouse-sink/src/store/schema/*.ts (otel_* in the OpenTelemetry Collector's
 * exporter layout, otel_latency_rollup, audit_events, audit_vip_patients) and `loadtest_runs` (migration 7,
 * columns agreed in the team notes; the load-test panels are empty until `fhirwatch loadtest` writes runs).
 */
import { ATTRIBUTES, METRICS } from '@fhirwatch/contract';
import { expandMacros, type MacroContext } from './macros.ts';

export type { MacroContext };
export { expandMacros };

export type PanelBoard = 'sre' | 'compliance' | 'loadtests';
export type PanelChart = 'timeseries' | 'table' | 'stat' | 'bar';
export type PanelColumnType = 'time' | 'number' | 'string';

export interface PanelColumn {
  name: string;
  type: PanelColumnType;
}

export interface PanelDef {
  /** Stable id (console routes, Grafana panel ids are derived from the position in PANELS). */
  id: string;
  board: PanelBoard;
  title: string;
  description: string;
  chart: PanelChart;
  /** grafana-clickhouse-datasource SQL with macros: $__timeFilter(col), $__timeInterval(col), $__fromTime,
   * $__toTime, $__interval_s, $__conditionalAll(cond, $var), and variables ${tenant} ${interaction}. */
  sql: string;
  columns: readonly PanelColumn[];
  /** The answer shows audit records (patient or user ids): a console read of it is recorded in audit_query_log. */
  readsAuditRecords?: true;
}

/** A dashboard template variable (Grafana `query` variable, multi-value with All; the console's selectors). */
export interface PanelVariable {
  name: 'tenant' | 'interaction';
  label: string;
  /** One string column of values; may use the time macros. */
  sql: string;
}

/** Boards in display order, with the Grafana dashboard file each becomes. */
export const BOARDS: readonly { board: PanelBoard; title: string; uid: string; file: string }[] = [
  { board: 'sre', title: 'fhirwatch: SRE overview', uid: 'fhirwatch-sre', file: 'sre-overview.json' },
  { board: 'compliance', title: 'fhirwatch: compliance', uid: 'fhirwatch-compliance', file: 'compliance.json' },
  { board: 'loadtests', title: 'fhirwatch: load tests', uid: 'fhirwatch-loadtests', file: 'load-tests.json' },
];

/** Span attributes written by @fhirwatch/otel-middleware and read here (names: @fhirwatch/contract). */
const ATTR = {
  interaction: `SpanAttributes['${ATTRIBUTES.fhirInteraction}']`,
  route: `SpanAttributes['${ATTRIBUTES.httpRoute}']`,
  status: `toUInt16OrZero(SpanAttributes['${ATTRIBUTES.httpResponseStatusCode}'])`,
} as const;

/** The gateway's OAuth token endpoint route (packages/gateway/src/oauth.ts). */
const TOKEN_ROUTE = '/token';

const SERVER = "SpanKind = 'SPAN_KIND_SERVER'";
const CLIENT = "SpanKind = 'SPAN_KIND_CLIENT'";
const SPAN_ERROR = `(StatusCode = 'STATUS_CODE_ERROR' OR ${ATTR.status} >= 500)`;
const TENANT_LABEL = "if(TenantId = '', '(no tenant)', TenantId)";

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax, not a JS template
const otelTenant = '$__conditionalAll(TenantId IN (${tenant}), $tenant)';
const otelInteraction = `$__conditionalAll(${ATTR.interaction} IN (\${interaction}), $interaction)`;
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax, not a JS template
const auditTenant = '$__conditionalAll(tenant_id IN (${tenant}), $tenant)';
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax, not a JS template
const auditInteraction = '$__conditionalAll(fhir_interaction IN (${interaction}), $interaction)';
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax, not a JS template
const loadtestTenant = '$__conditionalAll(tenant_id IN (${tenant}), $tenant)';

/** Audit pipeline metric names, as the middleware and the sink write them (@fhirwatch/contract METRICS). */
export const PIPELINE_METRICS = {
  spoolDepth: METRICS.auditSpoolDepth,
  spoolAge: METRICS.auditSpoolAge,
  shipLag: METRICS.auditShipLag,
  rejected: METRICS.auditRecordsRejected,
  quarantined: METRICS.auditRecordsQuarantined,
  ingestRows: METRICS.sinkIngestRows,
  telemetryRefused: METRICS.sinkTelemetryRefused,
} as const;

/** Attribute of `rejected`: `refused` (503 answered, no PHI left) | `dropped` (served without its record). */
export const PIPELINE_ATTR_OUTCOME = ATTRIBUTES.auditOutcome;

const list = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ');

const t = (name: string): PanelColumn => ({ name, type: 'time' });
const n = (name: string): PanelColumn => ({ name, type: 'number' });
const s = (name: string): PanelColumn => ({ name, type: 'string' });

export const PANELS: readonly PanelDef[] = [
  // ---- SRE overview -----------------------------------------------------------------------------
  {
    id: 'sre-headline',
    board: 'sre',
    title: 'Gateway over the range',
    description:
      'Server requests per second, p95 latency (ms) and error rate (5xx or span status ERROR) over the selected range.',
    chart: 'stat',
    sql: `SELECT count() / greatest(1, toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime)) AS requests_per_s,
  quantile(0.95)(Duration / 1e6) AS p95_ms,
  if(count() = 0, 0, countIf(${SPAN_ERROR}) / count()) AS error_rate
FROM otel_traces
WHERE $__timeFilter(Timestamp) AND ${SERVER}
  AND ${otelTenant}
  AND ${otelInteraction}`,
    columns: [n('requests_per_s'), n('p95_ms'), n('error_rate')],
  },
  {
    id: 'sre-requests-per-tenant',
    board: 'sre',
    title: 'Requests/s per tenant',
    description:
      'Server requests per second at the gateway (server spans), per tenant. "(no tenant)" = requests rejected before a tenant was known.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(Timestamp) AS time, ${TENANT_LABEL} AS tenant, count() / $__interval_s AS requests_per_s
FROM otel_traces
WHERE $__timeFilter(Timestamp) AND ${SERVER}
  AND ${otelTenant}
  AND ${otelInteraction}
GROUP BY time, tenant
ORDER BY time, tenant`,
    columns: [t('time'), s('tenant'), n('requests_per_s')],
  },
  {
    id: 'sre-latency-per-tenant',
    board: 'sre',
    title: 'Latency per tenant (p50 / p95 / p99, ms)',
    description:
      'Server-span latency quantiles per tenant from the per-minute t-digest rollup (otel_latency_rollup): cheap over long ranges; minute resolution.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(Minute) AS time, ${TENANT_LABEL} AS tenant,
  arrayElement(quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(LatencyMs), 1) AS p50_ms,
  arrayElement(quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(LatencyMs), 3) AS p95_ms,
  arrayElement(quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(LatencyMs), 4) AS p99_ms
FROM otel_latency_rollup
WHERE $__timeFilter(Minute)
  AND ${otelTenant}
GROUP BY time, tenant
ORDER BY time, tenant`,
    columns: [t('time'), s('tenant'), n('p50_ms'), n('p95_ms'), n('p99_ms')],
  },
  {
    id: 'sre-error-rate-per-tenant',
    board: 'sre',
    title: 'Error rate per tenant',
    description:
      'Share of server requests that failed (5xx or span status ERROR) per tenant, from the per-minute rollup. 4xx (the caller’s mistake) is not an error here.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(Minute) AS time, ${TENANT_LABEL} AS tenant,
  if(sum(Requests) = 0, 0, sum(Errors) / sum(Requests)) AS error_rate
FROM otel_latency_rollup
WHERE $__timeFilter(Minute)
  AND ${otelTenant}
GROUP BY time, tenant
ORDER BY time, tenant`,
    columns: [t('time'), s('tenant'), n('error_rate')],
  },
  {
    id: 'sre-interaction-latency',
    board: 'sre',
    title: 'Latency per FHIR interaction (p50 / p95 / p99, ms)',
    description: 'Server-span latency quantiles per FHIR interaction (read, search-type, batch, …) from otel_traces.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(Timestamp) AS time, ${ATTR.interaction} AS interaction,
  quantile(0.5)(Duration / 1e6) AS p50_ms,
  quantile(0.95)(Duration / 1e6) AS p95_ms,
  quantile(0.99)(Duration / 1e6) AS p99_ms
FROM otel_traces
WHERE $__timeFilter(Timestamp) AND ${SERVER} AND ${ATTR.interaction} != ''
  AND ${otelTenant}
  AND ${otelInteraction}
GROUP BY time, interaction
ORDER BY time, interaction`,
    columns: [t('time'), s('interaction'), n('p50_ms'), n('p95_ms'), n('p99_ms')],
  },
  {
    id: 'sre-interaction-rate',
    board: 'sre',
    title: 'Requests/s and error rate per FHIR interaction',
    description:
      'Server requests per second and the share that failed (5xx or span status ERROR), per FHIR interaction.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(Timestamp) AS time, ${ATTR.interaction} AS interaction,
  count() / $__interval_s AS requests_per_s,
  countIf(${SPAN_ERROR}) / count() AS error_rate
FROM otel_traces
WHERE $__timeFilter(Timestamp) AND ${SERVER} AND ${ATTR.interaction} != ''
  AND ${otelTenant}
  AND ${otelInteraction}
GROUP BY time, interaction
ORDER BY time, interaction`,
    columns: [t('time'), s('interaction'), n('requests_per_s'), n('error_rate')],
  },
  {
    id: 'sre-interaction-summary',
    board: 'sre',
    title: 'Per tenant and interaction over the range',
    description: 'Totals over the selected range: requests, requests/s, latency quantiles (ms) and error rate.',
    chart: 'table',
    sql: `SELECT ${TENANT_LABEL} AS tenant, ${ATTR.interaction} AS interaction,
  count() AS requests,
  count() / greatest(1, toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime)) AS requests_per_s,
  quantile(0.5)(Duration / 1e6) AS p50_ms,
  quantile(0.95)(Duration / 1e6) AS p95_ms,
  quantile(0.99)(Duration / 1e6) AS p99_ms,
  countIf(${SPAN_ERROR}) / count() AS error_rate
FROM otel_traces
WHERE $__timeFilter(Timestamp) AND ${SERVER} AND ${ATTR.interaction} != ''
  AND ${otelTenant}
  AND ${otelInteraction}
GROUP BY tenant, interaction
ORDER BY requests DESC
LIMIT 100`,
    columns: [
      s('tenant'),
      s('interaction'),
      n('requests'),
      n('requests_per_s'),
      n('p50_ms'),
      n('p95_ms'),
      n('p99_ms'),
      n('error_rate'),
    ],
  },
  {
    id: 'sre-hop-latency',
    board: 'sre',
    title: 'Per-hop latency: gateway / token / provider (ms)',
    description:
      'Where the time goes. provider = the upstream FHIR call (client spans); token = POST /token at the gateway; gateway = a FHIR request’s own time at the gateway (server span minus its upstream calls).',
    chart: 'timeseries',
    sql: `SELECT time, hop, quantile(0.5)(ms) AS p50_ms, quantile(0.95)(ms) AS p95_ms
FROM (
  SELECT $__timeInterval(server.Timestamp) AS time,
    if(server.${ATTR.route} = '${TOKEN_ROUTE}', 'token', 'gateway') AS hop,
    greatest(0, toInt64(server.Duration) - toInt64(upstream.duration)) / 1e6 AS ms
  FROM otel_traces AS server
  LEFT JOIN (
    SELECT TraceId, ParentSpanId, sum(Duration) AS duration
    FROM otel_traces
    WHERE $__timeFilter(Timestamp) AND ${CLIENT}
    GROUP BY TraceId, ParentSpanId
  ) AS upstream ON upstream.TraceId = server.TraceId AND upstream.ParentSpanId = server.SpanId
  WHERE $__timeFilter(server.Timestamp) AND server.SpanKind = 'SPAN_KIND_SERVER'
    AND $__conditionalAll(server.TenantId IN (\${tenant}), $tenant)
  UNION ALL
  SELECT $__timeInterval(Timestamp) AS time, 'provider' AS hop, Duration / 1e6 AS ms
  FROM otel_traces
  WHERE $__timeFilter(Timestamp) AND ${CLIENT}
    AND ${otelTenant}
)
GROUP BY time, hop
ORDER BY time, hop`,
    columns: [t('time'), s('hop'), n('p50_ms'), n('p95_ms')],
  },
  {
    id: 'sre-token-health',
    board: 'sre',
    title: 'Token endpoint health (POST /token)',
    description:
      'Token requests/s, p95 latency (ms), refusals (4xx: bad credentials, throttled) and failures (5xx) per bucket. Shared by all tenants.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(Timestamp) AS time,
  count() / $__interval_s AS requests_per_s,
  quantile(0.95)(Duration / 1e6) AS p95_ms,
  countIf(${ATTR.status} >= 400 AND ${ATTR.status} < 500) AS refused,
  countIf(${SPAN_ERROR}) AS failed
FROM otel_traces
WHERE $__timeFilter(Timestamp) AND ${SERVER} AND ${ATTR.route} = '${TOKEN_ROUTE}'
GROUP BY time
ORDER BY time`,
    columns: [t('time'), n('requests_per_s'), n('p95_ms'), n('refused'), n('failed')],
  },
  {
    id: 'sre-audit-pipeline-backlog',
    board: 'sre',
    title: 'Audit pipeline: spool depth, spool age, shipping lag',
    description:
      'Records waiting in the gateway’s audit spool, age of the oldest unshipped record (s) and shipping lag (s); the highest value per bucket. Rising age = records are not reaching the store.',
    chart: 'timeseries',
    sql: `SELECT time, metric, max(value) AS value
FROM (
  SELECT $__timeInterval(TimeUnix) AS time, MetricName AS metric, Value AS value
  FROM otel_metrics_gauge
  WHERE $__timeFilter(TimeUnix)
    AND MetricName IN (${list([PIPELINE_METRICS.spoolDepth, PIPELINE_METRICS.spoolAge, PIPELINE_METRICS.shipLag])})
  UNION ALL
  SELECT $__timeInterval(TimeUnix) AS time, MetricName AS metric, Max AS value
  FROM otel_metrics_histogram
  WHERE $__timeFilter(TimeUnix) AND MetricName = '${PIPELINE_METRICS.shipLag}' AND Count > 0
)
GROUP BY time, metric
ORDER BY time, metric`,
    columns: [t('time'), s('metric'), n('value')],
  },
  {
    id: 'sre-audit-pipeline-rates',
    board: 'sre',
    title: 'Audit pipeline: ingest, refused/dropped records, quarantined (per s)',
    description:
      'Rates of the pipeline counters: rows ingested by the sink per table; audit records the gateway could not spool, split into refused (the request got 503, no PHI left: onSpoolFailure refuse) and dropped (PHI served without its record: onSpoolFailure serve, or lost at exit); records quarantined; telemetry refused per table. Any refused or dropped series means the audit spool failed: see the gateway log line fhirwatch.audit.spool.failed and /readyz. Cumulative counters are differenced per series (a restart starts a new series).',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(TimeUnix) AS time, series, sum(delta) / $__interval_s AS per_s
FROM (
  SELECT TimeUnix,
    arrayStringConcat(arrayFilter(x -> x != '', [MetricName, Attributes['${ATTRIBUTES.table}'], Attributes['${PIPELINE_ATTR_OUTCOME}']]), ' ') AS series,
    if(AggregationTemporality = 1, Value,
      greatest(0, Value - lagInFrame(Value, 1, Value) OVER (
        PARTITION BY ServiceName, ResourceAttributes['service.instance.id'], MetricName, Attributes['${ATTRIBUTES.table}'],
          Attributes['${PIPELINE_ATTR_OUTCOME}'], StartTimeUnix
        ORDER BY TimeUnix ROWS BETWEEN 1 PRECEDING AND CURRENT ROW))) AS delta
  FROM otel_metrics_sum
  WHERE $__timeFilter(TimeUnix)
    AND MetricName IN (${list([
      PIPELINE_METRICS.ingestRows,
      PIPELINE_METRICS.rejected,
      PIPELINE_METRICS.quarantined,
      PIPELINE_METRICS.telemetryRefused,
    ])})
)
GROUP BY time, series
ORDER BY time, series`,
    columns: [t('time'), s('series'), n('per_s')],
  },

  // ---- compliance -------------------------------------------------------------------------------
  {
    id: 'compliance-headline',
    board: 'compliance',
    readsAuditRecords: true,
    title: 'Audit records over the range',
    description:
      'Audit records (each delivery counted once), distinct users and distinct patients in the selected range.',
    chart: 'stat',
    sql: `SELECT uniqExact(event_id) AS records,
  uniqExactIf(user_id, user_id != '') AS users,
  uniqExactIf(patient_id, patient_id NOT IN ('', '*')) AS patients
FROM audit_events
WHERE $__timeFilter(event_time)
  AND ${auditTenant}
  AND ${auditInteraction}`,
    columns: [n('records'), n('users'), n('patients')],
  },
  {
    id: 'compliance-events-by-type',
    board: 'compliance',
    readsAuditRecords: true,
    title: 'Accesses per event type',
    description: 'Audit records per event type (PatientView, PatientSearch, ExportInitiation, …) over time.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(event_time) AS time, event_type, uniqExact(event_id) AS events
FROM audit_events
WHERE $__timeFilter(event_time)
  AND ${auditTenant}
  AND ${auditInteraction}
GROUP BY time, event_type
ORDER BY time, event_type`,
    columns: [t('time'), s('event_type'), n('events')],
  },
  {
    id: 'compliance-top-users',
    board: 'compliance',
    readsAuditRecords: true,
    title: 'Top users by distinct patients',
    description:
      'Who touched the most distinct patients in the range (a user, or client:<id> for app-only access), with their records and failed attempts.',
    chart: 'table',
    sql: `SELECT tenant_id AS tenant, if(user_id != '', user_id, concat('client:', client_id)) AS principal,
  any(user_name) AS user_name,
  uniqExactIf(patient_id, patient_id NOT IN ('', '*')) AS patients,
  uniqExact(event_id) AS events,
  uniqExactIf(event_id, outcome != 0) AS failed
FROM audit_events
WHERE $__timeFilter(event_time)
  AND ${auditTenant}
  AND ${auditInteraction}
GROUP BY tenant, principal
ORDER BY patients DESC, events DESC
LIMIT 25`,
    columns: [s('tenant'), s('principal'), s('user_name'), n('patients'), n('events'), n('failed')],
  },
  {
    id: 'compliance-failed-accesses',
    board: 'compliance',
    readsAuditRecords: true,
    title: 'Failed and denied accesses by HTTP status',
    description: 'Audit records with a failed outcome (401, 403, 404, 5xx …) over time.',
    chart: 'bar',
    sql: `SELECT $__timeInterval(event_time) AS time, toString(http_status) AS status, uniqExact(event_id) AS events
FROM audit_events
WHERE $__timeFilter(event_time) AND outcome != 0
  AND ${auditTenant}
  AND ${auditInteraction}
GROUP BY time, status
ORDER BY time, status`,
    columns: [t('time'), s('status'), n('events')],
  },
  {
    id: 'compliance-chain-inputs',
    board: 'compliance',
    readsAuditRecords: true,
    title: 'Tamper-evidence chain per writer',
    description:
      'Per writer (recorded_by) in the range: records, first and last seq, seqs missing between them, and seqs claimed by two different records. Non-zero missing or forked seqs need `fhirwatch audit verify` (which checks the HMACs with the key).',
    chart: 'table',
    sql: `SELECT recorded_by AS writer,
  uniqExact(event_id) AS records,
  min(seq) AS first_seq,
  max(seq) AS last_seq,
  toInt64(max(seq)) - toInt64(min(seq)) + 1 - toInt64(uniqExact(seq)) AS missing_seqs,
  toInt64(uniqExact(event_id)) - toInt64(uniqExact(seq)) AS forked_seqs,
  max(event_time) AS last_record
FROM audit_events
WHERE $__timeFilter(event_time)
  AND ${auditTenant}
GROUP BY writer
ORDER BY writer`,
    columns: [
      s('writer'),
      n('records'),
      n('first_seq'),
      n('last_seq'),
      n('missing_seqs'),
      n('forked_seqs'),
      t('last_record'),
    ],
  },

  // ---- load tests -------------------------------------------------------------------------------
  {
    id: 'loadtests-runs',
    board: 'loadtests',
    title: 'Load-test runs',
    description:
      'Each `fhirwatch loadtest` run with its SLO verdicts (✓ met, ✗ missed), throughput and latency. Empty until a run has been written to the store.',
    chart: 'table',
    sql: `SELECT started_at, scenario, engine, tenant_id AS tenant, fhir_version,
  if(passed = 1, 'pass', 'FAIL') AS verdict,
  throughput_rps, p50_ms, p95_ms, p99_ms, requests, errors, dropped_iterations,
  arrayStringConcat(arrayMap(v -> concat(JSONExtractString(v, 'name'), if(JSONExtractBool(v, 'passed'), ' ✓', ' ✗')),
    JSONExtractArrayRaw(slo_verdicts)), ', ') AS slos
FROM loadtest_runs
WHERE $__timeFilter(started_at)
  AND ${loadtestTenant}
ORDER BY started_at DESC
LIMIT 200`,
    columns: [
      t('started_at'),
      s('scenario'),
      s('engine'),
      s('tenant'),
      s('fhir_version'),
      s('verdict'),
      n('throughput_rps'),
      n('p50_ms'),
      n('p95_ms'),
      n('p99_ms'),
      n('requests'),
      n('errors'),
      n('dropped_iterations'),
      s('slos'),
    ],
  },
  {
    id: 'loadtests-throughput',
    board: 'loadtests',
    title: 'Throughput and p95 per scenario',
    description: 'Achieved requests/s and p95 latency (ms) of the runs, per scenario.',
    chart: 'timeseries',
    sql: `SELECT $__timeInterval(started_at) AS time, scenario, avg(throughput_rps) AS throughput_rps, max(p95_ms) AS p95_ms
FROM loadtest_runs
WHERE $__timeFilter(started_at)
  AND ${loadtestTenant}
GROUP BY time, scenario
ORDER BY time, scenario`,
    columns: [t('time'), s('scenario'), n('throughput_rps'), n('p95_ms')],
  },
  {
    id: 'loadtests-verdicts',
    board: 'loadtests',
    title: 'Runs passed / failed',
    description: 'Runs per bucket whose SLOs all held (passed) or not (failed).',
    chart: 'bar',
    sql: `SELECT $__timeInterval(started_at) AS time, countIf(passed = 1) AS runs_passed, countIf(passed = 0) AS runs_failed
FROM loadtest_runs
WHERE $__timeFilter(started_at)
  AND ${loadtestTenant}
GROUP BY time
ORDER BY time`,
    columns: [t('time'), n('runs_passed'), n('runs_failed')],
  },
  {
    id: 'loadtests-slo-misses',
    board: 'loadtests',
    title: 'SLOs missed most often',
    description:
      'Per SLO: runs that checked it, runs that missed it, and the worst observed value against its threshold.',
    chart: 'table',
    sql: `SELECT JSONExtractString(v, 'name') AS slo,
  count() AS runs,
  countIf(NOT JSONExtractBool(v, 'passed')) AS missed,
  any(JSONExtractFloat(v, 'threshold')) AS threshold,
  max(JSONExtractFloat(v, 'observed')) AS worst_observed
FROM loadtest_runs
ARRAY JOIN JSONExtractArrayRaw(slo_verdicts) AS v
WHERE $__timeFilter(started_at)
  AND ${loadtestTenant}
GROUP BY slo
ORDER BY missed DESC, slo`,
    columns: [s('slo'), n('runs'), n('missed'), n('threshold'), n('worst_observed')],
  },
];

/**
 * Template variables of every board (Grafana `query` variables; the console's tenant/interaction selectors).
 * Values holding `$` (char 36) are not offered: Grafana's ClickHouse plugin expands macros after variables, so such a
 * value (which ingest could plant) would be read as a macro there (issue 15; our own expansion is immune).
 */
export const VARIABLES: readonly PanelVariable[] = [
  {
    name: 'tenant',
    label: 'Tenant',
    sql: `SELECT DISTINCT tenant FROM (
  SELECT DISTINCT TenantId AS tenant FROM otel_latency_rollup WHERE $__timeFilter(Minute)
  UNION ALL
  SELECT DISTINCT tenant_id AS tenant FROM audit_events WHERE $__timeFilter(event_time)
) WHERE tenant != '' AND position(tenant, char(36)) = 0 ORDER BY tenant`,
  },
  {
    name: 'interaction',
    label: 'FHIR interaction',
    sql: `SELECT DISTINCT interaction FROM (
  SELECT DISTINCT ${ATTR.interaction} AS interaction FROM otel_traces WHERE $__timeFilter(Timestamp) AND ${SERVER}
  UNION ALL
  SELECT DISTINCT fhir_interaction AS interaction FROM audit_events WHERE $__timeFilter(event_time)
) WHERE interaction != '' AND position(interaction, char(36)) = 0 ORDER BY interaction`,
  },
];

/** Panels of one board, in display order. */
export function panelsOf(board: PanelBoard): PanelDef[] {
  return PANELS.filter((panel) => panel.board === board);
}

/** Expand a panel for a context (convenience over expandMacros). */
export function panelSql(panel: PanelDef, ctx: MacroContext): string {
  return expandMacros(panel.sql, ctx);
}
