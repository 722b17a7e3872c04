/**
 * Audit search for the console (patient id or MRN, user, time range, event types → a page of records) and the
 * records related to one event: the same request (same trace id: a batch's entries, the export's files) and
 * the same user session (same tenant, user, client and source address within ±`sessionMinutes` of the event;
 * the records carry no session id, so a session is approximated by who, from where, and when).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_EVENT_TYPES, AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../compliance/errors.ts';
import { tenantDisplayNames } from '../compliance/names.ts';
import {
  AUDIT_EVENTS,
  ONE_ROW_PER_EVENT,
  RECORD_COLUMNS_SQL,
  selectRows,
  selectValueRows,
  toAuditRecordFromValues,
} from '../compliance/records.ts';
import { type RequestRow, requestCountSql, requestsSql, toRequestRow } from '../compliance/requests.ts';
import { chDateTime, resolveTimeRange, type TimeRange } from '../compliance/time-range.ts';
import type { ReportColumn } from '../compliance/types.ts';
import { list, number, scope, single } from './params.ts';
import { patientIdsOf } from './reports.ts';

/** Columns of a search result in CSV (every field is in JSON and FHIR output). */
export const SEARCH_COLUMNS: readonly ReportColumn[] = [
  'event_time',
  'tenant_id',
  'user_id',
  'user_name',
  'client_id',
  'source_ip',
  'event_type',
  'fhir_interaction',
  'resource_type',
  'patient_id',
  'query',
  'outcome',
  'http_status',
  'result_count',
  'trace_id',
  'event_id',
].map((key) => ({ key, header: key }));

export const SEARCH_DEFAULTS = { limit: 50, maxLimit: 1000, maxExportRows: 100_000, sessionMinutes: 30 } as const;

export interface SearchPage {
  range: TimeRange;
  total: number;
  offset: number;
  limit: number;
  rows: AuditRecord[];
}

interface Where {
  where: string;
  params: Record<string, unknown>;
  range: TimeRange;
}

async function searchWhere(client: ClickHouseClient, q: URLSearchParams): Promise<Where> {
  const options = scope(q);
  const range = resolveTimeRange(options);
  const params: Record<string, unknown> = { from: chDateTime(range.from), to: chDateTime(range.to) };
  const clauses = ["event_time >= {from:DateTime64(3, 'UTC')}", "event_time < {to:DateTime64(3, 'UTC')}"];
  if (options.tenant !== undefined) {
    params.tenant = options.tenant;
    clauses.push('tenant_id = {tenant:String}');
  }
  const wantsPatient = list(q, 'patient').length > 0 || (single(q, 'patient-mrn') ?? '') !== '';
  if (wantsPatient) {
    params.patients = await patientIdsOf(client, q);
    clauses.push('patient_id IN {patients:Array(String)}');
  }
  const users = list(q, 'user');
  if (users.length > 0) {
    params.users = users;
    clauses.push('user_id IN {users:Array(String)}');
  }
  const types = list(q, 'event-type');
  const unknown = types.filter((t) => !(AUDIT_EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidOption,
      `parameter 'event-type' must be among ${AUDIT_EVENT_TYPES.join(', ')}`,
    );
  }
  if (types.length > 0) {
    params.types = types;
    clauses.push('event_type IN {types:Array(String)}');
  }
  const outcome = single(q, 'outcome');
  if (outcome === 'failed') clauses.push('outcome != 0');
  else if (outcome === 'success') clauses.push('outcome = 0');
  else if (outcome !== undefined && outcome !== '' && outcome !== 'any') {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, "parameter 'outcome' must be success or failed");
  }
  return { where: clauses.join(' AND '), params, range };
}

async function records(
  client: ClickHouseClient,
  where: string,
  params: Record<string, unknown>,
  order: 'ASC' | 'DESC',
  limit: number,
  offset: number,
): Promise<AuditRecord[]> {
  const rows = await selectValueRows(
    client,
    `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_EVENTS} WHERE ${where}
     ORDER BY event_time ${order}, event_id ${order} ${ONE_ROW_PER_EVENT}
     LIMIT {limit:UInt32} OFFSET {offset:UInt32}`,
    { ...params, limit, offset },
  );
  return rows.map(toAuditRecordFromValues);
}

function pageOf(q: URLSearchParams): { limit: number; offset: number } {
  const limit = number(q, 'limit', true) ?? SEARCH_DEFAULTS.limit;
  const offset = number(q, 'offset', true) ?? 0;
  if (limit < 1 || limit > SEARCH_DEFAULTS.maxLimit) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidOption,
      `parameter 'limit' must be 1..${SEARCH_DEFAULTS.maxLimit}`,
    );
  }
  return { limit, offset };
}

/**
 * One page of requests (compliance/requests.ts: open chart, list refresh, search, export …), newest first, with the
 * total number of matching requests. A request is listed when any of its rows matches the search.
 */
export async function searchAuditRequests(
  client: ClickHouseClient,
  q: URLSearchParams,
): Promise<{ range: TimeRange; total: number; offset: number; limit: number; rows: RequestRow[] }> {
  const { where, params, range } = await searchWhere(client, q);
  const { limit, offset } = pageOf(q);
  const [page, counted] = await Promise.all([
    selectRows<Record<string, unknown>>(client, requestsSql(where, 'DESC'), { ...params, limit, offset }),
    selectRows<{ n: string }>(client, requestCountSql(where), params),
  ]);
  const tenants = await tenantDisplayNames(client);
  const rows = page.map((row) => {
    const request = toRequestRow(row);
    return { ...request, tenant_name: tenants.get(request.tenant_id) ?? '' };
  });
  return { range, total: Number(counted[0]?.n ?? 0), offset, limit, rows };
}

