/**
 * Migration 10, the access-report fast path: `audit_events_by_patient`, a second copy of `audit_events` for
 * "everything about patient X" over long ranges, fed by a materialized view FROM audit_events.
 *
 * Why a second table: the access report's cost is per part × per column (marks, one compressed block per column
 * per part), and a one-year report on monthly partitions touches 13 parts. audit_events keeps its monthly
 * partitions (retention drops and TTL merges work month by month); this table has the same columns, engine
 * and TTL, but yearly partitions, so a one-year report reads 1–2 parts, and a patient-first sort key (README,
 * bench (b)). The dedup key is the same set of columns, so ReplacingMergeTree collapses the same rows.
 *
 * Fed from audit_events by `audit_events_by_patient_mv`, so it holds whatever reaches audit_events, however
 * it gets there (the audit writer, an INSERT by hand, a materialized view expanding request records): an MV
 * fires on every insert into its source, including inserts made by another MV. Rows already in audit_events
 * when the migration runs are copied by the migration's backfill (`INSERT … SELECT`, after the MV exists: a
 * row inserted in between may be copied twice, which the ReplacingMergeTree collapses and every report's
 * one-row-per-event_id rule already hides).
 *
 * Retention: the same TTL expression as audit_events (`toDateTime(event_time) + toIntervalDay(<days>)`, kept in
 * step by `migrate`'s retention alignment), and like audit_events without `ttl_only_drop_parts`, so expired
 * rows are deleted row by row by TTL merges (every `merge_with_ttl_timeout`, 4 h by default, on both tables),
 * not only when a whole partition has expired: a yearly partition does not keep a row longer than a monthly
 * one would. The cost is that such a merge rewrites the oldest year's part instead of the oldest month's.
 * Not mirrored: mutations of audit_events (`ALTER … DELETE`, `DROP PARTITION`, `TRUNCATE`) and parts
 * attached to it; do them on both tables.
 */
import { AUDIT_RECORD_FIELDS } from '@fhirwatch/contract';
import { AUDIT_COLUMNS, AUDIT_TABLE } from './audit.ts';
import type { BackfillDef, MaterializedViewDef, TableDef } from './types.ts';

export const AUDIT_BY_PATIENT_TABLE = 'audit_events_by_patient';
export const AUDIT_BY_PATIENT_VIEW = 'audit_events_by_patient_mv';

/** The record columns by name (not `*`: audit_events may gain columns this table does not need). */
const columns = AUDIT_RECORD_FIELDS.join(', ');

export function auditByPatientTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: AUDIT_BY_PATIENT_TABLE,
    comment: 'copy of audit_events with yearly partitions for the patient access report (fed by a view)',
    // audit_events as migration 6 left it: result_count is Nullable there (unknown = null, a body over the cap)
    columns: AUDIT_COLUMNS.filter((c) => (AUDIT_RECORD_FIELDS as readonly string[]).includes(c.name)).map((c) =>
      c.name === 'result_count' ? { ...c, type: 'Nullable(UInt32)' } : c,
    ),
    engine: 'ReplacingMergeTree',
    partitionBy: 'toYear(event_time)',
    // patient first: `patient_id IN (<ids>, '*')` is one key range per value in each part, with or without a
    // tenant; tenant-first (audit_events' key) needs a range per tenant and value when no tenant is given
    orderBy: '(patient_id, tenant_id, event_time, event_id)',
    ttl: `toDateTime(event_time) + toIntervalDay(${retentionDays})`,
    // Small granules and compressed blocks: a patient's year is a few hundred rows, and every column read
    // decompresses whole blocks; measured on 10 M rows, 1024-row granules with 4–64 KiB blocks cut the report's
    // engine CPU by a third (1024-row granules alone: no change) for +3 % compressed size (README, bench (b)).
    settings: { index_granularity: 1024, min_compress_block_size: 4096, max_compress_block_size: 65536 },
    shardingKey: 'cityHash64(tenant_id)',
  };
}

export const auditByPatientView: MaterializedViewDef = {
  kind: 'materialized-view',
  name: AUDIT_BY_PATIENT_VIEW,
  to: AUDIT_BY_PATIENT_TABLE,
  from: AUDIT_TABLE,
  select: `SELECT ${columns} FROM {from}`,
};

/** Rows stored before the view existed (runs once, as part of migration 10). */
export const auditByPatientBackfill: BackfillDef = {
  kind: 'backfill',
  into: AUDIT_BY_PATIENT_TABLE,
  from: AUDIT_TABLE,
  columns: AUDIT_RECORD_FIELDS,
};
