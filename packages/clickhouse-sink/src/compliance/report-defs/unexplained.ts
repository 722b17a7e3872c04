/**
 * `unexplained`: accesses that nothing in the audit trail (or an imported care relationship) explains, ranked
 * by user: the user with the most unexplained accesses first (ties: the lower explained share first). See
 * ../explain.ts for the explanations and their windows.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { EXPLAIN_DEFAULTS, type ExplainOptions, explainAccesses, explainSql } from '../explain.ts';
import type { ReportDef, ReportOptionDef } from '../registry-types.ts';
import { col } from '../reports.ts';
import type { Report } from '../types.ts';

export interface UnexplainedRow {
  rank: number;
  tenant_id: string;
  user_id: string;
  /** The user's unexplained accesses in the range. */
  user_unexplained: number;
  /** The user's accesses in the range. */
  user_accesses: number;
  /** Share of the user's accesses that are explained, percent. */
  user_explained_pct: number;
  event_time: string;
  patient_id: string;
  event_type: string;
  event_id: string;
}

export const EXPLAIN_OPTIONS: readonly ReportOptionDef[] = [
  {
    name: 'searchMinutes',
    flag: 'search-minutes',
    type: 'integer',
    default: EXPLAIN_DEFAULTS.searchMinutes,
    help: "a user's own search explains opening a patient it returned for this many minutes",
    tenantSetting: true,
  },
  {
    name: 'listDays',
    flag: 'list-days',
    type: 'integer',
    default: EXPLAIN_DEFAULTS.listDays,
    help: "a patient on the user's list (PatientListView) explains access for this many days",
    tenantSetting: true,
  },
  {
    name: 'repeatMinDays',
    flag: 'repeat-min-days',
    type: 'integer',
    default: EXPLAIN_DEFAULTS.repeatMinDays,
    help: 'earlier days with an access by the same user that make a repeat access',
    tenantSetting: true,
  },
  {
    name: 'repeatLookbackDays',
    flag: 'repeat-lookback-days',
    type: 'integer',
    default: EXPLAIN_DEFAULTS.repeatLookbackDays,
    help: 'how far back repeat accesses are counted, in days',
    tenantSetting: true,
  },
];

/**
 * Rank users: most unexplained accesses first, then the lower explained share, then user id; rows by rank,
 * then time. Also used on the merged rows of several per-tenant runs.
 */
export function rankUnexplained(rows: UnexplainedRow[]): UnexplainedRow[] {
  const users = new Map<string, UnexplainedRow>();
  for (const row of rows) users.set(`${row.tenant_id}\u0000${row.user_id}`, row);
  const order = [...users.entries()].sort(
    ([, a], [, b]) =>
      b.user_unexplained - a.user_unexplained ||
      a.user_explained_pct - b.user_explained_pct ||
      (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.tenant_id < b.tenant_id ? -1 : 1),
  );
  const rank = new Map(order.map(([key], i) => [key, i + 1]));
  return rows
    .map((row) => ({ ...row, rank: rank.get(`${row.tenant_id}\u0000${row.user_id}`) ?? 0 }))
    .sort((a, b) => a.rank - b.rank || (a.event_time < b.event_time ? -1 : a.event_time > b.event_time ? 1 : 0));
}

export async function unexplainedReport(
  client: ClickHouseClient,
  options: ExplainOptions = {},
): Promise<Report<UnexplainedRow>> {
  const { range, accesses } = await explainAccesses(client, options);
  const users = new Map<string, { tenant: string; user: string; accesses: number; unexplained: number }>();
  for (const access of accesses) {
    const key = `${access.tenant_id}\u0000${access.user_id}`;
    const entry = users.get(key) ?? { tenant: access.tenant_id, user: access.user_id, accesses: 0, unexplained: 0 };
    entry.accesses += 1;
    if (access.explanation === '') entry.unexplained += 1;
    users.set(key, entry);
  }
  const scope = options.tenant ?? (options.excludeTenants?.length ? 'of the other tenants' : 'of all tenants');
  const rows = rankUnexplained(
    accesses
      .filter((access) => access.explanation === '')
      .map((access) => {
        const user = users.get(`${access.tenant_id}\u0000${access.user_id}`)!;
        return {
          rank: 0,
          tenant_id: access.tenant_id,
          user_id: access.user_id,
          user_unexplained: user.unexplained,
          user_accesses: user.accesses,
          user_explained_pct: Math.round((1000 * (user.accesses - user.unexplained)) / user.accesses) / 10,
          event_time: access.event_time,
          patient_id: access.patient_id,
          event_type: access.event_type,
          event_id: access.event_id,
        };
      }),
  );
  const explained = accesses.length - rows.length;
  return {
    name: 'unexplained',
    title: 'Unexplained accesses, ranked by user',
    range,
    tenant: options.tenant,
    parameters: {
      searchMinutes: options.searchMinutes ?? EXPLAIN_DEFAULTS.searchMinutes,
      listDays: options.listDays ?? EXPLAIN_DEFAULTS.listDays,
      repeatMinDays: options.repeatMinDays ?? EXPLAIN_DEFAULTS.repeatMinDays,
      repeatLookbackDays: options.repeatLookbackDays ?? EXPLAIN_DEFAULTS.repeatLookbackDays,
      accesses: accesses.length,
      explained,
    },
    columns: UNEXPLAINED_COLUMNS,
    rows,
    notes:
      accesses.length === 0
        ? []
        : [
            `${options.tenant ? `Tenant ${scope}: ` : `Accesses ${scope}: `}${explained} of ${accesses.length} explained (${
              Math.round((1000 * explained) / accesses.length) / 10
            } %).`,
          ],
  };
}

const UNEXPLAINED_COLUMNS = [
  col('rank'),
  col('tenant_id'),
  col('user_id'),
  col('user_unexplained'),
  col('user_accesses'),
  col('user_explained_pct'),
  col('event_time'),
  col('patient_id'),
  col('event_type'),
  col('event_id'),
];

export const unexplainedReportDef: ReportDef<UnexplainedRow> = {
  name: 'unexplained',
  title: 'Unexplained accesses, ranked by user',
  summary: 'accesses no care relationship, patient list, own search or repeat access explains, ranked by user',
  recordLevel: false,
  tenantSettings: true,
  options: EXPLAIN_OPTIONS,
  columns: UNEXPLAINED_COLUMNS,
  orderBy: ['rank', 'event_time'],
  sql: explainSql(' AND tenant_id = {tenant:String}'),
  run: (client, options) => unexplainedReport(client, options),
  finalize: (rows) => rankUnexplained(rows),
};
