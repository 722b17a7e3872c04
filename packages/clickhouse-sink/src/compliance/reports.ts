/**
 * What the report files (report-defs/, one file per report: its logic, the SQL its code builds, title, columns,
 * options) share: the time and tenant filters, option checks, column helpers and the record read. Every value from
 * the caller travels as a ClickHouse query parameter (`{name:Type}`); the SQL text is built only from fixed fragments
 * chosen by option *kind* (tenant filter on/off, hour/day buckets), never from input. Duplicate deliveries of one
 * event_id are never counted twice (see ONE_ROW_PER_EVENT).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
import { AUDIT_EVENTS, RECORD_COLUMNS_SQL, selectValueRows, toAuditRecordFromValues } from './records.ts';
import { chDateTime, resolveTimeRange, type TimeRange } from './time-range.ts';
import type { ReportColumn, ReportOptions } from './types.ts';

export const TIME_FILTER = "event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}";
export const TENANT_FILTER = 'tenant_id = {tenant:String}';
/** The one-tenant form of the tenant filter, for the SQL a report definition shows. */
export const ONE_TENANT = ` AND ${TENANT_FILTER}`;

interface Base {
  range: TimeRange;
  params: Record<string, unknown>;
  /** `AND tenant_id = {tenant:String}` when a tenant is given, '' otherwise. */
  tenantAnd: string;
}

export function base(options: ReportOptions): Base {
  const range = resolveTimeRange(options);
  const params: Record<string, unknown> = { from: chDateTime(range.from), to: chDateTime(range.to) };
  let tenantAnd = '';
  if (options.tenant !== undefined && options.tenant !== '') {
    params.tenant = options.tenant;
    tenantAnd = ` AND ${TENANT_FILTER}`;
  }
  if (options.excludeTenants !== undefined && options.excludeTenants.length > 0) {
    params.excludeTenants = [...options.excludeTenants];
    tenantAnd += ' AND tenant_id NOT IN {excludeTenants:Array(String)}';
  }
  return { range, params, tenantAnd };
}

export function positive(value: number, name: string, integer = false): number {
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidOption,
      `${name} must be a ${integer ? 'non-negative integer' : 'non-negative number'}`,
    );
  }
  return value;
}

export const col = (key: string, header = key): ReportColumn => ({ key, header });

/**
 * CSV columns of a record-level report: its shown columns, then every other record field (user agent, query,
 * trace id, batch entry, duration, chain fields …), so an exported file carries the whole record.
 */
export function withRecordFields(columns: readonly ReportColumn[]): ReportColumn[] {
  const shown = new Set(columns.map((column) => column.key));
  return [...columns, ...AUDIT_RECORD_FIELDS.filter((field) => !shown.has(field)).map((field) => col(field))];
}

/** Columns shown for record-level reports (every record field is still in JSON and FHIR output). */
export const RECORD_VIEW_COLUMNS: readonly ReportColumn[] = [
  col('event_time'),
  col('tenant_id'),
  col('user_id'),
  col('user_name'),
  col('client_id'),
  col('source_ip'),
  col('event_type'),
  col('resource_type'),
  col('patient_id'),
  col('outcome'),
  col('http_status'),
  col('event_id'),
];

/**
 * Query settings of a read that touches a few granules (the access report: one patient's key range): one thread,
 * so the engine does not start a pool of reader threads for a few thousand rows (bench/queries.ts: ~1–2 ms of CPU
 * per report). A `SETTINGS` clause, scoped to the query: a `SET` through the chDB connection would stay on the session.
 */
export const SMALL_READ_SETTINGS = 'max_threads = 1';

/**
 * The record read of a record-level report: every record field, oldest first (`where` is a fixed fragment;
 * `settings`, if any, a fixed `name = value` list for the query's SETTINGS clause).
 */
export function recordsSql(where: string, table: string = AUDIT_EVENTS, settings?: string): string {
  const tail = settings === undefined ? '' : ` SETTINGS ${settings}`;
  return `SELECT ${RECORD_COLUMNS_SQL} FROM ${table} WHERE ${where} ORDER BY event_time, event_id${tail}`;
}

export async function selectRecords(
  client: ClickHouseClient,
  where: string,
  params: Record<string, unknown>,
  table: string = AUDIT_EVENTS,
  settings?: string,
): Promise<AuditRecord[]> {
  // Duplicate deliveries are dropped here, keeping the first row per event_id in (event_time, event_id) order
  // (the JS twin of `LIMIT 1 BY event_id`: the same rows), without the engine's LimitBy step over rows the filter
  // has already cut down (see the README's bench (b) notes for what it saved).
  const rows = await selectValueRows(client, recordsSql(where, table, settings), params);
  const records: AuditRecord[] = [];
  const seen = new Set<unknown>();
  for (const values of rows) {
    if (seen.has(values[EVENT_ID_INDEX])) continue;
    seen.add(values[EVENT_ID_INDEX]);
    records.push(toAuditRecordFromValues(values));
  }
  return records;
}

const EVENT_ID_INDEX = AUDIT_RECORD_FIELDS.indexOf('event_id');
