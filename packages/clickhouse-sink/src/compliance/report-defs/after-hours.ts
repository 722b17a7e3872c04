/**
 * `after-hours`: accesses outside each tenant's working time (its time zone, hours, days and holidays). One branch
 * per configured tenant (its time zone and hours are parameters of `toTimeZone` etc.) plus one for every other
 * tenant with the default hours.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import {
  AUDIT_EVENTS,
  ONE_ROW_PER_EVENT,
  principalOf,
  RECORD_COLUMNS_SQL,
  selectRows,
  toAuditRecord,
} from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { base, col, RECORD_VIEW_COLUMNS, TENANT_FILTER, TIME_FILTER, withRecordFields } from '../reports.ts';
import type { AfterHoursReportOptions, Report } from '../types.ts';
import { resolveWorkHours, workHoursFor } from '../work-hours.ts';

const TITLE = 'Accesses outside working hours';

/** One tenant's (or the other tenants') branch: its time zone, days, hours and holidays are parameters `…${i}`. */
function afterHoursBranch(i: number, tenantWhere: string, excludeAnd: string): string {
  const local = `toTimeZone(event_time, {tz${i}:String})`;
  return `SELECT ${RECORD_COLUMNS_SQL}, toString(${local}) AS local_time, {tz${i}:String} AS time_zone
      FROM ${AUDIT_EVENTS}
      WHERE ${TIME_FILTER} AND ${tenantWhere}${excludeAnd}
        AND NOT (has({days${i}:Array(UInt8)}, toDayOfWeek(${local})) AND toHour(${local}) >= {start${i}:UInt8} AND toHour(${local}) < {end${i}:UInt8}
          AND NOT has({holidays${i}:Array(String)}, toString(toDate(${local}))))`;
}

function afterHoursSql(branches: readonly string[]): string {
  return `SELECT * FROM (${branches.join('\nUNION ALL\n')}) ORDER BY event_time, event_id ${ONE_ROW_PER_EVENT}`;
}

const AFTER_HOURS_COLUMNS = [col('local_time'), col('time_zone'), ...RECORD_VIEW_COLUMNS];

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
  const branch = (i: number, tenantWhere: string): string => afterHoursBranch(i, tenantWhere, excludeAnd);
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
  const rows = await selectRows(client, afterHoursSql(branches), params);
  const out = rows.map((row) => ({
    ...toAuditRecord(row),
    local_time: String(row.local_time),
    time_zone: String(row.time_zone),
  }));
  return {
    name: 'after-hours',
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: {
      default: hours.fallback,
      tenants: Object.fromEntries(hours.tenants),
    },
    columns: AFTER_HOURS_COLUMNS,
    rows: out,
    records: out.map(({ local_time: _l, time_zone: _t, ...record }) => record),
  };
}

export const afterHoursReportDef: ReportDef<AfterHoursRow> = {
  name: 'after-hours',
  title: TITLE,
  summary: "accesses outside the tenant's working hours, days and holidays, in its time zone",
  recordLevel: true,
  tenantSettings: true,
  options: [],
  columns: AFTER_HOURS_COLUMNS,
  csvColumns: withRecordFields(AFTER_HOURS_COLUMNS),
  orderBy: ['event_time', 'event_id'],
  sql: afterHoursSql([afterHoursBranch(0, TENANT_FILTER, '')]),
  flags: (row) => [principalOf(row)],
  run: (client, options) => afterHoursReport(client, options),
};
