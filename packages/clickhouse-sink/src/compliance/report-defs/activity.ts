/** `activity`: every access by one user (implementation in ../reports.ts). */
import type { AuditRecord } from '@fhirwatch/contract';
import { AUDIT_EVENTS, RECORD_COLUMNS_SQL } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { activityReport, RECORD_VIEW_COLUMNS, TIME_FILTER, withRecordFields } from '../reports.ts';
import type { ActivityReportOptions } from '../types.ts';

export const activityReportDef: ReportDef<AuditRecord> = {
  name: 'activity',
  title: 'User activity report',
  summary: 'every patient and resource a user touched',
  recordLevel: true,
  tenantSettings: false,
  options: [{ name: 'userId', flag: 'user', type: 'string', required: true, help: 'user id (user_id)' }],
  columns: RECORD_VIEW_COLUMNS,
  csvColumns: withRecordFields(RECORD_VIEW_COLUMNS),
  orderBy: ['event_time', 'event_id'],
  sql: `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_EVENTS} WHERE user_id = {user:String} AND ${TIME_FILTER} AND tenant_id = {tenant:String} ORDER BY event_time, event_id`,
  run: (client, options) => activityReport(client, options as unknown as ActivityReportOptions),
};
