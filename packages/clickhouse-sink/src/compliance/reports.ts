/**
 * The compliance reports of shared/spec/audit-events.md over `audit_events`. Every value from the
 * caller travels as a ClickHouse query parameter (`{name:Type}`); the SQL text is built only from
 * fixed fragments chosen by option *kind* (tenant filter on/off, hour/day buckets), never from input.
 * Duplicate deliveries of one event_id are never counted twice (see ONE_ROW_PER_EVENT).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS, AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { readWithTables } from '../store/ensure.ts';
import { GROUP_MEMBERS_TABLE, groupMembersTable } from '../store/schema/audit-context.ts';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
import {
  AUDIT_EVENTS,
  AUDIT_EVENTS_BY_PATIENT,
  ONE_ROW_PER_EVENT,
  RECORD_COLUMNS_SQL,
  selectRows,
  selectValueRows,
  toAuditRecord,
  toAuditRecordFromValues,
} from './records.ts';
import { chDateTime, isoFromClickHouse, resolveTimeRange, type TimeRange } from './time-range.ts';
import type {
  AccessReportOptions,
  ActivityReportOptions,
  AfterHoursReportOptions,
  ExportsReportOptions,
  FailuresReportOptions,
  Report,
  ReportColumn,
  ReportOptions,
  SummaryReportOptions,
  TenantIsolationReportOptions,
} from './types.ts';
import { listVipPatients } from './vip.ts';
import { isWithinWorkHours, localParts, resolveWorkHours, workHoursFor } from './work-hours.ts';

/** Default thresholds (documented in the package README; each one is an option). */
export const REPORT_DEFAULTS = {
  exports: { largePatients: 1000 },
  failures: { minEvents: 1 },
} as const;

export const TIME_FILTER = "event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}";
const TENANT_FILTER = 'tenant_id = {tenant:String}';

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

export async function selectRecords(
  client: ClickHouseClient,
  where: string,
  params: Record<string, unknown>,
  table: string = AUDIT_EVENTS,
): Promise<AuditRecord[]> {
  // Duplicate deliveries are dropped here, keeping the first row per event_id in (event_time, event_id) order
  // (the JS twin of `LIMIT 1 BY event_id`: the same rows), without the engine's LimitBy step over rows the filter
  // has already cut down (see the README's bench (b) notes for what it saved).
  const rows = await selectValueRows(
    client,
    `SELECT ${RECORD_COLUMNS_SQL} FROM ${table} WHERE ${where} ORDER BY event_time, event_id`,
    params,
  );
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

/**
 * HIPAA access report: every access to the patient (who, when, what, from where), oldest first.
 * Bulk exports of all patients (`patient_id = '*'`) in a tenant where the patient appears are included
 * unless `includeAllPatientExports: false`.
 */
export async function accessReport(
  client: ClickHouseClient,
  options: AccessReportOptions,
): Promise<Report<AuditRecord>> {
  if (options.patientIds.length === 0) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.patientUnresolved, 'no patient id to report on');
  }
  const { range, params, tenantAnd } = base(options);
  params.patients = [...options.patientIds];
  const includeAll = options.includeAllPatientExports ?? true;
  if (includeAll) params.patients = [...options.patientIds, ALL_PATIENTS];
  // One read through the sort key (tenant_id, patient_id, …): the patient's rows and any all-patient export
  // rows (`*`). An export of all patients concerns this patient only in a tenant the patient belongs to; that
  // is settled afterwards, and only when such rows came back (rare), with one more small query. Measured on
  // 10 M rows: ~25 % faster than first looking up the patient's tenants to turn the read into a prefix search
  // (fewer granules, but a second round trip; per-part overhead dominates), several times faster than a
  // `tenant_id IN (subquery)` in the same query.
  let records = await selectRecords(
    client,
    `patient_id IN {patients:Array(String)} AND ${TIME_FILTER}${tenantAnd}`,
    params,
    AUDIT_EVENTS_BY_PATIENT,
  );
  const exportTenants = new Set(records.filter((r) => r.patient_id === ALL_PATIENTS).map((r) => r.tenant_id));
  const seenTenants = new Set(records.filter((r) => r.patient_id !== ALL_PATIENTS).map((r) => r.tenant_id));
  if ([...exportTenants].some((tenant) => !seenTenants.has(tenant))) {
    const patientTenants = new Set(
      (
        await selectRows<{ tenant_id: string }>(
          client,
          `SELECT DISTINCT tenant_id FROM ${AUDIT_EVENTS_BY_PATIENT} WHERE patient_id IN {ids:Array(String)}`,
          { ids: [...options.patientIds] },
        )
      ).map((row) => row.tenant_id),
    );
    records = records.filter((r) => r.patient_id !== ALL_PATIENTS || patientTenants.has(r.tenant_id));
  }
  return {
    name: 'access',
    title: 'Patient access report',
    range,
    tenant: options.tenant,
    parameters: { patientIds: options.patientIds, includeAllPatientExports: includeAll },
    columns: RECORD_VIEW_COLUMNS,
    rows: records,
    records,
  };
}

