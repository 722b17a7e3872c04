/**
 * Migration 6: `audit_requests`, the chained source of truth (one row per HTTP request = one wire record
 * = one HMAC-chain link, see @fhirwatch/contract audit-request.ts), and the materialized view
 * `audit_requests_expand` that expands each request INSIDE ClickHouse (ARRAY JOIN) into the per-patient
 * rows of `audit_events` (same columns as before, deterministic per-patient event_id), so every report,
 * export and BALP AuditEvent reads what it read before.
 *
 * Storage form of a request: the request-level fields as columns; the entries as parallel arrays
 * (`e_*`, one element per entry); the expansion as two flat arrays, `x_entry` (1-based entry of each
 * per-patient row) and `x_patient_id`, in expansion order, so the view does a single ARRAY JOIN and the
 * per-patient id is the row's ordinal: request id with its last 32 bits XOR (ordinal − 1)
 * (`perPatientEventId` in the contract computes the same). `v` = 2 for request records, 1 for a legacy
 * single-record line lifted into a request (its event_id is kept: ordinal 0).
 *
 * Sort key (recorded_by, seq, request_id): `audit verify` streams each writer's chain in key order, a
 * page = a key range (no scan). Monthly partitions for retention, like audit_events.
 *
 * Also in migration 6: `audit_events.result_count` becomes Nullable(UInt32) (null = unknown: the response
 * was over the middleware's capture cap), and the rows already in audit_events are copied into
 * audit_requests as legacy (v1) requests BEFORE the view exists, so verify finds a request for every row.
 */
import { AUDIT_DEDUP_VIEW, AUDIT_TABLE } from './audit.ts';
import type { ColumnDef, MaterializedViewDef, StatementDef, TableDef } from './types.ts';

export const AUDIT_REQUESTS_TABLE = 'audit_requests';
export const AUDIT_REQUESTS_VIEW = 'audit_requests_expand';

const lc = 'LowCardinality(String)';

/** Columns of audit_requests, in insert order (the writer's encoder follows this list). */
export const AUDIT_REQUEST_COLUMNS: readonly ColumnDef[] = [
  { name: 'request_id', type: 'UUID', comment: 'UUIDv7 of the request (wire event_id), idempotency key' },
  { name: 'event_time', type: "DateTime64(3, 'UTC')", codec: 'CODEC(Delta(8), ZSTD(1))' },
  { name: 'recorded_by', type: lc },
  { name: 'seq', type: 'UInt64', codec: 'CODEC(Delta(8), ZSTD(1))' },
  { name: 'prev_hash', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'hash', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'v', type: 'UInt8', comment: '2 = request record, 1 = legacy single record' },
  { name: 'tenant_id', type: lc },
  { name: 'tenant_claimed', type: 'UInt8', comment: '1 = tenant_id only claimed by the path, not verified' },
  { name: 'routed_tenant_id', type: lc },
  { name: 'client_id', type: lc },
  { name: 'user_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'user_name', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'source_ip', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'user_agent', type: lc },
  { name: 'fhir_version', type: lc },
  { name: 'batch_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'trace_id', type: 'String', codec: 'CODEC(ZSTD(1))' },
  { name: 'http_status', type: 'UInt16' },
  { name: 'duration_ms', type: 'Float64', codec: 'CODEC(ZSTD(1))' },
  { name: 'e_event_type', type: `Array(${lc})` },
  { name: 'e_fhir_interaction', type: `Array(${lc})` },
  { name: 'e_resource_type', type: `Array(${lc})` },
  { name: 'e_query', type: 'Array(String)', codec: 'CODEC(ZSTD(3))', comment: 'PHI: search parameters as sent' },
  { name: 'e_entry_index', type: 'Array(Int32)' },
  { name: 'e_http_status', type: 'Array(UInt16)' },
  { name: 'e_outcome', type: 'Array(UInt8)' },
  { name: 'e_result_count', type: 'Array(Nullable(Int64))', comment: 'null (or legacy -1) = unknown' },
  { name: 'x_entry', type: 'Array(UInt16)', comment: 'per-patient row -> 1-based entry' },
  { name: 'x_patient_id', type: 'Array(String)', codec: 'CODEC(ZSTD(1))' },
];

export function auditRequestsTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: AUDIT_REQUESTS_TABLE,
    comment: 'fhirwatch audit request records: the HMAC-chained source of truth of audit_events',
    columns: AUDIT_REQUEST_COLUMNS,
    indexes: ['idx_request_id request_id TYPE bloom_filter(0.001) GRANULARITY 1'],
    engine: 'ReplacingMergeTree',
    partitionBy: 'toYYYYMM(event_time)',
    orderBy: '(recorded_by, seq, request_id)',
    ttl: `toDateTime(event_time) + toIntervalDay(${retentionDays})`,
    settings: { index_granularity: 8192 },
    shardingKey: 'cityHash64(recorded_by)',
  };
}

