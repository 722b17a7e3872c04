/**
 * `summary`: events, distinct patients and failures per event type per local day (the tenant's time zone from its
 * settings, else UTC) per tenant, with the share of accesses explained (../explain.ts) per row and, in the header,
 * per tenant.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS } from '@fhirwatch/contract';
import { type ExplainOptions, explainAccesses } from '../explain.ts';
import { AUDIT_EVENTS, selectRows } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { base, col, ONE_TENANT, TIME_FILTER } from '../reports.ts';
import { type PersonUnits, personUnits, personUnitsText } from '../requests.ts';
import type { Report, SummaryReportOptions } from '../types.ts';
import { localParts, resolveWorkHours, type WorkHoursConfig, workHoursFor } from '../work-hours.ts';
import { EXPLAIN_OPTIONS } from './unexplained.ts';

function summarySql(tenantAnd: string): string {
  return `SELECT toString(toDate(event_time, {tz:String})) AS day, tenant_id, event_type, uniqExact(event_id) AS events,
        uniqExactIf(patient_id, patient_id NOT IN ('', {all:String})) AS patients,
        uniqExactIf(event_id, outcome != 0) AS failures
      FROM ${AUDIT_EVENTS}
      WHERE ${TIME_FILTER}${tenantAnd}
      GROUP BY day, tenant_id, event_type
      ORDER BY day, tenant_id, event_type`;
}

export interface SummaryRow {
  day: string;
  tenant_id: string;
  event_type: string;
  events: number;
  patients: number;
  failures: number;
}

/** Events per type per local day (the tenant's time zone, else UTC) per tenant, with distinct patients and failures. */
export async function summaryReport(
  client: ClickHouseClient,
  options: SummaryReportOptions = {},
): Promise<Report<SummaryRow>> {
  const { range, params, tenantAnd } = base(options);
  params.all = ALL_PATIENTS;
  const timeZone = workHoursFor(resolveWorkHours(options.workHours), options.tenant ?? '').timeZone;
  params.tz = timeZone;
  const rows = await selectRows<Record<string, unknown>>(client, summarySql(tenantAnd), params);
  const out: SummaryRow[] = rows.map((row) => ({
    day: String(row.day),
    tenant_id: String(row.tenant_id),
    event_type: String(row.event_type),
    events: Number(row.events),
    patients: Number(row.patients),
    failures: Number(row.failures),
  }));
  return {
    name: 'summary',
    title: 'Events per type per day per tenant',
    range,
    tenant: options.tenant,
    parameters: { timeZone },
    columns: [col('day'), col('tenant_id'), col('event_type'), col('events'), col('patients'), col('failures')],
    rows: out,
  };
}

/** The range in person units per tenant: requests per action, distinct patients, users (../requests.ts). */
async function summaryPersonUnits(client: ClickHouseClient, options: SummaryReportOptions): Promise<PersonUnits[]> {
  // async: a bad option rejects this promise (Promise.all handles it) instead of throwing beside a pending query
  const { params, tenantAnd } = base(options);
  return personUnits(client, `${TIME_FILTER}${tenantAnd}`, params);
}

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
  const [summary, units] = await Promise.all([summaryReport(client, options), summaryPersonUnits(client, options)]);
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
    notes: [...units.map((u) => `Tenant ${u.tenant_id}: ${personUnitsText(u)}.`), ...notes],
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
  sql: summarySql(ONE_TENANT),
  run: (client, options) => summaryWithExplanations(client, options),
};
