/**
 * `unexplained`: accesses that nothing in the audit trail (or an imported care relationship) explains, ranked by
 * user in person units: the user's **distinct unexplained patients** against their peers' (the other users of the
 * same tenant; the records carry no role, so the tenant's users are the peers), e.g. "346 patients, peers' median
 * 58, 6.0×". Counting patients rather than per-patient rows keeps a busy clinician (a chart open is 8 rows, a list
 * refresh of 5 patients 40) from outranking a snooper who opened fewer charts that nothing explains. Each
 * unexplained access stays a row (the detail). See ../explain.ts for the explanations and their windows.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { EXPLAIN_DEFAULTS, type ExplainOptions, explainAccesses, explainSql } from '../explain.ts';
import { principalOf } from '../records.ts';
import type { ReportDef, ReportOptionDef } from '../registry-types.ts';
import { col, ONE_TENANT } from '../reports.ts';
import type { Report } from '../types.ts';

export interface UnexplainedRow {
  rank: number;
  tenant_id: string;
  user_id: string;
  user_name: string;
  /** Distinct patients the user accessed in the range with at least one access nothing explains. */
  unexplained_patients: number;
  /** Distinct patients the user accessed in the range. */
  patients: number;
  /** Median of the peers' unexplained_patients (the other users of the tenant with accesses in the range). */
  peers_median: number;
  /** unexplained_patients / max(peers_median, 1), one decimal: the ranking's score. */
  vs_peers: number;
  /** The user's line in words: "346 patients, peers' median 58, 6.0×". */
  baseline: string;
  /** The user's unexplained accesses (per-patient rows) in the range. */
  unexplained_accesses: number;
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
 * Rank users: the highest score against their peers first, then more unexplained patients, then user id; rows by
 * rank, then time. Also used on the merged rows of several per-tenant runs (scores are per tenant already).
 */
export function rankUnexplained(rows: UnexplainedRow[]): UnexplainedRow[] {
  const users = new Map<string, UnexplainedRow>();
  for (const row of rows) users.set(`${row.tenant_id}\u0000${row.user_id}`, row);
  const order = [...users.entries()].sort(
    ([, a], [, b]) =>
      b.vs_peers - a.vs_peers ||
      b.unexplained_patients - a.unexplained_patients ||
      (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.tenant_id < b.tenant_id ? -1 : 1),
  );
  const rank = new Map(order.map(([key], i) => [key, i + 1]));
  return rows
    .map((row) => ({ ...row, rank: rank.get(`${row.tenant_id}\u0000${row.user_id}`) ?? 0 }))
    .sort((a, b) => a.rank - b.rank || (a.event_time < b.event_time ? -1 : a.event_time > b.event_time ? 1 : 0));
}

/** Median of a list (0 for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface UserTally {
  tenant: string;
  user: string;
  name: string;
  patients: Set<string>;
  unexplainedPatients: Set<string>;
  unexplainedAccesses: number;
}

/** Each user's distinct and unexplained patients, with the peers' median and the score against it. */
export function peerScores(
  users: Iterable<UserTally>,
): Map<string, { unexplained: number; patients: number; peersMedian: number; vsPeers: number }> {
  const byTenant = new Map<string, UserTally[]>();
  for (const user of users) byTenant.set(user.tenant, [...(byTenant.get(user.tenant) ?? []), user]);
  const out = new Map<string, { unexplained: number; patients: number; peersMedian: number; vsPeers: number }>();
  for (const tally of byTenant.values()) {
    for (const user of tally) {
      const peers = tally.filter((peer) => peer !== user).map((peer) => peer.unexplainedPatients.size);
      const peersMedian = median(peers);
      const unexplained = user.unexplainedPatients.size;
      out.set(`${user.tenant}\u0000${user.user}`, {
        unexplained,
        patients: user.patients.size,
        peersMedian,
        vsPeers: Math.round((10 * unexplained) / Math.max(peersMedian, 1)) / 10,
      });
    }
  }
  return out;
}