/** Every access by a user (every patient and resource they touched), oldest first. */
export async function activityReport(
  client: ClickHouseClient,
  options: ActivityReportOptions,
): Promise<Report<AuditRecord>> {
  if (options.userId === '')
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'user id must not be empty');
  const { range, params, tenantAnd } = base(options);
  params.user = options.userId;
  // One read through the by_user projection (tenant_id, user_id, event_time, …). An earlier version added
  // `tenant_id IN (SELECT DISTINCT tenant_id … same user, same range)` to turn it into a prefix search; that
  // filter cannot remove a row (every matching row's tenant is in that set), and on 10 M rows the plain read
  // was as fast or faster (the subquery is a second read of the projection).
  const records = await selectRecords(client, `user_id = {user:String} AND ${TIME_FILTER}${tenantAnd}`, params);
  return {
    name: 'activity',
    title: 'User activity report',
    range,
    tenant: options.tenant,
    parameters: { userId: options.userId },
    columns: RECORD_VIEW_COLUMNS,
    rows: records,
    records,
  };
}

export type AfterHoursRow = AuditRecord & { local_time: string; time_zone: string };

/**
 * Accesses outside each tenant's working time. One branch per configured tenant (its time zone and
 * hours are parameters of `toTimeZone` etc.) plus one for every other tenant with the default hours.
 */
