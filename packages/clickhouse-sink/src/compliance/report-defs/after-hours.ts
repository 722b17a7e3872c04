/** `after-hours`: accesses outside the tenant's working time (implementation in ../reports.ts). */

import { AUDIT_EVENTS, RECORD_COLUMNS_SQL } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import {
  type AfterHoursRow,
  afterHoursReport,
  col,
  RECORD_VIEW_COLUMNS,
  TIME_FILTER,
  withRecordFields,
} from '../reports.ts';

export const afterHoursReportDef: ReportDef<AfterHoursRow> = {
  name: 'after-hours',
  title: 'Accesses outside working hours',
  summary: "accesses outside the tenant's working hours, days and holidays, in its time zone",
  recordLevel: true,
  tenantSettings: true,
  options: [],
  columns: [col('local_time'), col('time_zone'), ...RECORD_VIEW_COLUMNS],
  csvColumns: withRecordFields([col('local_time'), col('time_zone'), ...RECORD_VIEW_COLUMNS]),
  orderBy: ['event_time', 'event_id'],
  sql: `SELECT ${RECORD_COLUMNS_SQL}, toString(toTimeZone(event_time, {tz:String})) AS local_time
  FROM ${AUDIT_EVENTS}
  WHERE ${TIME_FILTER} AND tenant_id = {tenant:String}
    AND NOT (has({days:Array(UInt8)}, toDayOfWeek(toTimeZone(event_time, {tz:String})))
      AND toHour(toTimeZone(event_time, {tz:String})) >= {start:UInt8} AND toHour(toTimeZone(event_time, {tz:String})) < {end:UInt8}
      AND NOT has({holidays:Array(String)}, toString(toDate(toTimeZone(event_time, {tz:String})))))
  ORDER BY event_time, event_id LIMIT 1 BY event_id`,
  run: (client, options) => afterHoursReport(client, options),
};