export async function unexplainedReport(
  client: ClickHouseClient,
  options: ExplainOptions = {},
): Promise<Report<UnexplainedRow>> {
  const { range, accesses } = await explainAccesses(client, options);
  const users = new Map<string, UserTally>();
  for (const access of accesses) {
    const key = `${access.tenant_id}\u0000${access.user_id}`;
    let entry = users.get(key);
    if (entry === undefined) {
      entry = {
        tenant: access.tenant_id,
        user: access.user_id,
        name: access.user_name,
        patients: new Set(),
        unexplainedPatients: new Set(),
        unexplainedAccesses: 0,
      };
      users.set(key, entry);
    }
    if (entry.name === '' && access.user_name !== '') entry.name = access.user_name;
    entry.patients.add(access.patient_id);
    if (access.explanation === '') {
      entry.unexplainedPatients.add(access.patient_id);
      entry.unexplainedAccesses += 1;
    }
  }
  const scores = peerScores(users.values());
  const scope = options.tenant ?? (options.excludeTenants?.length ? 'of the other tenants' : 'of all tenants');
  const rows = rankUnexplained(
    accesses
      .filter((access) => access.explanation === '')
      .map((access) => {
        const key = `${access.tenant_id}\u0000${access.user_id}`;
        const user = users.get(key)!;
        const score = scores.get(key)!;
        return {
          rank: 0,
          tenant_id: access.tenant_id,
          user_id: access.user_id,
          user_name: user.name,
          unexplained_patients: score.unexplained,
          patients: score.patients,
          peers_median: score.peersMedian,
          vs_peers: score.vsPeers,
          baseline: `${score.unexplained} patient${score.unexplained === 1 ? '' : 's'}, peers' median ${score.peersMedian}, ${score.vsPeers.toFixed(1)}×`,
          unexplained_accesses: user.unexplainedAccesses,
          event_time: access.event_time,
          patient_id: access.patient_id,
          event_type: access.event_type,
          event_id: access.event_id,
        };
      }),
  );
  const unexplainedCount = rows.length;
  const explained = accesses.length - unexplainedCount;
  const patientsAll = new Set(accesses.map((a) => `${a.tenant_id}\u0000${a.patient_id}`)).size;
  const patientsUnexplained = new Set(rows.map((r) => `${r.tenant_id}\u0000${r.patient_id}`)).size;
  return {
    name: 'unexplained',
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: {
      searchMinutes: options.searchMinutes ?? EXPLAIN_DEFAULTS.searchMinutes,
      listDays: options.listDays ?? EXPLAIN_DEFAULTS.listDays,
      repeatMinDays: options.repeatMinDays ?? EXPLAIN_DEFAULTS.repeatMinDays,
      repeatLookbackDays: options.repeatLookbackDays ?? EXPLAIN_DEFAULTS.repeatLookbackDays,
      accesses: accesses.length,
      explained,
      peers: 'the other users of the same tenant (the records carry no role)',
    },
    columns: UNEXPLAINED_COLUMNS,
    rows,
    notes:
      accesses.length === 0
        ? []
        : [
            `${options.tenant ? `Tenant ${scope}: ` : `Accesses ${scope}: `}${explained} of ${accesses.length} explained (${
              Math.round((1000 * explained) / accesses.length) / 10
            } %); ${patientsUnexplained} of ${patientsAll} patients with an unexplained access.`,
            "Users ranked by distinct unexplained patients against their peers' median (the other users of the tenant; the records carry no role).",
          ],
  };
}

const TITLE = 'Unexplained accesses, ranked by user (distinct patients against peers)';

const UNEXPLAINED_COLUMNS = [
  col('rank'),
  col('tenant_id'),
  col('user_id'),
  col('user_name'),
  col('baseline'),
  col('unexplained_patients'),
  col('patients'),
  col('peers_median'),
  col('vs_peers'),
  col('unexplained_accesses'),
  col('event_time'),
  col('patient_id'),
  col('event_type'),
  col('event_id'),
];

export const unexplainedReportDef: ReportDef<UnexplainedRow> = {
  name: 'unexplained',
  title: TITLE,
  summary:
    "accesses no care relationship, patient list, own search or repeat access explains; users ranked by distinct unexplained patients against their peers' median",
  recordLevel: false,
  tenantSettings: true,
  options: EXPLAIN_OPTIONS,
  columns: UNEXPLAINED_COLUMNS,
  orderBy: ['rank', 'event_time'],
  sql: explainSql(ONE_TENANT),
  flags: (row) => [principalOf(row)],
  run: (client, options) => unexplainedReport(client, options),
  finalize: (rows) => rankUnexplained(rows),
};
