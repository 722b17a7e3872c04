/**
 * Migration 11, the per-patient storage rebuilt around what the reports and `audit verify` read (issue 18):
 *
 * - `audit_requests` (migration 6) stays the one stored copy of the audit data: one row per HTTP request, HMAC
 *   chained, entries and patients as arrays.
 * - `audit_patient_index`: a NARROW per-patient index, one row per (request, patient) of the expansion with only
 *   (patient_id, tenant_id, event_time, recorded_by, seq, event_id), sorted patient first, yearly partitions.
 *   "Everything about patient X" reads the index, then the few requests it names by their sort key
 *   (recorded_by, seq). Fed by `audit_patient_index_mv` FROM audit_requests; the rows of requests stored before
 *   the migration are copied by its backfill.
 * - `audit_events` becomes a plain VIEW: the expansion of audit_requests (the contract's AUDIT_EXPANSION rendered
 *   by expansion.ts), same name and columns as the table it replaces, so every report, panel and export reads
 *   what it read before; a per-patient row can no longer differ from its signed request.
 *
 * What it replaces and why (bench/writer.ts, README "Bench (a)"): the expansion into the 26-column table
 * `audit_events` with its `by_user` projection and bloom index, and its second 26-column copy
 * `audit_events_by_patient` (migration 10), cost ~9 µs of engine CPU per per-patient event each; the narrow
 * index costs ~0.7 µs.
 *
 * Carrying a store forward, in this order: the two materialized views that expanded requests into the old tables
 * are dropped (new requests keep landing in audit_requests); rows of `audit_events` that no request explains
 * (inserted by hand after migration 6) are lifted into audit_requests as legacy (v1) requests, as migration 6
 * did, so nothing readable is lost; the index and its view are created and the index backfilled from every
 * request (a request stored between the view's creation and the backfill is indexed twice: identical rows, which
 * the ReplacingMergeTree collapses and verify counts as harmless duplicates); the old tables are dropped (their
 * rows were derived copies of the requests) and `audit_events` / `audit_events_dedup` are created as views.
 * On a cluster the lift and the backfill run on the node that migrates (as migration 6): run them on each shard.
 */
import type { AuditRecord } from '@fhirwatch/contract';
import { AUDIT_DEDUP_VIEW, AUDIT_TABLE } from './audit.ts';
import { AUDIT_BY_PATIENT_TABLE, AUDIT_BY_PATIENT_VIEW } from './audit-by-patient.ts';
import { auditCheckpointsTable } from './audit-checkpoints.ts';
import { AUDIT_REQUESTS_TABLE, AUDIT_REQUESTS_VIEW } from './audit-requests.ts';
import { AUDIT_EXPANSION_SELECT, expansionSelect } from './expansion.ts';
import type { ColumnDef, MaterializedViewDef, StatementDef, TableDef, ViewDef } from './types.ts';

export const AUDIT_PATIENT_INDEX_TABLE = 'audit_patient_index';
export const AUDIT_PATIENT_INDEX_VIEW = 'audit_patient_index_mv';

/** The index's columns: row fields of the expansion, in this order (verify hashes them in this order). */
export const PATIENT_INDEX_FIELDS = [
  'patient_id',
  'tenant_id',
  'event_time',
  'recorded_by',
  'seq',
  'event_id',
] as const satisfies readonly (keyof AuditRecord)[];

const PATIENT_INDEX_COLUMNS: readonly ColumnDef[] = [
  { name: 'patient_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'tenant_id', type: 'LowCardinality(String)' },
  { name: 'event_time', type: "DateTime64(3, 'UTC')", codec: 'CODEC(Delta(8), ZSTD(1))' },
  { name: 'recorded_by', type: 'LowCardinality(String)' },
  { name: 'seq', type: 'UInt64', codec: 'CODEC(ZSTD(1))' },
  { name: 'event_id', type: 'UUID', comment: 'the per-patient event id (request id and expansion ordinal)' },
];

export function auditPatientIndexTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: AUDIT_PATIENT_INDEX_TABLE,
    comment: 'per-patient index of audit_requests: which requests disclosed a patient (fed by a view)',
    columns: PATIENT_INDEX_COLUMNS,
    engine: 'ReplacingMergeTree',
    // a one-year access report reads 1–2 parts (migration 10's reasoning: the cost is per part)
    partitionBy: 'toYear(event_time)',
    // patient first: `patient_id IN (<ids>, '*')` is one key range per value, with or without a tenant
    orderBy: '(patient_id, tenant_id, event_time, event_id)',
    ttl: `toDateTime(event_time) + toIntervalDay(${retentionDays})`,
    settings: { index_granularity: 8192 },
    // the view writes each shard's index next to its requests (sharded by writer); a backfill through the
    // Distributed table follows the same key
    shardingKey: 'cityHash64(recorded_by)',
  };
}

/** The index rows of request rows `{from}`. */
export const PATIENT_INDEX_SELECT = expansionSelect(PATIENT_INDEX_FIELDS);

export const auditPatientIndexView: MaterializedViewDef = {
  kind: 'materialized-view',
  name: AUDIT_PATIENT_INDEX_VIEW,
  to: AUDIT_PATIENT_INDEX_TABLE,
  from: AUDIT_REQUESTS_TABLE,
  select: PATIENT_INDEX_SELECT,
};

