/** `tenant-isolation`: records whose token tenant differs from the tenant of the provider the request was routed to. */
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { principalOf } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { base, col, recordsSql, selectRecords, TIME_FILTER, withRecordFields } from '../reports.ts';
import type { Report, TenantIsolationReportOptions } from '../types.ts';

const TITLE = 'Token tenant differs from routed tenant';

/** `--tenant` matches either side of the breach. */
const EITHER_SIDE = ' AND (tenant_id = {tenant:String} OR routed_tenant_id = {tenant:String})';

function isolationWhere(tenantAnd: string): string {
  return `routed_tenant_id != '' AND routed_tenant_id != tenant_id AND ${TIME_FILTER}${tenantAnd}`;
}

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

/** Records whose token tenant differs from the tenant of the provider the request was routed to. */
export async function tenantIsolationReport(
  client: ClickHouseClient,
  options: TenantIsolationReportOptions = {},
): Promise<Report<AuditRecord>> {
  const { range, params } = base(options);
  // --tenant matches either side of the breach.
  const tenantAnd = params.tenant === undefined ? '' : EITHER_SIDE;
  const records = await selectRecords(client, isolationWhere(tenantAnd), params);
  return {
    name: 'tenant-isolation',
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: {},
    columns: TENANT_ISOLATION_COLUMNS,
    rows: records,
    records,
  };
}

export const tenantIsolationReportDef: ReportDef<AuditRecord> = {
  name: 'tenant-isolation',
  title: TITLE,
  summary: 'records whose token tenant differs from the tenant the request was routed to (--tenant: either side)',
  recordLevel: true,
  tenantSettings: false,
  options: [],
  columns: TENANT_ISOLATION_COLUMNS,
  csvColumns: withRecordFields(TENANT_ISOLATION_COLUMNS),
  orderBy: ['event_time', 'event_id'],
  sql: recordsSql(isolationWhere(EITHER_SIDE)),
  flags: (row) => [principalOf(row)],
  run: (client, options) => tenantIsolationReport(client, options),
};
