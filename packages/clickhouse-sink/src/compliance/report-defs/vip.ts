/** `vip`: every access to a patient on the VIP watch list (implementation in ../reports.ts, list in ../vip.ts). */

import { AUDIT_EVENTS, RECORD_COLUMNS_SQL } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { col, RECORD_VIEW_COLUMNS, TIME_FILTER, type VipRow, vipReport, withRecordFields } from '../reports.ts';

export const vipReportDef: ReportDef<VipRow> = {
  name: 'vip',
  title: 'Accesses to patients on the VIP watch list',
  summary: 'every access to a patient on the VIP watch list (fhirwatch audit vip add|remove|list)',
  recordLevel: true,
  tenantSettings: false,
  options: [],
  columns: [...RECORD_VIEW_COLUMNS, col('vip_reason')],
  csvColumns: withRecordFields([...RECORD_VIEW_COLUMNS, col('vip_reason')]),
  orderBy: ['event_time', 'event_id'],
  sql: `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_EVENTS}
  WHERE (patient_id IN {anyTenant:Array(String)} OR (tenant_id, patient_id) IN arrayZip({vipTenants:Array(String)}, {vipPatients:Array(String)}))
    AND ${TIME_FILTER} ORDER BY event_time, event_id`,
  run: (client, options) => vipReport(client, options),
};
