/** `summary`: events per type per day per tenant (implementation in ../reports.ts). */

import { AUDIT_EVENTS } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { col, type SummaryRow, summaryReport, TIME_FILTER } from '../reports.ts';

export const summaryReportDef: ReportDef<SummaryRow> = {
  name: 'summary',
  title: 'Events per type per day per tenant',
  summary: 'events, distinct patients and failures per event type per day per tenant',
  recordLevel: false,
  tenantSettings: false,
  options: [],
  columns: [col('day'), col('tenant_id'), col('event_type'), col('events'), col('patients'), col('failures')],
  orderBy: ['day', 'tenant_id', 'event_type'],
  sql: `SELECT toDate(event_time) AS day, tenant_id, event_type, uniqExact(event_id) AS events,
    uniqExactIf(patient_id, patient_id NOT IN ('', {all:String})) AS patients, uniqExactIf(event_id, outcome != 0) AS failures
  FROM ${AUDIT_EVENTS} WHERE ${TIME_FILTER} AND tenant_id = {tenant:String}
  GROUP BY day, tenant_id, event_type ORDER BY day, tenant_id, event_type`,
  run: (client, options) => summaryReport(client, options),
};
