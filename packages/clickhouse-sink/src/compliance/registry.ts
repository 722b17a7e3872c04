/**
 * The report registry: every compliance report by name, with its options (defaults and help text), SQL and
 * columns. The CLI (`fhirwatch audit report <name>`), the query API and the console read it; none keeps its
 * own list. A new report is one file under `report-defs/` (a {@link ReportDef}) plus its test, and one line below.
 *
 * {@link runReport} is how callers run a report: it parses option text, applies each tenant's stored settings
 * (time zone, working time, holidays, thresholds; explicit options win) and says in the report's notes which
 * tenants ran on defaults because they have no stored settings.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
import { NO_IDENTITY_NOTE, trailHasUsers, withNames } from './names.ts';
import { AUDIT_EVENTS, selectRows } from './records.ts';
import type { ReportDef, ReportOptionDef } from './registry-types.ts';
import { accessReportDef } from './report-defs/access.ts';
import { activityReportDef } from './report-defs/activity.ts';
import { afterHoursReportDef } from './report-defs/after-hours.ts';
import { exportsReportDef } from './report-defs/exports.ts';
import { failuresReportDef } from './report-defs/failures.ts';
import { nameProbingReportDef } from './report-defs/name-probing.ts';
import { summaryReportDef } from './report-defs/summary.ts';
import { tenantIsolationReportDef } from './report-defs/tenant-isolation.ts';
import { unexplainedReportDef } from './report-defs/unexplained.ts';
import { vipReportDef } from './report-defs/vip.ts';
import { volumeReportDef } from './report-defs/volume.ts';
import { listTenantSettings, type StoredTenantSettings, type TenantSettings } from './settings.ts';
import { chDateTime, resolveTimeRange, type TimeRangeInput } from './time-range.ts';
import type { FlaggedPrincipal, Report, ReportOptions } from './types.ts';
import { resolveWorkHours, type WorkHours, type WorkHoursConfig } from './work-hours.ts';

/** Who the rows flag (see ReportDef.flags), most rows first, then by principal. */
export function tallyFlagged<Row extends object>(
  rows: readonly Row[],
  flags: (row: Row) => readonly string[],
): FlaggedPrincipal[] {
  const counts = new Map<string, number>();
  for (const row of rows)
    for (const principal of new Set(flags(row))) counts.set(principal, (counts.get(principal) ?? 0) + 1);
  return [...counts]
    .map(([principal, rows]) => ({ principal, rows }))
    .sort((a, b) => b.rows - a.rows || (a.principal < b.principal ? -1 : a.principal > b.principal ? 1 : 0));
}

/**
 * What every run gets: names next to ids (names.ts), and for a report that groups by user, a note in its header when
 * the range's records carry no clinician identity (its rows then group by client and tenant).
 */
async function finish(
  client: ClickHouseClient,
  def: ReportDef<object>,
  input: RunReportInput,
  report: Report<object>,
): Promise<Report<object>> {
  const named = await withNames(client, report);
  if (def.flags === undefined || report.range === undefined) return named;
  const hasUsers = await trailHasUsers(client, report.range, input.tenant);
  return hasUsers === false ? { ...named, notes: [NO_IDENTITY_NOTE, ...(named.notes ?? [])] } : named;
}

/** Every report, in the order usage text lists them. */
export const REPORT_REGISTRY: readonly ReportDef<object>[] = [
  accessReportDef,
  activityReportDef,
  afterHoursReportDef,
  volumeReportDef,
  vipReportDef,
  nameProbingReportDef,
  exportsReportDef,
  failuresReportDef,
  tenantIsolationReportDef,
  unexplainedReportDef,
  summaryReportDef,
] as readonly ReportDef<object>[];

export const REPORT_NAMES: readonly string[] = REPORT_REGISTRY.map((def) => def.name);

export function getReportDef(name: string): ReportDef<object> | undefined {
  return REPORT_REGISTRY.find((def) => def.name === name);
}

function invalid(message: string): AuditQueryError {
  return new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, message);
}

/** One option value from text (or an already-typed value); throws FW_AUDIT_INVALID_OPTION naming the flag. */
export function parseOptionValue(option: ReportOptionDef, raw: unknown): unknown {
  const name = `--${option.flag}`;
  switch (option.type) {
    case 'integer':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
      if (!Number.isFinite(n) || n < 0 || (option.type === 'integer' && !Number.isInteger(n))) {
        throw invalid(`${name} must be a non-negative ${option.type}`);
      }
      return n;
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw invalid(`${name} must be true or false`);
    case 'enum':
      if (typeof raw !== 'string' || !(option.values ?? []).includes(raw)) {
        throw invalid(`${name} must be one of ${(option.values ?? []).join(', ')}`);
      }
      return raw;
    case 'list': {
      const items = (Array.isArray(raw) ? raw : [raw]).flatMap((item) => String(item).split(','));
      const list = items.map((item) => item.trim()).filter((item) => item !== '');
      if (list.length === 0) throw invalid(`${name} needs a value`);
      return list;
    }
    default:
      if (typeof raw !== 'string' || raw === '') throw invalid(`${name} needs a value`);
      return raw;
  }
}

