/**
 * One row per request (what a person did: opened a chart, refreshed their list, searched, exported) over the
 * per-patient rows of audit_events, which stay the detail (CSV, FHIR AuditEvent, "expand"). A request is its trace
 * (the middleware starts one per request; the entries of a list-refresh batch and the per-patient rows of a search
 * share it), or the record itself when it has none: the same key the console's "same request" uses.
 *
 * The action is decided in one place, {@link requestAction}, from the request's event types; the SQL grouping
 * ({@link requestsSql}) and the in-memory grouping ({@link groupRequests}) both hand it the same inputs.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { AUDIT_EVENTS, selectValueRows } from './records.ts';
import { isoFromClickHouse } from './time-range.ts';
import type { ReportColumn } from './types.ts';

export const REQUEST_ACTIONS = ['open chart', 'list refresh', 'search', 'export', 'read'] as const;
export type RequestAction = (typeof REQUEST_ACTIONS)[number];

/** The request of a per-patient row, in SQL (tenant-scoped by the grouping). */
export const REQUEST_KEY_SQL = "if(trace_id = '', toString(event_id), trace_id)";

/** The request of a per-patient row, in JS (same rule as REQUEST_KEY_SQL). */
export function requestKeyOf(record: Pick<AuditRecord, 'trace_id' | 'event_id'>): string {
  return record.trace_id === '' ? record.event_id : record.trace_id;
}

/**
 * What the person did, from the request's event types: an export kick-off; a list refresh (a batch, its
 * PatientListView rows); a patient search; a chart open (a read of one patient); else another read (a category or
 * a location on its own).
 */
export function requestAction(eventTypes: readonly string[], batch: boolean): RequestAction {
  if (eventTypes.includes('ExportInitiation')) return 'export';
  if (batch || eventTypes.includes('PatientListView')) return 'list refresh';
  if (eventTypes.includes('PatientSearch')) return 'search';
  if (eventTypes.includes('PatientView')) return 'open chart';
  return 'read';
}

export interface RequestRow {
  /** The request's first row's time. */
  event_time: string;
  tenant_id: string;
  /** The tenant's display name (added by the registry's runs and the query API; see names.ts). */
  tenant_name?: string;
  user_id: string;
  user_name: string;
  client_id: string;
  source_ip: string;
  action: RequestAction;
  /** Distinct patients the request disclosed (`*` = all patients of an export). */
  patients: string[];
  /** Its event types (the categories viewed), sorted. */
  categories: string[];
  /** Worst outcome and status of its rows. */
  outcome: number;
  http_status: number;
  /** Its per-patient rows (the detail it expands to). */
  records: number;
  request_key: string;
  /** A row of the request (its first): `related` and "expand" start from it. */
  first_event_id: string;
}

export const REQUEST_COLUMNS: readonly ReportColumn[] = [
  'event_time',
  'tenant_id',
  'tenant_name',
  'user_id',
  'user_name',
  'action',
  'patients',
  'categories',
  'http_status',
  'records',
  'client_id',
  'source_ip',
].map((key) => ({ key, header: key }));

const patientsOf = (ids: Iterable<string>): string[] => [...new Set([...ids].filter((id) => id !== ''))].sort();

