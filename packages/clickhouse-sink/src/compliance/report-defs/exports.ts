/** `exports`: every bulk export request, flagged when large or off hours (implementation in ../reports.ts). */

import { AUDIT_EVENTS } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { col, type ExportRow, exportsReport, REPORT_DEFAULTS, TIME_FILTER } from '../reports.ts';

export const exportsReportDef: ReportDef<ExportRow> = {
  name: 'exports',
  title: 'Bulk exports (ExportInitiation)',
  summary: 'every bulk export request, flagged when large (all patients or many) or outside working time',
  recordLevel: true,
  tenantSettings: true,
  options: [
    {
      name: 'largePatients',
      flag: 'large-patients',
      type: 'integer',
      default: REPORT_DEFAULTS.exports.largePatients,
      help: 'an export is large from this many patients (or results) on',
      tenantSetting: true,
    },
  ],
  columns: [
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
  ].map((key) => col(key)),
  orderBy: ['event_time', 'tenant_id'],
  sql: `SELECT tenant_id, min(event_time) AS first_time, any(user_id) AS user_id, any(client_id) AS client_id, any(query) AS query,
    countIf(patient_id = {all:String}) > 0 AS all_patients, uniqExactIf(patient_id, patient_id NOT IN ('', {all:String})) AS patients,
    max(result_count) AS result_count, max(outcome) AS outcome, max(http_status) AS http_status
  FROM ${AUDIT_EVENTS} WHERE event_type = 'ExportInitiation' AND ${TIME_FILTER} AND tenant_id = {tenant:String}
  GROUP BY tenant_id, if(trace_id = '', toString(event_id), concat(trace_id, '/', batch_id, '/', toString(entry_index)))
  ORDER BY first_time, tenant_id`,
  run: (client, options) => exportsReport(client, options),
};