/**
 * The report's options given explicitly, parsed. `raw` is keyed by option name or by flag (both accepted, so a
 * CLI's parsed flags and a query API's JSON both fit); keys the report does not know are ignored.
 */
export function parseReportOptions(
  def: ReportDef<object>,
  raw: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const option of def.options) {
    const value = raw[option.name] ?? raw[option.flag];
    if (value === undefined) continue;
    out[option.name] = parseOptionValue(option, value);
  }
  return out;
}

/** Defaults of the report's options (what a run without flags or settings uses). */
export function reportDefaults(def: ReportDef<object>): Record<string, unknown> {
  return Object.fromEntries(
    def.options.filter((option) => option.default !== undefined).map((option) => [option.name, option.default]),
  );
}

/** Usage text of every report and its options, for `--help`. */
export function reportUsage(width = 34): string {
  const lines: string[] = [];
  for (const def of REPORT_REGISTRY) {
    lines.push(`  ${def.name.padEnd(width - 2)}${def.summary}`);
    for (const option of def.options) {
      const value =
        option.type === 'boolean' ? '' : option.type === 'enum' ? ` ${(option.values ?? []).join('|')}` : ' <v>';
      const negatable = option.type === 'boolean' && option.default === true;
      const flag = `    --${negatable ? '[no-]' : ''}${option.flag}${value}`;
      const defaultText = option.default === undefined ? '' : ` (default ${String(option.default)})`;
      lines.push(`${flag.padEnd(width)}${option.help}${defaultText}${option.tenantSetting ? ' [setting]' : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What {@link runReport} takes: scope, explicit report options, explicit working time. */
export interface RunReportInput extends TimeRangeInput {
  tenant?: string;
  /** Explicit report options (by option name or flag; text or typed). They override stored settings. */
  options?: Readonly<Record<string, unknown>>;
  /** Explicit working time; overrides every tenant's stored working time field by field. */
  workTime?: Partial<WorkHours>;
  /** A per-tenant working-time config (the CLI's `--work-hours <file>`): used for tenants without stored settings. */
  workHours?: WorkHoursConfig;
  /** Read the stored tenant settings. Default true. */
  useSettings?: boolean;
}

function workTimeOf(settings: TenantSettings | undefined): Partial<WorkHours> {
  if (settings === undefined) return {};
  const out: Partial<WorkHours> = {};
  if (settings.timeZone !== undefined) out.timeZone = settings.timeZone;
  if (settings.workHours !== undefined) out.workHours = settings.workHours;
  if (settings.workDays !== undefined) out.workDays = settings.workDays;
  if (settings.holidays !== undefined) out.holidays = settings.holidays;
  return out;
}

function describeWorkTime(hours: WorkHours): string {
  return `${hours.timeZone}, ${hours.workHours[0]}–${hours.workHours[1]} h, days ${hours.workDays.join(',')}${
    (hours.holidays ?? []).length > 0 ? `, ${(hours.holidays ?? []).length} holidays` : ''
  }`;
}

interface Run {
  tenant?: string;
  excludeTenants?: string[];
  settings?: TenantSettings;
  /** Tenants of this run's config file (CLI --work-hours), for the "others" run. */
  label: string;
}

function compareRows(keys: readonly string[]) {
  return (a: Record<string, unknown>, b: Record<string, unknown>): number => {
    for (const key of keys) {
      const x = a[key];
      const y = b[key];
      if (x === y) continue;
      if (typeof x === 'number' && typeof y === 'number') return x - y;
      return String(x) < String(y) ? -1 : 1;
    }
    return 0;
  };
}

async function tenantsInRange(client: ClickHouseClient, input: RunReportInput): Promise<string[]> {
  const range = resolveTimeRange(input);
  const rows = await selectRows<{ tenant_id: string }>(
    client,
    `SELECT DISTINCT tenant_id FROM ${AUDIT_EVENTS}
      WHERE event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')} ORDER BY tenant_id`,
    { from: chDateTime(range.from), to: chDateTime(range.to) },
  );
  return rows.map((row) => row.tenant_id);
}

/**
 * Run a report by name with each tenant's stored settings. A report that uses settings runs once per tenant
 * with stored settings (its time zone, working time, holidays and thresholds; explicit options and `workTime`
 * override them) and once for every other tenant on the defaults; the rows are merged in the report's order.
 */
export async function runReport(
  client: ClickHouseClient,
  name: string,
  input: RunReportInput = {},
): Promise<Report<object>> {
  const def = getReportDef(name);
  if (def === undefined) throw invalid(`unknown report '${name}' (one of ${REPORT_NAMES.join(', ')})`);
  const explicit = parseReportOptions(def, input.options ?? {});
  for (const option of def.options) {
    if (option.required && explicit[option.name] === undefined)
      throw invalid(`the ${def.name} report needs --${option.flag}`);
  }
  const scope: ReportOptions = {
    ...(input.since === undefined ? {} : { since: input.since }),
    ...(input.from === undefined ? {} : { from: input.from }),
    ...(input.to === undefined ? {} : { to: input.to }),
    ...(input.now === undefined ? {} : { now: input.now }),
  };
  const fileConfig = input.workHours ?? {};
  const exportColumns = def.csvColumns === undefined ? {} : { exportColumns: def.csvColumns };
  if (!def.tenantSettings) {
    const report = await def.run(client, { ...scope, ...(input.tenant ? { tenant: input.tenant } : {}), ...explicit });
    return finish(client, def, input, {
      ...report,
      ...exportColumns,
      ...(def.flags ? { flagged: tallyFlagged(report.rows, def.flags) } : {}),
    });
  }
  // the tenants of the range (for the header) are read alongside the settings and the report itself
  const tenantsPromise = input.tenant === undefined ? tenantsInRange(client, input) : Promise.resolve([]);
  tenantsPromise.catch(() => undefined);
  const stored: StoredTenantSettings[] = input.useSettings === false ? [] : await listTenantSettings(client);
  const byTenant = new Map(stored.map((entry) => [entry.tenant_id, entry.settings]));
  const runs: Run[] = [];
  if (input.tenant) {
    runs.push({ tenant: input.tenant, settings: byTenant.get(input.tenant), label: input.tenant });
  } else {
    for (const [tenant, settings] of byTenant) runs.push({ tenant, settings, label: tenant });
    runs.push({ excludeTenants: [...byTenant.keys()], label: 'other tenants' });
  }
  const reports: Report<object>[] = [];
  const runParameters: Record<string, unknown>[] = [];
  for (const run of runs) {
    const thresholds = Object.assign(
      {},
      ...[...(def.settingsFrom ?? []), def.name].map((report) => run.settings?.thresholds?.[report] ?? {}),
    ) as Record<string, unknown>;
    const fromSettings = parseReportOptions(def, thresholds);
    const options = { ...fromSettings, ...explicit };
    // working time: stored settings < explicit flags; tenants without settings keep the file config's entry
    const workHours: WorkHoursConfig =
      run.settings !== undefined
        ? { default: { ...fileConfig.default, ...workTimeOf(run.settings), ...input.workTime } }
        : { ...fileConfig, default: { ...fileConfig.default, ...input.workTime } };
    const report = await def.run(client, {
      ...scope,
      ...(run.tenant !== undefined ? { tenant: run.tenant } : {}),
      ...(run.excludeTenants !== undefined && run.excludeTenants.length > 0
        ? { excludeTenants: run.excludeTenants }
        : {}),
      ...options,
      workHours,
    });
    reports.push(report);
    runParameters.push({
      tenants: run.label,
      settings: run.settings === undefined ? 'defaults' : 'stored',
      ...report.parameters,
    });
  }
  const notes: string[] = [];
  const defaults = resolveWorkHours({ default: { ...fileConfig.default, ...input.workTime } }).fallback;
  if (input.tenant !== undefined && !byTenant.has(input.tenant)) {
    notes.push(`No stored settings for tenant ${input.tenant}: defaults used (${describeWorkTime(defaults)}).`);
  } else if (input.tenant === undefined) {
    const without = (await tenantsPromise).filter((tenant) => !byTenant.has(tenant));
    if (without.length > 0) {
      notes.push(
        `No stored settings for tenant${without.length === 1 ? '' : 's'} ${without.join(', ')}: defaults used (${describeWorkTime(defaults)}${
          Object.keys(fileConfig.tenants ?? {}).length > 0 ? ', or the --work-hours file where it lists the tenant' : ''
        }).`,
      );
    }
  }
  const first = reports[0]!;
  let rows = reports.flatMap((report) => report.rows as Record<string, unknown>[]);
  if (reports.length > 1) {
    rows = def.finalize
      ? (def.finalize(rows as object[]) as Record<string, unknown>[])
      : rows.sort(compareRows(def.orderBy));
  }
  const records = first.records === undefined ? undefined : reports.flatMap((report) => report.records ?? []);
  if (records !== undefined && reports.length > 1) {
    records.sort((a, b) =>
      a.event_time === b.event_time ? (a.event_id < b.event_id ? -1 : 1) : a.event_time < b.event_time ? -1 : 1,
    );
  }
  return finish(client, def, input, {
    ...first,
    tenant: input.tenant,
    parameters: runParameters.length === 1 ? runParameters[0]! : { runs: runParameters },
    rows,
    ...(records === undefined ? {} : { records }),
    notes: [...new Set(reports.flatMap((report) => report.notes ?? [])), ...notes],
    ...exportColumns,
    ...(def.flags ? { flagged: tallyFlagged(rows as object[], def.flags) } : {}),
  });
}
