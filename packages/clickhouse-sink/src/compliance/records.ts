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

const NUMERIC_FIELDS = new Set<string>(['seq', 'entry_index', 'outcome', 'http_status', 'duration_ms', 'result_count']);

/** One JSONEachRow row (64-bit integers arrive as strings) as an AuditRecord. */
export function toAuditRecord(row: Record<string, unknown>): AuditRecord {
  const record: Record<string, unknown> = {};
  for (const field of AUDIT_RECORD_FIELDS) {
    const value = row[field];
    if (field === 'event_time') record[field] = isoFromClickHouse(String(value));
    else if (field === 'result_count') record[field] = value === null || value === undefined ? null : Number(value);
    else if (NUMERIC_FIELDS.has(field)) record[field] = Number(value);
    else record[field] = value === null || value === undefined ? '' : String(value);
  }
  return record as unknown as AuditRecord;
}

/**
 * One JSONCompactEachRow row of `SELECT ${RECORD_COLUMNS_SQL}` (values in AUDIT_RECORD_FIELDS order) as an
 * AuditRecord. Record reads use the compact format: on a 1,650-row report, half the decode time of JSONEachRow.
 */
export function toAuditRecordFromValues(values: readonly unknown[]): AuditRecord {
  const record: Record<string, unknown> = {};
  AUDIT_RECORD_FIELDS.forEach((field, i) => {
    const value = values[i];
    if (field === 'event_time') record[field] = isoFromClickHouse(String(value));
    // null = unknown (the response was over the middleware's capture cap)
    else if (field === 'result_count') record[field] = value === null || value === undefined ? null : Number(value);
    else if (NUMERIC_FIELDS.has(field)) record[field] = Number(value);
    else record[field] = value === null || value === undefined ? '' : String(value);
  });
  return record as unknown as AuditRecord;
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
