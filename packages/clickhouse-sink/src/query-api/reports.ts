/**
 * The compliance reports behind `GET /api/audit/<command>`: the report registry (src/compliance/registry.ts) run
 * through `runReport`, exactly as `fhirwatch audit` runs it (stored tenant settings applied, explicit options
 * win). Query-string names are the CLI's flags: `since`, `from`, `to`, `tenant`, each report option's `flag`
 * (a list option repeats or takes a comma list; a boolean is `flag=true|false`, or `no-<flag>`), the working-time
 * flags `time-zone`, `hours`, `days`, `holidays`, `work-hours` (the CLI's JSON config, inline) and `settings=false`.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../compliance/errors.ts';
import { resolveMrnFromStore } from '../compliance/patient-resolve.ts';
import { getReportDef, REPORT_REGISTRY, runReport } from '../compliance/registry.ts';
import type { Report } from '../compliance/types.ts';
import { verifyAuditChain, verifyReport } from '../compliance/verify.ts';
import { parseDayList, parseHourRange, type WorkHours, type WorkHoursConfig } from '../compliance/work-hours.ts';
import { SinkError } from '../errors.ts';
import { flag, list, scope, single } from './params.ts';

/** Reports with their own endpoint; every other registry entry is a monitoring report (`/api/audit/report/<name>`). */
const DIRECT = new Set(['access', 'activity', 'summary']);

export interface ApiReportInfo {
  name: string;
  title: string;
  summary: string;
  kind: 'record' | 'aggregate' | 'monitoring';
  path: string;
  recordLevel: boolean;
  options: {
    flag: string;
    type: string;
    default?: unknown;
    help: string;
    required?: boolean;
    values?: readonly string[];
  }[];
}

/** What `GET /api/reports` lists: the registry (plus verify), with each report's options. */
export function apiReports(): ApiReportInfo[] {
  return REPORT_REGISTRY.map((def) => ({
    name: def.name,
    title: def.title,
    summary: def.summary,
    kind: DIRECT.has(def.name) ? (def.recordLevel ? 'record' : 'aggregate') : 'monitoring',
    path: DIRECT.has(def.name) ? `/api/audit/${def.name}` : `/api/audit/report/${def.name}`,
    recordLevel: def.recordLevel,
    options: def.options.map((option) => ({
      flag: option.flag,
      type: option.type,
      help: option.help,
      ...(option.default === undefined ? {} : { default: option.default }),
      ...(option.required ? { required: true } : {}),
      ...(option.values === undefined ? {} : { values: option.values }),
    })),
  }));
}

export function isMonitoringReport(name: string): boolean {
  return getReportDef(name) !== undefined && !DIRECT.has(name);
}

const invalid = (message: string): AuditQueryError =>
  new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, message);

function workTime(q: URLSearchParams): Partial<WorkHours> {
  const out: Partial<WorkHours> = {};
  const timeZone = single(q, 'time-zone');
  if (timeZone !== undefined) out.timeZone = timeZone;
  const hours = single(q, 'hours');
  if (hours !== undefined) {
    const range = parseHourRange(hours);
    if (range === undefined) throw invalid("parameter 'hours' must be start-end, e.g. 7-19");
    out.workHours = range;
  }
  const days = single(q, 'days');
  if (days !== undefined) {
    const list = parseDayList(days);
    if (list === undefined) throw invalid("parameter 'days' must be a range a-b or a list a,b,c");
    out.workDays = list;
  }
  const holidays = list(q, 'holidays');
  if (holidays.length > 0) out.holidays = holidays;
  return out;
}

function workHoursConfig(q: URLSearchParams): WorkHoursConfig | undefined {
  const inline = single(q, 'work-hours');
  if (inline === undefined) return undefined;
  try {
    return JSON.parse(inline) as WorkHoursConfig;
  } catch {
    throw invalid("parameter 'work-hours' must be a JSON work-hours config");
  }
}

/** A registry report by name with the query string's options (and `extra`, already typed). */
export async function runNamedReport(
  client: ClickHouseClient,
  name: string,
  q: URLSearchParams,
  extra: Record<string, unknown> = {},
): Promise<Report<object>> {
  const def = getReportDef(name);
  if (def === undefined) throw new SinkError('FW_SINK_NOT_FOUND', `no report named '${name}'`);
  const raw: Record<string, unknown> = {};
  for (const option of def.options) {
    if (option.type === 'list') {
      const values = list(q, option.flag);
      if (values.length > 0) raw[option.name] = values;
    } else if (option.type === 'boolean') {
      if (q.has(option.flag)) raw[option.name] = flag(q, option.flag);
      else if (q.has(`no-${option.flag}`)) raw[option.name] = !flag(q, `no-${option.flag}`);
    } else {
      const value = single(q, option.flag);
      if (value !== undefined) raw[option.name] = value;
    }
  }
  const file = workHoursConfig(q);
  return runReport(client, name, {
    ...scope(q),
    options: { ...raw, ...extra },
    workTime: workTime(q),
    ...(file === undefined ? {} : { workHours: file }),
    useSettings: !(q.has('settings') && !flag(q, 'settings')) && !q.has('no-settings'),
  });
}

/** Patient ids from `patient` (repeatable) and `patient-mrn` (resolved through the store's identifier searches). */
export async function patientIdsOf(client: ClickHouseClient, q: URLSearchParams): Promise<string[]> {
  const ids = list(q, 'patient');
  const mrn = single(q, 'patient-mrn');
  if (mrn !== undefined && mrn !== '') {
    const resolved = await resolveMrnFromStore(client, { mrn, ...scope(q) });
    if (resolved.length === 0 && ids.length === 0) {
      throw new AuditQueryError(
        AUDIT_QUERY_ERROR_CODES.patientUnresolved,
        'the MRN resolved to no patient: no identifier search in the range returned one (try a wider range)',
      );
    }
    ids.push(...resolved.map((p) => p.patient_id));
  }
  return [...new Set(ids)];
}

export async function runAccess(client: ClickHouseClient, q: URLSearchParams): Promise<Report<object>> {
  const patientIds = await patientIdsOf(client, q);
  if (patientIds.length === 0) throw invalid('access needs patient=<id> or patient-mrn=<mrn>');
  return runNamedReport(client, 'access', q, { patientIds });
}

export async function runVerify(
  client: ClickHouseClient,
  q: URLSearchParams,
  key: Uint8Array,
): Promise<Report<object>> {
  const writers = list(q, 'writer');
  const result = await verifyAuditChain(client, {
    key,
    ...(writers.length > 0 ? { recordedBy: writers } : {}),
    allowTruncatedStart: flag(q, 'allow-truncated-start'),
    sinceCheckpoint: flag(q, 'since-checkpoint'),
  });
  return verifyReport(result);
}
