/** `failures`: denied and failed accesses by tenant and client (implementation in ../reports.ts). */

import { AUDIT_EVENTS } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { col, type FailureRow, failuresReport, TIME_FILTER } from '../reports.ts';

export const failuresReportDef: ReportDef<FailureRow> = {
  name: 'failures',
  title: 'Denied and failed accesses by tenant and client',
  summary: 'denied (401/403) and failed accesses by tenant, client and status',
  recordLevel: false,
  tenantSettings: true,
  options: [
    {
      name: 'minEvents',
      flag: 'min-events',
      type: 'integer',
      default: 1,
      help: 'only groups with at least this many events',
      tenantSetting: true,
    },
  ],
  columns: [
    'tenant_id',
    'client_id',
    'category',
    'http_status',
    'outcome',
    'events',
    'users',
    'first_seen',
    'last_seen',
  ].map((key) => col(key)),
  orderBy: ['tenant_id', 'client_id', 'category', 'http_status', 'outcome'],
  sql: `SELECT tenant_id, client_id, if(http_status IN (401, 403), 'denied', 'failed') AS category, http_status, outcome,
    uniqExact(event_id) AS events, uniqExactIf(user_id, user_id != '') AS users, min(event_time) AS first_seen, max(event_time) AS last_seen
  FROM ${AUDIT_EVENTS} WHERE outcome != 0 AND ${TIME_FILTER} AND tenant_id = {tenant:String}
  GROUP BY tenant_id, client_id, category, http_status, outcome HAVING events >= {minEvents:UInt32}`,
  run: (client, options) => failuresReport(client, options),
};