/** One page, newest first, with the total number of matching events. */
export async function searchAudit(client: ClickHouseClient, q: URLSearchParams): Promise<SearchPage> {
  const { where, params, range } = await searchWhere(client, q);
  const { limit, offset } = pageOf(q);
  const [page, counted] = await Promise.all([
    records(client, where, params, 'DESC', limit, offset),
    selectRows<{ n: string }>(client, `SELECT uniqExact(event_id) AS n FROM ${AUDIT_EVENTS} WHERE ${where}`, params),
  ]);
  return { range, total: Number(counted[0]?.n ?? 0), offset, limit, rows: page };
}

/** Records per query of an export: what an export holds in memory at once (a few MB of records). */
export const EXPORT_PAGE_ROWS = 2000;

/**
 * Every matching record for a download, oldest first, at most maxExportRows: `total` is counted first (the read
 * is recorded with it before the answer starts; too many → 400 before anything is sent), then `pages()` fetches
 * one page after another, keyset-paged on (event_time, event_id), so neither ClickHouse's answer nor this process
 * holds more than one page and the next page is fetched only when the last one has been written.
 */
export async function searchAuditExport(
  client: ClickHouseClient,
  q: URLSearchParams,
): Promise<{ range: TimeRange; total: number; pages: () => AsyncGenerator<AuditRecord[]> }> {
  const { where, params, range } = await searchWhere(client, q);
  const counted = await selectRows<{ n: string }>(
    client,
    `SELECT uniqExact(event_id) AS n FROM ${AUDIT_EVENTS} WHERE ${where}`,
    params,
  );
  const total = Number(counted[0]?.n ?? 0);
  if (total > SEARCH_DEFAULTS.maxExportRows) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidOption,
      `more than ${SEARCH_DEFAULTS.maxExportRows} records match: narrow the search before downloading`,
    );
  }
  async function* pages(): AsyncGenerator<AuditRecord[]> {
    let after: { time: string; id: string } | undefined;
    for (let sent = 0; sent < total; ) {
      const keyset =
        after === undefined ? '' : " AND (event_time, event_id) > ({afterTime:DateTime64(3, 'UTC')}, {afterId:UUID})";
      const page = await records(
        client,
        `${where}${keyset}`,
        { ...params, ...(after === undefined ? {} : { afterTime: after.time, afterId: after.id }) },
        'ASC',
        Math.min(EXPORT_PAGE_ROWS, total - sent),
        0,
      );
      if (page.length === 0) return;
      sent += page.length;
      const last = page.at(-1) as AuditRecord;
      after = { time: chDateTime(new Date(last.event_time)), id: last.event_id };
      yield page;
    }
  }
  return { range, total, pages };
}

export interface RelatedRecords {
  event: AuditRecord;
  /** Same trace id (same request; batch entries; export files), oldest first. */
  request: AuditRecord[];
  /** Same tenant, user, client and source address within ±sessionMinutes, oldest first (at most 500). */
  session: AuditRecord[];
  sessionMinutes: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function relatedRecords(client: ClickHouseClient, q: URLSearchParams): Promise<RelatedRecords> {
  const eventId = single(q, 'event-id') ?? '';
  if (!UUID.test(eventId))
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, "parameter 'event-id' must be a UUID");
  const minutes = number(q, 'session-minutes', true) ?? SEARCH_DEFAULTS.sessionMinutes;
  const [event] = (
    await selectValueRows(
      client,
      `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_EVENTS} WHERE event_id = {id:UUID} LIMIT 1`,
      { id: eventId },
    )
  ).map(toAuditRecordFromValues);
  if (event === undefined)
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'no audit event with that id');
  const at = new Date(event.event_time).getTime();
  const window = {
    from: chDateTime(new Date(at - minutes * 60_000)),
    to: chDateTime(new Date(at + minutes * 60_000)),
  };
  const request =
    event.trace_id === ''
      ? [event]
      : await records(
          client,
          "trace_id = {trace:String} AND tenant_id = {tenant:String} AND event_time >= {from:DateTime64(3, 'UTC')} AND event_time <= {to:DateTime64(3, 'UTC')}",
          {
            trace: event.trace_id,
            tenant: event.tenant_id,
            from: chDateTime(new Date(at - 86_400_000)),
            to: chDateTime(new Date(at + 86_400_000)),
          },
          'ASC',
          SEARCH_DEFAULTS.maxLimit,
          0,
        );
  const session = await records(
    client,
    `tenant_id = {tenant:String} AND user_id = {user:String} AND client_id = {client:String} AND source_ip = {ip:String}
     AND event_time >= {from:DateTime64(3, 'UTC')} AND event_time <= {to:DateTime64(3, 'UTC')}`,
    { tenant: event.tenant_id, user: event.user_id, client: event.client_id, ip: event.source_ip, ...window },
    'ASC',
    500,
    0,
  );
  return { event, request, session, sessionMinutes: minutes };
}

/** The record fields, for clients that render a record as a table. */
export const RECORD_FIELDS: readonly string[] = AUDIT_RECORD_FIELDS;
