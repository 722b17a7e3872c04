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
import { AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { AUDIT_DEDUP_VIEW, AUDIT_TABLE } from './audit.ts';
import { AUDIT_BY_PATIENT_TABLE, AUDIT_BY_PATIENT_VIEW } from './audit-by-patient.ts';
import { auditCheckpointsTable } from './audit-checkpoints.ts';
import { AUDIT_REQUESTS_TABLE, AUDIT_REQUESTS_VIEW } from './audit-requests.ts';
import { AUDIT_EXPANSION_SELECT, expansionSelect, expansionSelectLinear } from './expansion.ts';
import type { ColumnDef, MaterializedViewDef, StatementDef, TableDef, ViewDef } from './types.ts';

export const AUDIT_PATIENT_INDEX_TABLE = 'audit_patient_index';
/** The index's materialized view as migrations 11, 14 and 15 created it (dropped by migration 16). */
const AUDIT_PATIENT_INDEX_VIEW_V11 = 'audit_patient_index_mv';
/** The index's materialized view since migration 16 (the linear expansion, PATIENT_INDEX_SELECT). */
export const AUDIT_PATIENT_INDEX_VIEW = 'audit_patient_index_expand';

/**
 * Migration 11's narrow index, FROZEN (a released migration is never edited): its columns, in this order. The
 * index today is migration 14's wide one (PATIENT_INDEX_FIELDS).
 */
const PATIENT_INDEX_FIELDS_V11 = [
  'patient_id',
  'tenant_id',
  'event_time',
  'recorded_by',
  'seq',
  'event_id',
] as const satisfies readonly (keyof AuditRecord)[];

const PATIENT_INDEX_COLUMNS_V11: readonly ColumnDef[] = [
  { name: 'patient_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'tenant_id', type: 'LowCardinality(String)' },
  { name: 'event_time', type: "DateTime64(3, 'UTC')", codec: 'CODEC(Delta(8), ZSTD(1))' },
  { name: 'recorded_by', type: 'LowCardinality(String)' },
  { name: 'seq', type: 'UInt64', codec: 'CODEC(ZSTD(1))' },
  { name: 'event_id', type: 'UUID', comment: 'the per-patient event id (request id and expansion ordinal)' },
];

/**
 * Migration 14: the index's columns are every row field of the expansion (AUDIT_RECORD_FIELDS order), so the
 * access report (every record field in JSON, CSV and FHIR, and the requests grouped from them) reads the index
 * alone; `audit verify` level 2 hashes every one of them.
 */
export const PATIENT_INDEX_FIELDS: readonly (keyof AuditRecord)[] = AUDIT_RECORD_FIELDS;

const lc = 'LowCardinality(String)';
/** Types as the expansion yields them (verify compares expansion and index row hashes typed alike). */
const PATIENT_INDEX_COLUMN_TYPES: Readonly<Record<keyof AuditRecord, Omit<ColumnDef, 'name'>>> = {
  event_id: { type: 'UUID', comment: 'the per-patient event id (request id and expansion ordinal)' },
  event_time: { type: "DateTime64(3, 'UTC')", codec: 'CODEC(Delta(8), ZSTD(1))' },
  recorded_by: { type: lc },
  seq: { type: 'UInt64', codec: 'CODEC(ZSTD(1))' },
  prev_hash: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  hash: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  tenant_id: { type: lc },
  routed_tenant_id: { type: lc },
  client_id: { type: lc },
  user_id: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  user_name: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  source_ip: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  user_agent: { type: lc },
  event_type: { type: lc },
  fhir_interaction: { type: lc },
  resource_type: { type: lc },
  fhir_version: { type: lc },
  query: { type: 'String', codec: 'CODEC(ZSTD(3))', comment: 'PHI: search parameters as sent' },
  patient_id: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  batch_id: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  entry_index: { type: 'Int32' },
  trace_id: { type: 'String', codec: 'CODEC(ZSTD(1))' },
  outcome: { type: 'UInt8' },
  http_status: { type: 'UInt16' },
  duration_ms: { type: 'Float64', codec: 'CODEC(ZSTD(1))' },
  result_count: { type: 'Nullable(UInt32)', comment: 'null = unknown (over the capture cap)' },
};
const PATIENT_INDEX_COLUMNS: readonly ColumnDef[] = PATIENT_INDEX_FIELDS.map((name) => ({
  name,
  ...PATIENT_INDEX_COLUMN_TYPES[name],
}));

function patientIndexTable(retentionDays: number, columns: readonly ColumnDef[], comment: string): TableDef {
  return {
    kind: 'table',
    name: AUDIT_PATIENT_INDEX_TABLE,
    comment,
    columns,
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

/** Migration 11's narrow index table (frozen). */
const auditPatientIndexTableV11 = (retentionDays: number): TableDef =>
  patientIndexTable(
    retentionDays,
    PATIENT_INDEX_COLUMNS_V11,
    'per-patient index of audit_requests: which requests disclosed a patient (fed by a view)',
  );

/** The per-patient index as migration 14 created it (frozen): every row field, patient first, 8192-row granules. */
function auditPatientIndexTableV14(retentionDays: number): TableDef {
  return patientIndexTable(
    retentionDays,
    PATIENT_INDEX_COLUMNS,
    'per-patient rows of audit_requests (every row field), patient first (fed by a view)',
  );
}

/**
 * Migration 15's storage of the index: 1024-row granules and 4–64 KiB compressed blocks. One patient's year is ~500
 * rows; with 8192-row granules and blocks of at least 64 KiB the access report decompressed ~16,000 rows of each of
 * the 26 columns to return ~500 (5.9 MB for 0.2 MB of answer; the string columns cost the most). Measured on the 10 M
 * event store of bench/queries.ts, engine only (chDB's elapsed, one thread): 21 → 14.5 ms per report, of which
 * ~6 ms is the floor of any query over the same key ranges; stored bytes +5.6 % (244.6 against 231.7 MB).
 */
export const PATIENT_INDEX_STORAGE_SETTINGS = {
  index_granularity: 1024,
  min_compress_block_size: 4096,
  max_compress_block_size: 65536,
} as const;

/** The per-patient index as it is now (migration 15): every row field, patient first, small granules. */
export function auditPatientIndexTable(retentionDays: number): TableDef {
  return { ...auditPatientIndexTableV14(retentionDays), settings: PATIENT_INDEX_STORAGE_SETTINGS };
}

/** Migrations 14/15's index rows of request rows `{from}` (frozen: the entry fields read after the ARRAY JOIN). */
const PATIENT_INDEX_SELECT_V14 = expansionSelect(PATIENT_INDEX_FIELDS);
/**
 * The index rows of request rows `{from}` since migration 16: the same rows, with the entry fields expanded per row
 * before the ARRAY JOIN (expansionSelectLinear), linear in a request's size.
 */
export const PATIENT_INDEX_SELECT = expansionSelectLinear(PATIENT_INDEX_FIELDS);
const PATIENT_INDEX_SELECT_V11 = expansionSelect(PATIENT_INDEX_FIELDS_V11);

const indexView = (select: string, name = AUDIT_PATIENT_INDEX_VIEW_V11): MaterializedViewDef => ({
  kind: 'materialized-view',
  name,
  to: AUDIT_PATIENT_INDEX_TABLE,
  from: AUDIT_REQUESTS_TABLE,
  select,
});
/** Migrations 14/15's view (frozen). */
const auditPatientIndexViewV14: MaterializedViewDef = indexView(PATIENT_INDEX_SELECT_V14);
/** The index's view since migration 16. */
export const auditPatientIndexView: MaterializedViewDef = indexView(PATIENT_INDEX_SELECT, AUDIT_PATIENT_INDEX_VIEW);

/** `sync`: wait until the table is gone (a replicated table re-created under the same path needs it). */
const drop = (name: string, what: 'VIEW' | 'TABLE', tables: string[], sync = false): StatementDef => ({
  kind: 'statement',
  name: `drop_${name}`,
  tables,
  sql: `DROP ${what} IF EXISTS {table}${sync ? ' SYNC' : ''}`,
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

const backfillIndex = (select: string): StatementDef => ({
  kind: 'statement',
  name: 'audit_patient_index_backfill',
  tables: [AUDIT_PATIENT_INDEX_TABLE, AUDIT_REQUESTS_TABLE],
  scope: 'local',
  sql: `INSERT INTO {table} ${select.replace('{from}', '{table2}')}`,
});

/** Name of audit_requests' projection that serves "everything user Y touched". */
export const REQUEST_USER_PROJECTION = 'by_user';

/**
 * "Everything user Y touched" (the activity report): a narrow projection of audit_requests, one row per request
 * with (tenant_id, user_id, event_time, recorded_by, seq) sorted user first; the report reads it to find the
 * requests, then reads those by the table's sort key. A projection (not a table) follows the table's merges,
 * TTL and partitions; per request, not per patient, so it costs little at ingest.
 */
export const requestUserProjection: StatementDef[] = [
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
    auditPatientIndexTableV11(retentionDays),
    indexView(PATIENT_INDEX_SELECT_V11),
    backfillIndex(PATIENT_INDEX_SELECT_V11),
    drop(AUDIT_DEDUP_VIEW, 'VIEW', [AUDIT_DEDUP_VIEW]),
    drop(AUDIT_BY_PATIENT_TABLE, 'TABLE', [AUDIT_BY_PATIENT_TABLE]),
    drop(AUDIT_TABLE, 'TABLE', [AUDIT_TABLE]),
    auditEventsView,
    auditEventsDedupViewV11,
    auditCheckpointsTable(retentionDays),
  ];
}

/**
 * Migration 14: the index widened to every row field (issue 18: the access report read ~73 requests from
 * audit_requests by their sort key, 34 of its 65 granules; now it reads the patient's key range of the index
 * alone). The index is derived data, so it is rebuilt, in this order: its view and table are dropped (requests
 * keep landing in audit_requests), the wide table and its view are created, and the index is backfilled from
 * every request (a request stored between the view's creation and the backfill is indexed twice: identical rows,
 * which the ReplacingMergeTree collapses, the readers keep one per event_id and verify counts as harmless
 * duplicates). Until the backfill ends the index is incomplete: migrate before serving reports. On a cluster the
 * backfill runs on the node that migrates (as migration 11): run it on each shard.
 */
export function wideIndexMigration(retentionDays: number): (TableDef | MaterializedViewDef | StatementDef)[] {
  return [
    drop(AUDIT_PATIENT_INDEX_VIEW_V11, 'VIEW', [AUDIT_PATIENT_INDEX_VIEW_V11]),
    drop(AUDIT_PATIENT_INDEX_TABLE, 'TABLE', [AUDIT_PATIENT_INDEX_TABLE], true),
    auditPatientIndexTableV14(retentionDays),
    auditPatientIndexViewV14,
    backfillIndex(PATIENT_INDEX_SELECT_V14),
  ];
}

/**
 * Migration 15: the index re-created with small granules and compressed blocks (PATIENT_INDEX_STORAGE_SETTINGS;
 * a table's granularity cannot be altered), same columns, sort key, partitions and view. Carried forward as
 * migration 14 did (the index is derived data): its view and table are dropped, the table created with the new
 * settings, the view re-created and the index backfilled from every request (a request stored between the view's
 * creation and the backfill is indexed twice: identical rows, collapsed by the ReplacingMergeTree, one kept per
 * event_id by the readers, counted as harmless duplicates by verify). Until the backfill ends the index is
 * incomplete: migrate before serving reports. On a cluster the backfill runs on the node that migrates: run it on
 * each shard.
 */
export function smallGranuleIndexMigration(retentionDays: number): (TableDef | MaterializedViewDef | StatementDef)[] {
  return [
    drop(AUDIT_PATIENT_INDEX_VIEW_V11, 'VIEW', [AUDIT_PATIENT_INDEX_VIEW_V11]),
    drop(AUDIT_PATIENT_INDEX_TABLE, 'TABLE', [AUDIT_PATIENT_INDEX_TABLE], true),
    auditPatientIndexTable(retentionDays),
    auditPatientIndexViewV14,
    backfillIndex(PATIENT_INDEX_SELECT_V14),
  ];
}

/**
 * Migration 16: the index's materialized view re-created with the linear expansion (PATIENT_INDEX_SELECT: the same
 * rows; the entry fields expanded per row before the ARRAY JOIN instead of `e_x[_e]` after it, which copied each
 * request's entry arrays to every one of its rows). bench/ingest-parts.ts, same run: the index view's engine CPU per
 * event falls by ~40 % (README, bench (a2)). No table changes and no backfill: the new view is created under a new
 * name BEFORE the old one is dropped, so no request is left unindexed; one stored in between is indexed by both
 * (identical rows, collapsed by the ReplacingMergeTree, one kept per event_id by the readers, counted as harmless
 * duplicates by verify).
 */
export function linearIndexViewMigration(): (MaterializedViewDef | StatementDef)[] {
  return [auditPatientIndexView, drop(AUDIT_PATIENT_INDEX_VIEW_V11, 'VIEW', [AUDIT_PATIENT_INDEX_VIEW_V11])];
}
