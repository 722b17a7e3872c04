/** `vip`: every access to a patient on the VIP watch list (the list: ../vip.ts) in the range. */
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { principalOf } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import {
  base,
  col,
  ONE_TENANT,
  RECORD_VIEW_COLUMNS,
  recordsSql,
  selectRecords,
  TIME_FILTER,
  withRecordFields,
} from '../reports.ts';
import type { Report, ReportOptions } from '../types.ts';
import { listVipPatients } from '../vip.ts';

const TITLE = 'Accesses to patients on the VIP watch list';

/** Watch-list entries for any tenant (`anyTenant`) or for one (`vipTenants`/`vipPatients` pairs). */
function vipWhere(tenantAnd: string): string {
  return `(patient_id IN {anyTenant:Array(String)} OR (tenant_id, patient_id) IN arrayZip({vipTenants:Array(String)}, {vipPatients:Array(String)}))
        AND ${TIME_FILTER}${tenantAnd}`;
}

const VIP_COLUMNS = [...RECORD_VIEW_COLUMNS, col('vip_reason')];

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
    records = await selectRecords(client, vipWhere(tenantAnd), params);
  }
  const reasons = new Map(list.map((entry) => [`${entry.tenant_id}\u0000${entry.patient_id}`, entry.reason]));
  const rows = records.map((record) => ({
    ...record,
    vip_reason:
      reasons.get(`${record.tenant_id}\u0000${record.patient_id}`) ?? reasons.get(`\u0000${record.patient_id}`) ?? '',
  }));
  return {
    name: 'vip',
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: { watchList: list.length },
    columns: VIP_COLUMNS,
    rows,
    records,
  };
}

export const vipReportDef: ReportDef<VipRow> = {
  name: 'vip',
  title: TITLE,
  summary: 'every access to a patient on the VIP watch list (fhirwatch audit vip add|remove|list)',
  recordLevel: true,
  tenantSettings: false,
  options: [],
  columns: VIP_COLUMNS,
  csvColumns: withRecordFields(VIP_COLUMNS),
  orderBy: ['event_time', 'event_id'],
  sql: recordsSql(vipWhere(ONE_TENANT)),
  flags: (row) => [principalOf(row)],
  run: (client, options) => vipReport(client, options),
};