export async function afterHoursReport(
  client: ClickHouseClient,
  options: AfterHoursReportOptions = {},
): Promise<Report<AfterHoursRow>> {
  const { range, params } = base(options);
  const hours = resolveWorkHours(options.workHours);
  const configured = [...hours.tenants.keys()];
  const branches: string[] = [];
  const excludeAnd = params.excludeTenants === undefined ? '' : ' AND tenant_id NOT IN {excludeTenants:Array(String)}';
  const branch = (i: number, tenantWhere: string): string => {
    const local = `toTimeZone(event_time, {tz${i}:String})`;
    return `SELECT ${RECORD_COLUMNS_SQL}, toString(${local}) AS local_time, {tz${i}:String} AS time_zone
      FROM ${AUDIT_EVENTS}
      WHERE ${TIME_FILTER} AND ${tenantWhere}${excludeAnd}
        AND NOT (has({days${i}:Array(UInt8)}, toDayOfWeek(${local})) AND toHour(${local}) >= {start${i}:UInt8} AND toHour(${local}) < {end${i}:UInt8}
          AND NOT has({holidays${i}:Array(String)}, toString(toDate(${local}))))`;
  };
  const addParams = (i: number, tenantHours: ReturnType<typeof workHoursFor>): void => {
    params[`tz${i}`] = tenantHours.timeZone;
    params[`days${i}`] = [...tenantHours.workDays];
    params[`start${i}`] = tenantHours.workHours[0];
    params[`end${i}`] = tenantHours.workHours[1];
    params[`holidays${i}`] = [...(tenantHours.holidays ?? [])];
  };
  if (options.tenant !== undefined && options.tenant !== '') {
    params.tenant = options.tenant;
    addParams(0, workHoursFor(hours, options.tenant));
    branches.push(branch(0, TENANT_FILTER));
  } else {
    configured.forEach((tenant, i) => {
      params[`t${i}`] = tenant;
      addParams(i, workHoursFor(hours, tenant));
      branches.push(branch(i, `tenant_id = {t${i}:String}`));
    });
    const i = configured.length;
    params.configured = configured;
    addParams(i, hours.fallback);
    branches.push(branch(i, 'tenant_id NOT IN {configured:Array(String)}'));
  }
  const rows = await selectRows(
    client,
    `SELECT * FROM (${branches.join('\nUNION ALL\n')}) ORDER BY event_time, event_id ${ONE_ROW_PER_EVENT}`,
    params,
  );
  const out = rows.map((row) => ({
    ...toAuditRecord(row),
    local_time: String(row.local_time),
    time_zone: String(row.time_zone),
  }));
  return {
    name: 'after-hours',
    title: 'Accesses outside working hours',
    range,
    tenant: options.tenant,
    parameters: {
      default: hours.fallback,
      tenants: Object.fromEntries(hours.tenants),
    },
    columns: [col('local_time'), col('time_zone'), ...RECORD_VIEW_COLUMNS],
    rows: out,
    records: out.map(({ local_time: _l, time_zone: _t, ...record }) => record),
  };
}

export type VipRow = AuditRecord & { vip_reason: string };

/** Every access to a patient on the VIP watch list (see vip.ts) in the range. */
export async function vipReport(client: ClickHouseClient, options: ReportOptions = {}): Promise<Report<VipRow>> {
  const { range, params, tenantAnd } = base(options);
  const list = await listVipPatients(client);
  let records: AuditRecord[] = [];
  if (list.length > 0) {
    params.anyTenant = list.filter((entry) => entry.tenant_id === '').map((entry) => entry.patient_id);
    params.vipTenants = list.filter((entry) => entry.tenant_id !== '').map((entry) => entry.tenant_id);
    params.vipPatients = list.filter((entry) => entry.tenant_id !== '').map((entry) => entry.patient_id);
    records = await selectRecords(
      client,
      `(patient_id IN {anyTenant:Array(String)} OR (tenant_id, patient_id) IN arrayZip({vipTenants:Array(String)}, {vipPatients:Array(String)}))
        AND ${TIME_FILTER}${tenantAnd}`,
      params,
    );
  }
  const reasons = new Map(list.map((entry) => [`${entry.tenant_id}\u0000${entry.patient_id}`, entry.reason]));
  const rows = records.map((record) => ({
    ...record,
    vip_reason:
      reasons.get(`${record.tenant_id}\u0000${record.patient_id}`) ?? reasons.get(`\u0000${record.patient_id}`) ?? '',
  }));
  return {
    name: 'vip',
    title: 'Accesses to patients on the VIP watch list',
    range,
    tenant: options.tenant,
    parameters: { watchList: list.length },
    columns: [...RECORD_VIEW_COLUMNS, col('vip_reason')],
    rows,
    records,
  };
}

export interface ExportRow {
  event_time: string;
  tenant_id: string;
  user_id: string;
  client_id: string;
  source_ip: string;
  query: string;
  /** The group of a `Group/{id}/$export` (the middleware records `_group=<id>` in the query), else ''. */
  group_id: string;
  all_patients: boolean;
  patients: number;
  /** Where `patients` came from: the export's own records, the group's imported members, the members an
   *  earlier export of the group disclosed, or '' (none known). */
  patients_source: 'records' | 'import' | 'earlier-export' | '';
  result_count: number;
  outcome: number;
  http_status: number;
  local_time: string;
  large: boolean;
  off_hours: boolean;
  flagged: boolean;
}

