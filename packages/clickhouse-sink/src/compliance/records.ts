/** Reading audit records back out of ClickHouse as `AuditRecord`s (the contract's shape). */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { AUDIT_DEDUP_CLAUSE, AUDIT_TABLE } from '../store/schema/audit.ts';
import { AUDIT_PATIENT_INDEX_TABLE } from '../store/schema/audit-patient-index.ts';
import { AUDIT_REQUESTS_TABLE } from '../store/schema/audit-requests.ts';
import { AUDIT_EXPANSION_SELECT } from '../store/schema/expansion.ts';
import { isoFromClickHouse } from './time-range.ts';

/**
 * The per-patient audit rows every query reads: since migration 11 a view, the expansion of `audit_requests`
 * (src/store/schema/audit-patient-index.ts), with the columns of the table it replaced.
 */
export const AUDIT_EVENTS = AUDIT_TABLE;
/** The per-patient index: every record field, patient first (migration 14); the access report reads it alone. */
export const AUDIT_PATIENT_INDEX = AUDIT_PATIENT_INDEX_TABLE;

/**
 * At-least-once delivery may store an event_id twice until a merge collapses it (ReplacingMergeTree);
 * every row-level query filters first and then keeps one row per event_id (`LIMIT 1 BY event_id`,
 * the schema's AUDIT_DEDUP_CLAUSE; cheap, the filter already cut the rows; the dedup *view* would
 * hide the filter from the sort key). Aggregates count `uniqExact(event_id)` instead.
 */
export const ONE_ROW_PER_EVENT = AUDIT_DEDUP_CLAUSE;

/**
 * "Everything user Y touched" without scanning: the per-patient rows of the requests matching `requestFilter` (a
 * condition on request-level columns: user, tenant, time), found through audit_requests' narrow `by_user`
 * projection and read by the table's sort key. A FROM-able subquery.
 */
export function requestRows(requestFilter: string): string {
  return `(${AUDIT_EXPANSION_SELECT.replace(
    '{from}',
    `(SELECT * FROM ${AUDIT_REQUESTS_TABLE} WHERE (recorded_by, seq) IN (SELECT recorded_by, seq FROM ${AUDIT_REQUESTS_TABLE} WHERE ${requestFilter}))`,
  )})`;
}

/** Every record column, in AUDIT_RECORD_FIELDS order (static text, no input in it). */
export const RECORD_COLUMNS_SQL = AUDIT_RECORD_FIELDS.join(', ');

/** One JSONEachRow row (64-bit integers arrive as strings) as an AuditRecord. */
export function toAuditRecord(row: Record<string, unknown>): AuditRecord {
  return toAuditRecordFromValues(AUDIT_RECORD_FIELDS.map((field) => row[field]));
}

/** Position of each record field in a `SELECT ${RECORD_COLUMNS_SQL}` row. */
const AT = Object.fromEntries(AUDIT_RECORD_FIELDS.map((field, i) => [field, i])) as Readonly<
  Record<keyof AuditRecord, number>
>;
const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));

/**
 * One JSONCompactEachRow row of `SELECT ${RECORD_COLUMNS_SQL}` (values in AUDIT_RECORD_FIELDS order) as an
 * AuditRecord, with the same keys in the same order as {@link toAuditRecord} (checked below at load). Record reads
 * use the compact format: on a 1,650-row report, half the decode time of JSONEachRow; one object literal per row
 * (one shape) instead of 26 keyed stores costs a fraction of the per-field loop (bench/queries.ts prints what
 * decoding a report's rows costs).
 */
export function toAuditRecordFromValues(v: readonly unknown[]): AuditRecord {
  const resultCount = v[AT.result_count];
  return {
    event_id: text(v[AT.event_id]),
    event_time: isoFromClickHouse(String(v[AT.event_time])),
    recorded_by: text(v[AT.recorded_by]),
    seq: Number(v[AT.seq]),
    prev_hash: text(v[AT.prev_hash]),
    hash: text(v[AT.hash]),
    tenant_id: text(v[AT.tenant_id]),
    routed_tenant_id: text(v[AT.routed_tenant_id]),
    client_id: text(v[AT.client_id]),
    user_id: text(v[AT.user_id]),
    user_name: text(v[AT.user_name]),
    source_ip: text(v[AT.source_ip]),
    user_agent: text(v[AT.user_agent]),
    event_type: text(v[AT.event_type]) as AuditRecord['event_type'],
    fhir_interaction: text(v[AT.fhir_interaction]) as AuditRecord['fhir_interaction'],
    resource_type: text(v[AT.resource_type]),
    fhir_version: text(v[AT.fhir_version]) as AuditRecord['fhir_version'],
    query: text(v[AT.query]),
    patient_id: text(v[AT.patient_id]),
    batch_id: text(v[AT.batch_id]),
    entry_index: Number(v[AT.entry_index]),
    trace_id: text(v[AT.trace_id]),
    outcome: Number(v[AT.outcome]) as AuditRecord['outcome'],
    http_status: Number(v[AT.http_status]),
    duration_ms: Number(v[AT.duration_ms]),
    // null = unknown (the response was over the middleware's capture cap)
    result_count: resultCount === null || resultCount === undefined ? null : Number(resultCount),
  };
}
// JSON and FHIR output follow key order: the literal above must list the fields in AUDIT_RECORD_FIELDS order
if (Object.keys(toAuditRecordFromValues(AUDIT_RECORD_FIELDS.map(() => '0'))).join() !== AUDIT_RECORD_FIELDS.join()) {
  throw new Error('toAuditRecordFromValues: keys out of AUDIT_RECORD_FIELDS order');
}

/** Run a parameterized SELECT and return its rows as value arrays (JSONCompactEachRow). */
export async function selectValueRows(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown>,
): Promise<unknown[][]> {
  const result = await client.query({ query, query_params: params, format: 'JSONCompactEachRow' });
  return (await result.json()) as unknown[][];
}

/** Run a parameterized SELECT and return its rows. */
export async function selectRows<Row = Record<string, unknown>>(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown>,
): Promise<Row[]> {
  const result = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return (await result.json()) as Row[];
}

/** The principal of a row in SQL: its user, or `client:<id>` when the trail names no user (see principalOf). */
export const PRINCIPAL_SQL = "if(user_id != '', user_id, concat('client:', client_id))";

/** The principal of a record-like row: its user, or `client:<id>` when the trail names no user. */
export function principalOf(row: { user_id?: unknown; client_id?: unknown }): string {
  const user = String(row.user_id ?? '');
  return user !== '' ? user : `client:${String(row.client_id ?? '')}`;
}
