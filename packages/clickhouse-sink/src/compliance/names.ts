/**
 * Names next to ids: every report run through the registry gets `tenant_name` beside `tenant_id` (the tenant's
 * display name from its stored settings, `fhirwatch audit settings set --tenant <id> --tenant-name <name>`) and
 * `user_name` beside the user (the latest name the trail gives for that user id) when the report has no name column
 * of its own; the columns and the CSV columns say so. And when the records of the range carry no clinician identity
 * (the gateway's `audit.userIdentity: none`), a note says that the user-grouped reports group by client and tenant.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_EVENTS, selectRows } from './records.ts';
import { listTenantSettings } from './settings.ts';
import { chDateTime } from './time-range.ts';
import type { Report, ReportColumn } from './types.ts';

/** Each tenant's display name from its stored settings (tenants without one are left out). */
export async function tenantDisplayNames(client: ClickHouseClient): Promise<Map<string, string>> {
  const stored = await listTenantSettings(client);
  return new Map(
    stored
      .filter((entry) => typeof entry.settings.displayName === 'string' && entry.settings.displayName !== '')
      .map((entry) => [entry.tenant_id, entry.settings.displayName as string]),
  );
}

/** The latest user_name the trail records for each of these user ids (in the range; '' ids and none skipped). */
export async function userDisplayNames(
  client: ClickHouseClient,
  userIds: readonly string[],
  range: { from: Date; to: Date },
): Promise<Map<string, string>> {
  const ids = [...new Set(userIds.filter((id) => id !== '' && !id.startsWith('client:')))];
  if (ids.length === 0) return new Map();
  const rows = await selectRows<{ user_id: string; latest_name: string }>(
    client,
    `SELECT user_id, argMax(user_name, event_time) AS latest_name FROM ${AUDIT_EVENTS}
      WHERE user_id IN {ids:Array(String)} AND user_name != ''
        AND event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}
      GROUP BY user_id`,
    { ids, from: chDateTime(range.from), to: chDateTime(range.to) },
  );
  return new Map(rows.map((row) => [row.user_id, row.latest_name]));
}

/** Whether the range's records name any user; undefined when the range holds no record at all. */
export async function trailHasUsers(
  client: ClickHouseClient,
  range: { from: Date; to: Date },
  tenant?: string,
): Promise<boolean | undefined> {
  const [row] = await selectRows<{ records: string; with_user: string }>(
    client,
    `SELECT count() AS records, countIf(user_id != '') AS with_user FROM ${AUDIT_EVENTS}
      WHERE event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}${
        tenant === undefined ? '' : ' AND tenant_id = {tenant:String}'
      }`,
    { from: chDateTime(range.from), to: chDateTime(range.to), ...(tenant === undefined ? {} : { tenant }) },
  );
  if (row === undefined || Number(row.records) === 0) return undefined;
  return Number(row.with_user) > 0;
}

export const NO_IDENTITY_NOTE =
  'The trail has no clinician identity in this range (the gateway runs with audit.userIdentity: none: the Patients app authenticates as an application, so the partner never learns which clinician asked). Rows group by client and tenant (client:<id>) instead of by user; see the README, "Who is the user".';

function insertAfter(columns: readonly ReportColumn[], after: string, column: ReportColumn): ReportColumn[] {
  if (columns.some((c) => c.key === column.key)) return [...columns];
  const i = columns.findIndex((c) => c.key === after);
  return i < 0 ? [...columns] : [...columns.slice(0, i + 1), column, ...columns.slice(i + 1)];
}

/**
 * The report with `tenant_name` after `tenant_id` and, where the report names users (`user_id` or `principal`) but
 * has no `user_name`, `user_name` after it: in its rows, request rows, columns and CSV columns.
 */
export async function withNames(client: ClickHouseClient, report: Report<object>): Promise<Report<object>> {
  const keys = new Set(report.columns.map((c) => c.key));
  const hasTenant = keys.has('tenant_id');
  const userKey = keys.has('user_id') ? 'user_id' : keys.has('principal') ? 'principal' : undefined;
  const addUser = userKey !== undefined && !keys.has('user_name');
  if (!hasTenant && !addUser) return report;
  const rows = report.rows as Record<string, unknown>[];
  const tenants = hasTenant ? await tenantDisplayNames(client) : new Map<string, string>();
  const users =
    addUser && report.range !== undefined
      ? await userDisplayNames(
          client,
          rows.map((row) => String(row[userKey] ?? '')),
          report.range,
        )
      : new Map<string, string>();
  const named = (row: Record<string, unknown>): Record<string, unknown> => ({
    ...row,
    ...(hasTenant ? { tenant_name: tenants.get(String(row.tenant_id ?? '')) ?? '' } : {}),
    ...(addUser ? { user_name: users.get(String(row[userKey] ?? '')) ?? '' } : {}),
  });
  const decorate = (columns: readonly ReportColumn[]): ReportColumn[] => {
    let out = hasTenant
      ? insertAfter(columns, 'tenant_id', { key: 'tenant_name', header: 'tenant_name' })
      : [...columns];
    if (addUser) out = insertAfter(out, userKey, { key: 'user_name', header: 'user_name' });
    return out;
  };
  return {
    ...report,
    rows: rows.map(named),
    columns: decorate(report.columns),
    ...(report.exportColumns === undefined ? {} : { exportColumns: decorate(report.exportColumns) }),
    ...(report.requests === undefined
      ? {}
      : {
          requests: report.requests.map((request) => ({
            ...request,
            tenant_name: tenants.get(request.tenant_id) ?? '',
          })),
        }),
  };
}