/**
 * Every ExportInitiation request (its per-patient records grouped by trace and batch entry), flagged
 * when large (all patients, or ≥ largePatients patients / results) or outside the tenant's working time.
 */
export async function exportsReport(
  client: ClickHouseClient,
  options: ExportsReportOptions = {},
): Promise<Report<ExportRow>> {
  const { range, params, tenantAnd } = base(options);
  const largePatients = positive(options.largePatients ?? REPORT_DEFAULTS.exports.largePatients, 'largePatients', true);
  const hours = resolveWorkHours(options.workHours);
  params.all = ALL_PATIENTS;
  const where = `event_type = 'ExportInitiation' AND ${TIME_FILTER}${tenantAnd}`;
  const rows = await selectRows<Record<string, unknown>>(
    client,
    `SELECT tenant_id, toString(min(event_time)) AS first_time, any(user_id) AS user_id, any(client_id) AS client_id,
        any(source_ip) AS source_ip, any(query) AS query, countIf(patient_id = {all:String}) > 0 AS all_patients,
        uniqExactIf(patient_id, patient_id NOT IN ('', {all:String})) AS patients, max(result_count) AS result_count,
        max(outcome) AS outcome, max(http_status) AS http_status
      FROM ${AUDIT_EVENTS}
      WHERE ${where}
      GROUP BY tenant_id, if(trace_id = '', toString(event_id), concat(trace_id, '/', batch_id, '/', toString(entry_index)))
      ORDER BY first_time, tenant_id`,
    params,
  );
  const members = await groupMembers(
    client,
    rows
      .filter((row) => Number(row.patients) === 0 && !row.all_patients && groupOf(String(row.query)) !== '')
      .map((row) => ({ tenant: String(row.tenant_id), group: groupOf(String(row.query)) })),
  );
  const out: ExportRow[] = rows.map((row) => {
    const eventTime = isoFromClickHouse(String(row.first_time));
    const tenantHours = workHoursFor(hours, String(row.tenant_id));
    const instant = new Date(eventTime);
    const allPatients = Boolean(row.all_patients);
    const groupId = groupOf(String(row.query));
    const own = Number(row.patients);
    const known = own === 0 && !allPatients ? members.get(`${row.tenant_id}\u0000${groupId}`) : undefined;
    const patients = known?.patients ?? own;
    const patientsSource = own > 0 ? 'records' : (known?.source ?? '');
    const resultCount = Number(row.result_count);
    const large = allPatients || patients >= largePatients || resultCount >= largePatients;
    const offHours = !isWithinWorkHours(instant, tenantHours);
    return {
      event_time: eventTime,
      tenant_id: String(row.tenant_id),
      user_id: String(row.user_id),
      client_id: String(row.client_id),
      source_ip: String(row.source_ip),
      query: String(row.query),
      group_id: groupId,
      all_patients: allPatients,
      patients,
      patients_source: patientsSource,
      result_count: resultCount,
      outcome: Number(row.outcome),
      http_status: Number(row.http_status),
      local_time: `${localParts(instant, tenantHours.timeZone).text} ${tenantHours.timeZone}`,
      large,
      off_hours: offHours,
      flagged: large || offHours,
    };
  });
  const records = await selectRecords(client, where, params);
  return {
    name: 'exports',
    title: 'Bulk exports (ExportInitiation)',
    range,
    tenant: options.tenant,
    parameters: { largePatients, default: hours.fallback, tenants: Object.fromEntries(hours.tenants) },
    columns: [
      col('event_time'),
      col('local_time'),
      col('tenant_id'),
      col('user_id'),
      col('client_id'),
      col('group_id'),
      col('all_patients'),
      col('patients'),
      col('patients_source'),
      col('result_count'),
      col('http_status'),
      col('large'),
      col('off_hours'),
      col('flagged'),
    ],
    rows: out,
    records,
  };
}

