/** `tenant-isolation`: records whose token tenant differs from the routed tenant (implementation in ../reports.ts). */
import type { AuditRecord } from '@fhirwatch/contract';
import { AUDIT_EVENTS, RECORD_COLUMNS_SQL } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { col, TIME_FILTER, tenantIsolationReport, withRecordFields } from '../reports.ts';

const TENANT_ISOLATION_COLUMNS = [
  'event_time',
  'tenant_id',
  'routed_tenant_id',
  'client_id',
  'user_id',
  'event_type',
  'patient_id',
  'http_status',
  'trace_id',
  'event_id',
].map((key) => col(key));

export const tenantIsolationReportDef: ReportDef<AuditRecord> = {
  name: 'tenant-isolation',
  title: 'Token tenant differs from routed tenant',
  summary: 'records whose token tenant differs from the tenant the request was routed to (--tenant: either side)',
  recordLevel: true,
  tenantSettings: false,
  options: [],
  columns: TENANT_ISOLATION_COLUMNS,
  csvColumns: withRecordFields(TENANT_ISOLATION_COLUMNS),
  orderBy: ['event_time', 'event_id'],
  sql: `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_EVENTS}
  WHERE routed_tenant_id != '' AND routed_tenant_id != tenant_id AND ${TIME_FILTER}
    AND (tenant_id = {tenant:String} OR routed_tenant_id = {tenant:String}) ORDER BY event_time, event_id`,
  run: (client, options) => tenantIsolationReport(client, options),
};