/** Per-patient event_id of expansion ordinal `o` (1-based) of request `r` (a UUID column). */
export const PER_PATIENT_ID = (r: string, o: string): string =>
  `if(${o} = 1, ${r}, toUUID(concat(substring(toString(${r}), 1, 28), leftPad(lower(hex(bitXor(reinterpretAsUInt32(reverse(unhex(substring(toString(${r}), 29, 8)))), toUInt32(${o} - 1)))), 8, '0'))))`;

/**
 * The same per-patient id as a UInt128 (`toUInt128` of a UUID reads its 32 hex digits as one big-endian number, so
 * XOR-ing the ordinal flips exactly the last 32 bits): no text round trip, for `audit verify`'s row hashes, which
 * hash `toUInt128(event_id)` on both sides.
 */
export const PER_PATIENT_ID_NUMBER = (r: string, o: string): string => `bitXor(toUInt128(${r}), toUInt128(${o} - 1))`;

/**
 * Migration 6's expansion, FROZEN (a released migration is never edited): the materialized view it created
 * (dropped by migration 11) and nothing else. The expansion today is rendered from the contract's
 * AUDIT_EXPANSION (expansion.ts).
 */
export const AUDIT_EXPANSION_SELECT_V6 = `SELECT
    ${PER_PATIENT_ID('request_id', '_o')} AS event_id,
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
FROM {from}
ARRAY JOIN x_entry AS _e, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o`;

export const auditRequestsExpandView: MaterializedViewDef = {
  kind: 'materialized-view',
  name: AUDIT_REQUESTS_VIEW,
  to: AUDIT_TABLE,
  from: AUDIT_REQUESTS_TABLE,
  select: AUDIT_EXPANSION_SELECT_V6,
};

/** audit_events.result_count: unknown is null (it was UInt32, and the middleware's -1 was refused). */
export const auditResultCountNullable: StatementDef = {
  kind: 'statement',
  name: 'audit_events_result_count_nullable',
  tables: [AUDIT_TABLE],
  sql: 'ALTER TABLE {table} MODIFY COLUMN `result_count` Nullable(UInt32)',
};

/** The dedup view keeps the column types it was created with: re-created after result_count became Nullable. */
export const auditDedupViewRecreate: StatementDef = {
  kind: 'statement',
  name: 'audit_events_dedup_recreate',
  tables: [AUDIT_DEDUP_VIEW, AUDIT_TABLE],
  scope: 'distributed',
  sql: 'CREATE OR REPLACE VIEW {table} AS SELECT * FROM {table2} FINAL',
};

/** Every row already in audit_events as a legacy (v1) request: one entry, one patient, its own event_id. */
export const auditRequestsBackfill: StatementDef = {
  kind: 'statement',
  name: 'audit_requests_backfill',
  tables: [AUDIT_REQUESTS_TABLE, AUDIT_TABLE],
  scope: 'local',
  sql: `INSERT INTO {table} SELECT
    event_id AS request_id, event_time, recorded_by, seq, prev_hash, hash, 1 AS v, tenant_id, 0 AS tenant_claimed,
    routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, fhir_version, batch_id, trace_id,
    http_status, duration_ms, [event_type], [fhir_interaction], [resource_type], [query], [entry_index],
    [http_status], [outcome], [CAST(result_count AS Nullable(Int64))], [1], [patient_id]
FROM {table2} FINAL`,
};
