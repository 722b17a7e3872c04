/**
 * `audit_events`: the record of shared/spec/audit-events.md (columns = AUDIT_RECORD_FIELDS of @fhirwatch/contract).
 *
 * Access paths:
 * - "everything about patient X": the sort key (tenant_id, patient_id, event_time, event_id);
 * - "everything user Y touched": the projection `by_user` ordered by (tenant_id, user_id, event_time, event_id).
 *
 * Idempotency (at-least-once delivery): `event_id` is the key. Two layers:
 * 1. the writer checks which event_ids of a batch are already stored and inserts only the new ones (one
 *    writer process owns a store and flushes one batch at a time, so this is exact on a single node);
 * 2. the engine is a ReplacingMergeTree whose sort key ends in event_id, so any duplicate that still gets in
 *    (several writers on a cluster racing) collapses at merge time.
 * Reports must not depend on merges having happened. Two ways to read without duplicates:
 * - {@link AUDIT_DEDUP_VIEW} (`SELECT * FROM audit_events FINAL`): filters on the sort key (tenant, patient)
 *   are pushed through it, but FINAL cannot use the `by_user` projection;
 * - `SELECT … FROM audit_events WHERE … ORDER BY … LIMIT 1 BY event_id` ({@link AUDIT_DEDUP_CLAUSE}): keeps
 *   both the sort key and the projection, so user-activity queries should use this form
 *   (and `uniqExact(event_id)` rather than `count()` for counts).
 */
import type { ColumnDef, TableDef, ViewDef } from './types.ts';

/** Default audit retention: 7 years (HIPAA documentation is kept 6). */
export const DEFAULT_AUDIT_RETENTION_DAYS = 7 * 365 + 2;

export const AUDIT_TABLE = 'audit_events';
/** Name of the projection that serves "everything user Y touched". */
export const AUDIT_USER_PROJECTION = 'by_user';
/** `audit_events FINAL`: one row per event_id at read time; sort-key filters are pushed through it. */
export const AUDIT_DEDUP_VIEW = 'audit_events_dedup';
/** Clause that removes duplicate deliveries from a SELECT over audit_events (after ORDER BY; keeps projections). */
export const AUDIT_DEDUP_CLAUSE = 'LIMIT 1 BY event_id';

const lc = 'LowCardinality(String)';

/** One column per AUDIT_RECORD_FIELDS entry, in that order (a test holds them equal). */
export const AUDIT_COLUMNS: readonly ColumnDef[] = [
  { name: 'event_id', type: 'UUID', comment: 'UUIDv7, idempotency key' },
  { name: 'event_time', type: "DateTime64(3, 'UTC')", codec: 'CODEC(Delta(8), ZSTD(1))' },
  { name: 'recorded_by', type: lc },
  { name: 'seq', type: 'UInt64', codec: 'CODEC(Delta(8), ZSTD(1))' },
  { name: 'prev_hash', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'hash', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'tenant_id', type: lc },
  { name: 'routed_tenant_id', type: lc },
  { name: 'client_id', type: lc },
  { name: 'user_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'user_name', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'source_ip', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'user_agent', type: lc },
  { name: 'event_type', type: lc },
  { name: 'fhir_interaction', type: lc },
  { name: 'resource_type', type: lc },
  { name: 'fhir_version', type: lc },
  { name: 'query', type: 'String', codec: 'CODEC(ZSTD(3))', comment: 'PHI: search parameters as sent' },
  { name: 'patient_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'batch_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'entry_index', type: 'Int32' },
  { name: 'trace_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'outcome', type: 'UInt8' },
  { name: 'http_status', type: 'UInt16' },
  { name: 'duration_ms', type: 'Float64', codec: 'CODEC(ZSTD(1))' },
  { name: 'result_count', type: 'UInt32' },
];

export function auditEventsTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: AUDIT_TABLE,
    comment: 'fhirwatch clinician read audit events (shared/spec/audit-events.md)',
    columns: AUDIT_COLUMNS,
    indexes: ['idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1'],
    projections: [`${AUDIT_USER_PROJECTION} (SELECT * ORDER BY (tenant_id, user_id, event_time, event_id))`],
    engine: 'ReplacingMergeTree',
    partitionBy: 'toYYYYMM(event_time)',
    orderBy: '(tenant_id, patient_id, event_time, event_id)',
    ttl: `toDateTime(event_time) + toIntervalDay(${retentionDays})`,
    settings: {
      index_granularity: 8192,
      // a ReplacingMergeTree with a projection must say what merges do to the projection
      deduplicate_merge_projection_mode: "'rebuild'",
    },
    shardingKey: 'cityHash64(tenant_id)',
  };
}

export const auditEventsDedupView: ViewDef = {
  kind: 'view',
  name: AUDIT_DEDUP_VIEW,
  select: `SELECT * FROM {table:${AUDIT_TABLE}} FINAL`,
};

/**
 * The VIP watch list of `audit report vip` (an append-only log of add/remove entries; the latest per
 * (tenant, patient) wins; tenant '' = any tenant). Same columns as the query library's own
 * `CREATE TABLE IF NOT EXISTS`, here so the cluster variant has it too.
 */
export const AUDIT_VIP_TABLE = 'audit_vip_patients';

export const auditVipTable: TableDef = {
  kind: 'table',
  name: AUDIT_VIP_TABLE,
  columns: [
    { name: 'tenant_id', type: lc },
    { name: 'patient_id', type: 'String' },
    { name: 'reason', type: 'String' },
    { name: 'changed_by', type: 'String' },
    { name: 'changed_at', type: "DateTime64(3, 'UTC')" },
    { name: 'removed', type: 'UInt8' },
  ],
  engine: 'MergeTree',
  orderBy: '(tenant_id, patient_id, changed_at)',
  shardingKey: 'cityHash64(tenant_id)',
};