/** The group id of a group export's query (`_group=<id>&…`, written by the middleware), '' otherwise. */
export function groupOf(query: string): string {
  const match = /(?:^|&)_group=([^&]*)/.exec(query.replace(/^\?/, ''));
  if (match === null) return '';
  try {
    return decodeURIComponent(match[1] ?? '');
  } catch {
    return match[1] ?? '';
  }
}

/**
 * Members of the given groups: imported ones (`audit_group_members`) first; otherwise the patients an
 * earlier (or later) export of the same group disclosed in its records (what the export response named).
 */
async function groupMembers(
  client: ClickHouseClient,
  groups: { tenant: string; group: string }[],
): Promise<Map<string, { patients: number; source: 'import' | 'earlier-export' }>> {
  const out = new Map<string, { patients: number; source: 'import' | 'earlier-export' }>();
  if (groups.length === 0) return out;
  const params = { tenants: groups.map((g) => g.tenant), groups: groups.map((g) => g.group), all: ALL_PATIENTS };
  const rows = await readWithTables(client, [groupMembersTable], () =>
    selectRows<{ tenant_id: string; group_id: string; source: string; patients: string }>(
      client,
      `SELECT tenant_id, group_id, source, uniqExact(patient_id) AS patients FROM (
        SELECT tenant_id, group_id, 'import' AS source, patient_id FROM ${GROUP_MEMBERS_TABLE}
        WHERE (tenant_id, group_id) IN arrayZip({tenants:Array(String)}, {groups:Array(String)})
        UNION ALL
        SELECT tenant_id, decodeURLComponent(extractURLParameter(concat('?', replaceRegexpOne(query, '^\\?', '')), '_group')) AS group_id,
          'earlier-export' AS source, patient_id
        FROM ${AUDIT_EVENTS}
        WHERE event_type = 'ExportInitiation' AND tenant_id IN {tenants:Array(String)} AND position(query, '_group=') > 0
          AND patient_id NOT IN ('', {all:String})
      )
      WHERE (tenant_id, group_id) IN arrayZip({tenants:Array(String)}, {groups:Array(String)})
      GROUP BY tenant_id, group_id, source`,
      params,
    ),
  );
  for (const row of rows) {
    const key = `${row.tenant_id}\u0000${row.group_id}`;
    if (row.source === 'earlier-export' && out.has(key)) continue;
    out.set(key, { patients: Number(row.patients), source: row.source === 'import' ? 'import' : 'earlier-export' });
  }
  return out;
}

export interface FailureRow {
  tenant_id: string;
  client_id: string;
  category: 'denied' | 'failed';
  http_status: number;
  outcome: number;
  events: number;
  users: number;
  first_seen: string;
  last_seen: string;
}

/** Denied (401/403) and failed (any other non-success outcome) accesses by tenant and client. */
export async function failuresReport(
  client: ClickHouseClient,
  options: FailuresReportOptions = {},
): Promise<Report<FailureRow>> {
  const { range, params, tenantAnd } = base(options);
  params.minEvents = positive(options.minEvents ?? REPORT_DEFAULTS.failures.minEvents, 'minEvents', true);
  const rows = await selectRows<Record<string, unknown>>(
    client,
    `SELECT tenant_id, client_id, if(http_status IN (401, 403), 'denied', 'failed') AS category, http_status, outcome,
        uniqExact(event_id) AS events, uniqExactIf(user_id, user_id != '') AS users,
        toString(min(event_time)) AS first_seen, toString(max(event_time)) AS last_seen
      FROM ${AUDIT_EVENTS}
      WHERE outcome != 0 AND ${TIME_FILTER}${tenantAnd}
      GROUP BY tenant_id, client_id, category, http_status, outcome
      HAVING events >= {minEvents:UInt32}
      ORDER BY tenant_id, client_id, category, http_status, outcome`,
    params,
  );
  const out: FailureRow[] = rows.map((row) => ({
    tenant_id: String(row.tenant_id),
    client_id: String(row.client_id),
    category: row.category === 'denied' ? 'denied' : 'failed',
    http_status: Number(row.http_status),
    outcome: Number(row.outcome),
    events: Number(row.events),
    users: Number(row.users),
    first_seen: isoFromClickHouse(String(row.first_seen)),
    last_seen: isoFromClickHouse(String(row.last_seen)),
  }));
  return {
    name: 'failures',
    title: 'Denied and failed accesses by tenant and client',
    range,
    tenant: options.tenant,
    parameters: { minEvents: params.minEvents },
    columns: [
      col('tenant_id'),
      col('client_id'),
      col('category'),
      col('http_status'),
      col('outcome'),
      col('events'),
      col('users'),
      col('first_seen'),
      col('last_seen'),
    ],
    rows: out,
  };
}