/** Group per-patient records (any order) into requests, oldest first. */
export function groupRequests(records: readonly AuditRecord[]): RequestRow[] {
  const groups = new Map<string, AuditRecord[]>();
  for (const record of records) {
    const key = `${record.tenant_id}\u0000${requestKeyOf(record)}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [record]);
    else group.push(record);
  }
  const rows = [...groups.values()].map((group) => {
    const sorted = [...group].sort((a, b) =>
      a.event_time === b.event_time ? (a.event_id < b.event_id ? -1 : 1) : a.event_time < b.event_time ? -1 : 1,
    );
    const first = sorted[0]!;
    const types = [...new Set(sorted.map((r) => r.event_type as string))].sort();
    return {
      event_time: first.event_time,
      tenant_id: first.tenant_id,
      user_id: first.user_id,
      user_name: sorted.find((r) => r.user_name !== '')?.user_name ?? '',
      client_id: first.client_id,
      source_ip: first.source_ip,
      action: requestAction(
        types,
        sorted.some((r) => r.batch_id !== ''),
      ),
      patients: patientsOf(sorted.map((r) => r.patient_id)),
      categories: types,
      outcome: Math.max(...sorted.map((r) => r.outcome)),
      http_status: Math.max(...sorted.map((r) => r.http_status)),
      records: new Set(sorted.map((r) => r.event_id)).size,
      request_key: requestKeyOf(first),
      first_event_id: first.event_id,
    } satisfies RequestRow;
  });
  return rows.sort((a, b) =>
    a.event_time === b.event_time
      ? a.first_event_id < b.first_event_id
        ? -1
        : 1
      : a.event_time < b.event_time
        ? -1
        : 1,
  );
}

/**
 * One row per request with a row matching `where` (a fixed fragment over {from}/{to}), newest or oldest first,
 * paged; each row summarizes the whole request (all its rows, which share its time give or take the upstream's
 * answer: looked for within a day of the range), as its expansion shows it.
 */
export function requestsSql(where: string, order: 'ASC' | 'DESC'): string {
  return `WITH page AS (
      SELECT tenant_id, ${REQUEST_KEY_SQL} AS request_key, min(event_time) AS t,
        argMin(toString(event_id), (event_time, toString(event_id))) AS first
      FROM ${AUDIT_EVENTS}
      WHERE ${where}
      GROUP BY tenant_id, request_key
      ORDER BY t ${order}, first ${order}
      LIMIT {limit:UInt32} OFFSET {offset:UInt32}
    )
    SELECT toString(min(event_time)) AS first_time, tenant_id, any(user_id) AS user_id,
      anyIf(user_name, user_name != '') AS user_name, any(client_id) AS client_id, any(source_ip) AS source_ip,
      arraySort(groupUniqArrayIf(patient_id, patient_id != '')) AS patients,
      arraySort(groupUniqArray(event_type)) AS categories, max(batch_id) != '' AS batch,
      max(outcome) AS outcome, max(http_status) AS http_status, uniqExact(event_id) AS records,
      ${REQUEST_KEY_SQL} AS request_key,
      argMin(toString(event_id), (event_time, toString(event_id))) AS first_event_id
    FROM ${AUDIT_EVENTS}
    WHERE event_time >= {from:DateTime64(3, 'UTC')} - INTERVAL 1 DAY AND event_time < {to:DateTime64(3, 'UTC')} + INTERVAL 1 DAY
      AND (tenant_id, ${REQUEST_KEY_SQL}) IN (SELECT tenant_id, request_key FROM page)
    GROUP BY tenant_id, request_key
    ORDER BY min(event_time) ${order}, first_event_id ${order}`;
}

/** How many requests match `where`. */
export function requestCountSql(where: string): string {
  return `SELECT uniqExact(tenant_id, ${REQUEST_KEY_SQL}) AS n FROM ${AUDIT_EVENTS} WHERE ${where}`;
}

/** A row of requestsSql as a RequestRow. */
export function toRequestRow(row: Record<string, unknown>): RequestRow {
  const categories = (row.categories as unknown[]).map(String);
  return {
    event_time: isoFromClickHouse(String(row.first_time)),
    tenant_id: String(row.tenant_id),
    user_id: String(row.user_id),
    user_name: String(row.user_name ?? ''),
    client_id: String(row.client_id),
    source_ip: String(row.source_ip),
    action: requestAction(categories, Boolean(Number(row.batch))),
    patients: (row.patients as unknown[]).map(String),
    categories,
    outcome: Number(row.outcome),
    http_status: Number(row.http_status),
    records: Number(row.records),
    request_key: String(row.request_key),
    first_event_id: String(row.first_event_id),
  };
}

/** Requests per action, distinct patients and users of one tenant (a summary in person units). */
export interface PersonUnits {
  tenant_id: string;
  actions: Record<RequestAction, number>;
  patients: number;
  users: number;
}

/**
 * Person units of the rows matching `where` (a fixed fragment), per tenant: requests per action (the same
 * requestAction the request views use), distinct patients (`*` not counted) and distinct users.
 */
export async function personUnits(
  client: ClickHouseClient,
  where: string,
  params: Record<string, unknown>,
): Promise<PersonUnits[]> {
  const rows = await selectValueRows(
    client,
    `SELECT tenant_id, arraySort(groupUniqArray(event_type)) AS categories, max(batch_id) != '' AS batch,
        groupUniqArrayIf(patient_id, patient_id NOT IN ('', '*')) AS patients, any(user_id) AS user_id
      FROM ${AUDIT_EVENTS} WHERE ${where}
      GROUP BY tenant_id, ${REQUEST_KEY_SQL}`,
    params,
  );
  const tenants = new Map<
    string,
    { actions: Record<RequestAction, number>; patients: Set<string>; users: Set<string> }
  >();
  for (const [tenant, categories, batch, patients, user] of rows) {
    const id = String(tenant);
    let entry = tenants.get(id);
    if (entry === undefined) {
      entry = {
        actions: Object.fromEntries(REQUEST_ACTIONS.map((a) => [a, 0])) as Record<RequestAction, number>,
        patients: new Set(),
        users: new Set(),
      };
      tenants.set(id, entry);
    }
    entry.actions[requestAction((categories as unknown[]).map(String), Boolean(Number(batch)))] += 1;
    for (const patient of patients as unknown[]) entry.patients.add(String(patient));
    if (String(user) !== '') entry.users.add(String(user));
  }
  return [...tenants.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([tenant_id, entry]) => ({
      tenant_id,
      actions: entry.actions,
      patients: entry.patients.size,
      users: entry.users.size,
    }));
}

/** "64 chart opens, 192 list refreshes, 128 searches, 1 export, 0 other reads; 540 distinct patients; 32 users". */
export function personUnitsText(units: PersonUnits): string {
  const n = (count: number, one: string, many: string): string => `${count} ${count === 1 ? one : many}`;
  return `${n(units.actions['open chart'], 'chart open', 'chart opens')}, ${n(units.actions['list refresh'], 'list refresh', 'list refreshes')}, ${n(units.actions.search, 'search', 'searches')}, ${n(units.actions.export, 'export', 'exports')}, ${n(units.actions.read, 'other read', 'other reads')}; ${n(units.patients, 'distinct patient', 'distinct patients')}; ${n(units.users, 'user', 'users')}`;
}
