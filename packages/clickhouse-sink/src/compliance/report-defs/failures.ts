/** `failures`: denied (401/403) and failed (any other non-success outcome) accesses by tenant, client and status. */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_EVENTS, principalOf, selectRows } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { base, col, ONE_TENANT, positive, TIME_FILTER } from '../reports.ts';
import { isoFromClickHouse } from '../time-range.ts';
import type { FailuresReportOptions, Report } from '../types.ts';

/** Default threshold (an option and a tenant setting). */
export const FAILURES_DEFAULTS = { minEvents: 1 } as const;

const TITLE = 'Denied and failed accesses by tenant and client';

function failuresSql(tenantAnd: string): string {
  return `SELECT tenant_id, client_id, if(http_status IN (401, 403), 'denied', 'failed') AS category, http_status, outcome,
        uniqExact(event_id) AS events, uniqExactIf(user_id, user_id != '') AS users,
        arraySort(groupUniqArrayIf(user_id, user_id != '')) AS user_ids,
        toString(min(event_time)) AS first_seen, toString(max(event_time)) AS last_seen
      FROM ${AUDIT_EVENTS}
      WHERE outcome != 0 AND ${TIME_FILTER}${tenantAnd}
      GROUP BY tenant_id, client_id, category, http_status, outcome
      HAVING events >= {minEvents:UInt32}
      ORDER BY tenant_id, client_id, category, http_status, outcome`;
}

const FAILURES_COLUMNS = [
  'tenant_id',
  'client_id',
  'category',
  'http_status',
  'outcome',
  'events',
  'users',
  'user_ids',
  'first_seen',
  'last_seen',
].map((key) => col(key));

export interface FailureRow {
  tenant_id: string;
  client_id: string;
  category: 'denied' | 'failed';
  http_status: number;
  outcome: number;
  events: number;
  users: number;
  /** The users of the group's records (sorted; empty when the trail names none). */
  user_ids: string[];
  first_seen: string;
  last_seen: string;
}

/** Denied (401/403) and failed (any other non-success outcome) accesses by tenant and client. */
export async function failuresReport(
  client: ClickHouseClient,
  options: FailuresReportOptions = {},
): Promise<Report<FailureRow>> {
  const { range, params, tenantAnd } = base(options);
  params.minEvents = positive(options.minEvents ?? FAILURES_DEFAULTS.minEvents, 'minEvents', true);
  const rows = await selectRows<Record<string, unknown>>(client, failuresSql(tenantAnd), params);
  const out: FailureRow[] = rows.map((row) => ({
    tenant_id: String(row.tenant_id),
    client_id: String(row.client_id),
    category: row.category === 'denied' ? 'denied' : 'failed',
    http_status: Number(row.http_status),
    outcome: Number(row.outcome),
    events: Number(row.events),
    users: Number(row.users),
    user_ids: (row.user_ids as unknown[]).map(String),
    first_seen: isoFromClickHouse(String(row.first_seen)),
    last_seen: isoFromClickHouse(String(row.last_seen)),
  }));
  return {
    name: 'failures',
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: { minEvents: params.minEvents },
    columns: FAILURES_COLUMNS,
    rows: out,
  };
}

export const failuresReportDef: ReportDef<FailureRow> = {
  name: 'failures',
  title: TITLE,
  summary: 'denied (401/403) and failed accesses by tenant, client and status',
  recordLevel: false,
  tenantSettings: true,
  options: [
    {
      name: 'minEvents',
      flag: 'min-events',
      type: 'integer',
      default: FAILURES_DEFAULTS.minEvents,
      help: 'only groups with at least this many events',
      tenantSetting: true,
    },
  ],
  columns: FAILURES_COLUMNS,
  orderBy: ['tenant_id', 'client_id', 'category', 'http_status', 'outcome'],
  sql: failuresSql(ONE_TENANT),
  flags: (row) => (row.user_ids.length > 0 ? row.user_ids : [principalOf(row)]),
  run: (client, options) => failuresReport(client, options),
};
