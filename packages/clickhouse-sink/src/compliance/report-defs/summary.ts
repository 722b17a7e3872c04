/**
 * `summary`: events, distinct patients and failures per event type per local day (the tenant's time zone from its
 * settings, else UTC) per tenant (../reports.ts),
 * with the share of accesses explained (../explain.ts) per row and, in the header, per tenant.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { type ExplainOptions, explainAccesses } from '../explain.ts';
import { AUDIT_EVENTS } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { col, type SummaryRow, summaryReport, TIME_FILTER } from '../reports.ts';
import type { Report } from '../types.ts';
import { localParts, type WorkHoursConfig } from '../work-hours.ts';
import { EXPLAIN_OPTIONS } from './unexplained.ts';

export type SummaryWithExplanationRow = SummaryRow & {
  /** User-attributed successful accesses to one patient (what the explanations cover). */
  accesses: number;
  /** Share of those explained, percent ('' when there are none). */
  explained_pct: number | '';
};

const pct = (part: number, whole: number): number => Math.round((1000 * part) / whole) / 10;

export async function summaryWithExplanations(
  client: ClickHouseClient,
  options: ExplainOptions & { explain?: boolean; workHours?: WorkHoursConfig } = {},
): Promise<Report<SummaryWithExplanationRow>> {
  const summary = await summaryReport(client, options);
  const timeZone = String(summary.parameters.timeZone ?? 'UTC');
  const counts = new Map<string, { accesses: number; explained: number }>();
  const tenants = new Map<string, { accesses: number; explained: number }>();
  if (options.explain !== false) {
    const { accesses } = await explainAccesses(client, options);
    for (const access of accesses) {
      const key = `${localParts(new Date(access.event_time), timeZone).text.slice(0, 10)}|${access.tenant_id}|${access.event_type}`;
      for (const [map, k] of [
        [counts, key],
        [tenants, access.tenant_id],
      ] as const) {
        const entry = map.get(k) ?? { accesses: 0, explained: 0 };
        entry.accesses += 1;
        if (access.explanation !== '') entry.explained += 1;
        map.set(k, entry);
      }
    }
  }
  const rows = summary.rows.map((row) => {
    const entry = counts.get(`${row.day}|${row.tenant_id}|${row.event_type}`);
    return {
      ...row,
      accesses: entry?.accesses ?? 0,
      explained_pct: entry === undefined ? ('' as const) : pct(entry.explained, entry.accesses),
    };
  });
  const notes = [...tenants.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(
      ([tenant, entry]) =>
        `Tenant ${tenant}: ${pct(entry.explained, entry.accesses)} % of ${entry.accesses} accesses explained.`,
    );
  return {
    ...summary,
    parameters: { ...summary.parameters, explain: options.explain !== false },
    columns: SUMMARY_COLUMNS,
    rows,
    notes,
  };
}

const SUMMARY_COLUMNS = [
  col('day'),
  col('tenant_id'),
  col('event_type'),
  col('events'),
  col('patients'),
  col('failures'),
  col('accesses'),
  col('explained_pct'),
];

export const summaryReportDef: ReportDef<SummaryWithExplanationRow> = {
  name: 'summary',
  title: 'Events per type per day per tenant',
  summary: 'events, patients, failures and the explained share of accesses per event type per day per tenant',
  recordLevel: false,
  tenantSettings: true,
  settingsFrom: ['unexplained'],
  options: [
    {
      name: 'explain',
      flag: 'explain',
      type: 'boolean',
      default: true,
      help: 'compute the explained share of accesses (--no-explain skips it)',
    },
    ...EXPLAIN_OPTIONS,
  ],
  columns: SUMMARY_COLUMNS,
  orderBy: ['day', 'tenant_id', 'event_type'],
  sql: `SELECT toDate(event_time) AS day, tenant_id, event_type, uniqExact(event_id) AS events,
    uniqExactIf(patient_id, patient_id NOT IN ('', {all:String})) AS patients, uniqExactIf(event_id, outcome != 0) AS failures
  FROM ${AUDIT_EVENTS} WHERE ${TIME_FILTER} AND tenant_id = {tenant:String}
  GROUP BY day, tenant_id, event_type ORDER BY day, tenant_id, event_type`,
  run: (client, options) => summaryWithExplanations(client, options),
};