/** Records whose token tenant differs from the tenant of the provider the request was routed to. */
export async function tenantIsolationReport(
  client: ClickHouseClient,
  options: TenantIsolationReportOptions = {},
): Promise<Report<AuditRecord>> {
  const { range, params } = base(options);
  // --tenant matches either side of the breach.
  const tenantAnd =
    params.tenant === undefined ? '' : ' AND (tenant_id = {tenant:String} OR routed_tenant_id = {tenant:String})';
  const records = await selectRecords(
    client,
    `routed_tenant_id != '' AND routed_tenant_id != tenant_id AND ${TIME_FILTER}${tenantAnd}`,
    params,
  );
  return {
    name: 'tenant-isolation',
    title: 'Token tenant differs from routed tenant',
    range,
    tenant: options.tenant,
    parameters: {},
    columns: [
      col('event_time'),
      col('tenant_id'),
      col('routed_tenant_id'),
      col('client_id'),
      col('user_id'),
      col('event_type'),
      col('patient_id'),
      col('http_status'),
      col('trace_id'),
      col('event_id'),
    ],
    rows: records,
    records,
  };
}

export interface SummaryRow {
  day: string;
  tenant_id: string;
  event_type: string;
  events: number;
  patients: number;
  failures: number;
}

/** Events per type per (UTC) day per tenant, with distinct patients and failures. */
export async function summaryReport(
  client: ClickHouseClient,
  options: SummaryReportOptions = {},
): Promise<Report<SummaryRow>> {
  const { range, params, tenantAnd } = base(options);
  params.all = ALL_PATIENTS;
  const timeZone = workHoursFor(resolveWorkHours(options.workHours), options.tenant ?? '').timeZone;
  params.tz = timeZone;
  const rows = await selectRows<Record<string, unknown>>(
    client,
    `SELECT toString(toDate(event_time, {tz:String})) AS day, tenant_id, event_type, uniqExact(event_id) AS events,
        uniqExactIf(patient_id, patient_id NOT IN ('', {all:String})) AS patients,
        uniqExactIf(event_id, outcome != 0) AS failures
      FROM ${AUDIT_EVENTS}
      WHERE ${TIME_FILTER}${tenantAnd}
      GROUP BY day, tenant_id, event_type
      ORDER BY day, tenant_id, event_type`,
    params,
  );
  const out: SummaryRow[] = rows.map((row) => ({
    day: String(row.day),
    tenant_id: String(row.tenant_id),
    event_type: String(row.event_type),
    events: Number(row.events),
    patients: Number(row.patients),
    failures: Number(row.failures),
  }));
  return {
    name: 'summary',
    title: 'Events per type per day per tenant',
    range,
    tenant: options.tenant,
    parameters: { timeZone },
    columns: [col('day'), col('tenant_id'), col('event_type'), col('events'), col('patients'), col('failures')],
    rows: out,
  };
}