const drop = (name: string, what: 'VIEW' | 'TABLE', tables: string[]): StatementDef => ({
  kind: 'statement',
  name: `drop_${name}`,
  tables,
  sql: `DROP ${what} IF EXISTS {table}`,
});

/**
 * Rows of the old audit_events table that no request explains, as legacy (v1) requests (migration 6's lift).
 * Written to run again harmlessly: on the view that replaces the table every row has its request.
 */
const liftOrphans: StatementDef = {
  kind: 'statement',
  name: 'audit_events_orphans_to_requests',
  tables: [AUDIT_REQUESTS_TABLE, AUDIT_TABLE],
  scope: 'local',
  sql: `INSERT INTO {table} SELECT
    event_id AS request_id, event_time, recorded_by, seq, prev_hash, hash, 1 AS v, tenant_id, 0 AS tenant_claimed,
    routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, fhir_version, batch_id, trace_id,
    http_status, duration_ms, [event_type], [fhir_interaction], [resource_type], [query], [entry_index],
    [http_status], [outcome], [CAST(result_count AS Nullable(Int64))], [1], [patient_id]
FROM {table2}
WHERE (recorded_by, seq) NOT IN (SELECT recorded_by, seq FROM {table})
LIMIT 1 BY event_id`,
};

const backfillIndex: StatementDef = {
  kind: 'statement',
  name: 'audit_patient_index_backfill',
  tables: [AUDIT_PATIENT_INDEX_TABLE, AUDIT_REQUESTS_TABLE],
  scope: 'local',
  sql: `INSERT INTO {table} ${PATIENT_INDEX_SELECT.replace('{from}', '{table2}')}`,
};

/** Name of audit_requests' projection that serves "everything user Y touched". */
export const REQUEST_USER_PROJECTION = 'by_user';

/**
 * "Everything user Y touched" (the activity report): a narrow projection of audit_requests, one row per request
 * with (tenant_id, user_id, event_time, recorded_by, seq) sorted user first; the report reads it to find the
 * requests, then reads those by the table's sort key. A projection (not a table) follows the table's merges,
 * TTL and partitions; per request, not per patient, so it costs little at ingest.
 */
const requestUserProjection: StatementDef[] = [
  {
    kind: 'statement',
    name: 'audit_requests_projection_mode',
    tables: [AUDIT_REQUESTS_TABLE],
    scope: 'shards',
    // a ReplacingMergeTree with a projection must say what merges do to the projection
    sql: "ALTER TABLE {table} MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'",
  },
  {
    kind: 'statement',
    name: 'audit_requests_by_user',
    tables: [AUDIT_REQUESTS_TABLE],
    scope: 'shards',
    sql: `ALTER TABLE {table} ADD PROJECTION IF NOT EXISTS ${REQUEST_USER_PROJECTION} (SELECT tenant_id, user_id, event_time, recorded_by, seq ORDER BY (tenant_id, user_id, event_time))`,
  },
  {
    kind: 'statement',
    name: 'audit_requests_by_user_materialize',
    tables: [AUDIT_REQUESTS_TABLE],
    scope: 'shards',
    sql: `ALTER TABLE {table} MATERIALIZE PROJECTION ${REQUEST_USER_PROJECTION}`,
  },
];

/** `audit_events` as the expansion of the requests (what every reader reads). */
export const auditEventsView: ViewDef = {
  kind: 'view',
  name: AUDIT_TABLE,
  select: AUDIT_EXPANSION_SELECT.replace('{from}', `{table:${AUDIT_REQUESTS_TABLE}}`),
};

/** One row per event_id at read time: the expansion of `audit_requests FINAL`. */
export const auditEventsDedupViewV11: ViewDef = {
  kind: 'view',
  name: AUDIT_DEDUP_VIEW,
  select: AUDIT_EXPANSION_SELECT.replace('{from}', `{table:${AUDIT_REQUESTS_TABLE}} FINAL`),
};

/** Migration 11's objects, in execution order (module comment). */
export function patientIndexMigration(
  retentionDays: number,
): (TableDef | MaterializedViewDef | StatementDef | ViewDef)[] {
  return [
    drop(AUDIT_REQUESTS_VIEW, 'VIEW', [AUDIT_REQUESTS_VIEW]),
    ...requestUserProjection,
    drop(AUDIT_BY_PATIENT_VIEW, 'VIEW', [AUDIT_BY_PATIENT_VIEW]),
    liftOrphans,
    auditPatientIndexTable(retentionDays),
    auditPatientIndexView,
    backfillIndex,
    drop(AUDIT_DEDUP_VIEW, 'VIEW', [AUDIT_DEDUP_VIEW]),
    drop(AUDIT_BY_PATIENT_TABLE, 'TABLE', [AUDIT_BY_PATIENT_TABLE]),
    drop(AUDIT_TABLE, 'TABLE', [AUDIT_TABLE]),
    auditEventsView,
    auditEventsDedupViewV11,
    auditCheckpointsTable(retentionDays),
  ];
}
