/**
 * `exports`: every ExportInitiation request (its per-patient records grouped by trace and batch entry), flagged
 * when large (all patients, or ≥ largePatients patients / results) or outside the tenant's working time.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS } from '@fhirwatch/contract';
import { readWithTables } from '../../store/ensure.ts';
import { GROUP_MEMBERS_TABLE, groupMembersTable } from '../../store/schema/audit-context.ts';
import { AUDIT_EVENTS, principalOf, selectRows } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { base, col, ONE_TENANT, positive, selectRecords, TIME_FILTER } from '../reports.ts';
import { isoFromClickHouse } from '../time-range.ts';
import type { ExportsReportOptions, Report } from '../types.ts';
import { isWithinWorkHours, localParts, resolveWorkHours, workHoursFor } from '../work-hours.ts';

/** Default threshold (documented in the package README; an option and a tenant setting). */
export const EXPORTS_DEFAULTS = { largePatients: 1000 } as const;

const TITLE = 'Bulk exports (ExportInitiation)';

function exportsWhere(tenantAnd: string): string {
  return `event_type = 'ExportInitiation' AND ${TIME_FILTER}${tenantAnd}`;
}

/** One row per export request (trace, batch, entry), with its patients and outcome. */
function exportsSql(where: string): string {
  return `SELECT tenant_id, toString(min(event_time)) AS first_time, any(user_id) AS user_id, any(client_id) AS client_id,
        any(source_ip) AS source_ip, any(query) AS query, countIf(patient_id = {all:String}) > 0 AS all_patients,
        uniqExactIf(patient_id, patient_id NOT IN ('', {all:String})) AS patients, max(result_count) AS result_count,
        max(outcome) AS outcome, max(http_status) AS http_status
      FROM ${AUDIT_EVENTS}
      WHERE ${where}
      GROUP BY tenant_id, if(trace_id = '', toString(event_id), concat(trace_id, '/', batch_id, '/', toString(entry_index)))
      ORDER BY first_time, tenant_id`;
}

const EXPORTS_COLUMNS = [
  'event_time',
  'local_time',
  'tenant_id',
  'user_id',
  'client_id',
  'group_id',
  'all_patients',
  'patients',
  'patients_source',
  'result_count',
  'http_status',
  'large',
  'off_hours',
  'flagged',
].map((key) => col(key));

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
  const largePatients = positive(options.largePatients ?? EXPORTS_DEFAULTS.largePatients, 'largePatients', true);
  const hours = resolveWorkHours(options.workHours);
  params.all = ALL_PATIENTS;
  const where = exportsWhere(tenantAnd);
  const rows = await selectRows<Record<string, unknown>>(client, exportsSql(where), params);
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
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: { largePatients, default: hours.fallback, tenants: Object.fromEntries(hours.tenants) },
    columns: EXPORTS_COLUMNS,
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

export const exportsReportDef: ReportDef<ExportRow> = {
  name: 'exports',
  title: TITLE,
  summary: 'every bulk export request, flagged when large (all patients or many) or outside working time',
  recordLevel: true,
  tenantSettings: true,
  options: [
    {
      name: 'largePatients',
      flag: 'large-patients',
      type: 'integer',
      default: EXPORTS_DEFAULTS.largePatients,
      help: 'an export is large from this many patients (or results) on',
      tenantSetting: true,
    },
  ],
  columns: EXPORTS_COLUMNS,
  orderBy: ['event_time', 'tenant_id'],
  sql: exportsSql(exportsWhere(ONE_TENANT)),
  flags: (row) => (row.flagged ? [principalOf(row)] : []),
  run: (client, options) => exportsReport(client, options),
};
