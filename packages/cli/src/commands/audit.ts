/**
 * `fhirwatch audit …`: the compliance queries of @fhirwatch/clickhouse-sink (packages/clickhouse-sink/README.md)
 * over an embedded store (`--store <dir>`) or a ClickHouse server (`--clickhouse-url`). Thin: it parses
 * options, opens the store, calls the library and writes the chosen format to stdout or `--out`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  AUDIT_QUERY_ERROR_CODES,
  AuditQueryError,
  accessReport,
  activityReport,
  addVipPatient,
  afterHoursReport,
  exportsReport,
  failuresReport,
  formatReport,
  listVipPatients,
  nameProbingReport,
  OUTPUT_FORMATS,
  type OutputFormat,
  openStore,
  type Report,
  type ReportOptions,
  removeVipPatient,
  resolveMrnFromStore,
  resolveMrnViaFhir,
  summaryReport,
  tenantIsolationReport,
  verifyAuditChain,
  verifyReport,
  vipReport,
  volumeReport,
  type WorkHoursConfig,
} from '@fhirwatch/clickhouse-sink';
import { UsageError } from '../command.ts';

export const description = 'Compliance queries: access, activity, reports, VIP watch list, verify, summary';

const REPORTS = ['after-hours', 'volume', 'vip', 'name-probing', 'exports', 'failures', 'tenant-isolation'] as const;

const USAGE = `Usage: fhirwatch audit <command> [options]

Commands:
  access --patient <id> | --patient-mrn <mrn>   who accessed this patient, when, what, from where (HIPAA)
  activity --user <id>                          every patient and resource a user touched
  report <name>                                 ${REPORTS.join(', ')}
  vip add|remove --patient <id> [--tenant <id>] [--reason <text>]   manage the VIP watch list
  vip list                                      show the VIP watch list
  verify                                        check the HMAC chain and seq gaps per writer (exit 3 if broken)
  summary                                       events per type per day per tenant

Store (one of):
  --store <dir>                 embedded chDB data directory (must not be open in another process)
  --clickhouse-url <url>        ClickHouse server (user/password from CLICKHOUSE_USER / CLICKHOUSE_PASSWORD)

Scope and output:
  --since <dur>                 look back from now: 90d (default), 12h, 2w, 1y
  --from <iso> --to <iso>       explicit range (from inclusive, to exclusive; --to defaults to now)
  --tenant <id>                 one tenant only
  --format <f>                  table (default) | csv | json | fhir (AuditEvent Bundle, IHE BALP)
  --fhir-shape <s>              r4 (default) | stu3 AuditEvent shape for --format fhir
  --out <file>                  write to a file instead of stdout

access:
  --patient <id>                FHIR logical id (repeatable)
  --patient-mrn <mrn>           resolve an MRN: by default through the identifier searches recorded in the
                                store (the patients those searches returned); with --fhir-url through a live
                                Patient?identifier= search on that FHIR server (token from FHIRWATCH_FHIR_TOKEN)
  --mrn-system <uri>            identifier system for --fhir-url lookups
  --no-all-patient-exports      leave out bulk exports of all patients of the patient's tenant

Report thresholds (defaults in packages/clickhouse-sink/README.md):
  --work-hours <file.json>      { "default": {...}, "tenants": { "<id>": { "timeZone": "America/New_York",
                                "workHours": [7, 19], "workDays": [1, 2, 3, 4, 5] } } }
  --time-zone <tz> --hours <a-b> --days <a-b|list>   default working time (UTC, 7-19, 1-5)
  --granularity hour|day --floor <n> --k <x> --baseline-days <n>        volume
  --window-minutes <n> --min-searches <n> --max-view-ratio <x>          name-probing
  --large-patients <n>                                                  exports
  --min-events <n>                                                      failures

verify:
  --hmac-key-file <file>        the writers' chain key; hex (the middleware's <spoolDir>/hmac.key) or text
  --hmac-key-encoding hex|utf8  how to read the key (default: hex when the file is hex, else utf8)
                                without a file the key comes from FHIRWATCH_AUDIT_HMAC_KEY
  --writer <id>                 only this writer (recorded_by; repeatable)
  --allow-truncated-start       trust the first stored record when older ones were dropped by retention
`;

const OPTIONS = {
  store: { type: 'string' },
  'clickhouse-url': { type: 'string' },
  since: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  tenant: { type: 'string' },
  format: { type: 'string' },
  'fhir-shape': { type: 'string' },
  out: { type: 'string' },
  patient: { type: 'string', multiple: true },
  'patient-mrn': { type: 'string' },
  'mrn-system': { type: 'string' },
  'fhir-url': { type: 'string' },
  'no-all-patient-exports': { type: 'boolean', default: false },
  user: { type: 'string' },
  reason: { type: 'string' },
  'work-hours': { type: 'string' },
  'time-zone': { type: 'string' },
  hours: { type: 'string' },
  days: { type: 'string' },
  granularity: { type: 'string' },
  floor: { type: 'string' },
  k: { type: 'string' },
  'baseline-days': { type: 'string' },
  'window-minutes': { type: 'string' },
  'min-searches': { type: 'string' },
  'max-view-ratio': { type: 'string' },
  'large-patients': { type: 'string' },
  'min-events': { type: 'string' },
  'hmac-key-file': { type: 'string' },
  'hmac-key-encoding': { type: 'string' },
  writer: { type: 'string', multiple: true },
  'allow-truncated-start': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

function num(values: Values, name: keyof Values, integer: boolean): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (
    typeof raw !== 'string' ||
    raw.trim() === '' ||
    !Number.isFinite(n) ||
    n < 0 ||
    (integer && !Number.isInteger(n))
  ) {
    throw new UsageError(`--${String(name)} must be a non-negative ${integer ? 'integer' : 'number'}`);
  }
  return n;
}

function range(text: string, name: string): number[] {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (match) {
    const out: number[] = [];
    for (let i = Number(match[1]); i <= Number(match[2]); i += 1) out.push(i);
    return out;
  }
  const list = text.split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n))) throw new UsageError(`--${name} must be a range a-b or a list a,b,c`);
  return list;
}

function workHours(values: Values): WorkHoursConfig {
  let config: WorkHoursConfig = {};
  if (values['work-hours'] !== undefined) {
    try {
      config = JSON.parse(readFileSync(values['work-hours'], 'utf8')) as WorkHoursConfig;
    } catch (cause) {
      throw new UsageError(`--work-hours: cannot read a JSON work-hours config (${(cause as Error).message})`);
    }
  }
  const fallback = { ...config.default };
  if (values['time-zone'] !== undefined) fallback.timeZone = values['time-zone'];
  if (values.hours !== undefined) {
    const match = /^(\d+)-(\d+)$/.exec(values.hours);
    if (!match) throw new UsageError('--hours must be start-end, e.g. 7-19');
    fallback.workHours = [Number(match[1]), Number(match[2])];
  }
  if (values.days !== undefined) fallback.workDays = range(values.days, 'days');
  return { ...config, default: fallback };
}

function scope(values: Values): ReportOptions {
  return {
    ...(values.since === undefined ? {} : { since: values.since }),
    ...(values.from === undefined ? {} : { from: values.from }),
    ...(values.to === undefined ? {} : { to: values.to }),
    ...(values.tenant === undefined ? {} : { tenant: values.tenant }),
  };
}

const STORE_BUSY = 'FW_AUDIT_STORE_BUSY';

async function withStore<T>(values: Values, fn: (client: ClickHouseClient) => Promise<T>): Promise<T> {
  if ((values.store === undefined) === (values['clickhouse-url'] === undefined)) {
    throw new UsageError('give exactly one of --store <dir> or --clickhouse-url <url>');
  }
  let client: ClickHouseClient;
  if (values.store !== undefined) {
    if (!existsSync(values.store)) throw new UsageError(`no store at ${values.store}`);
    try {
      client = openStore({ path: values.store });
    } catch (cause) {
      if ((cause as { code?: string }).code === 'CHDB_CONNECTION') {
        throw Object.assign(
          new Error(
            `the store ${values.store} is in use by another process (chDB lets one process own a data directory, e.g. a running \`fhirwatch sink\`): stop it, or query that data through --clickhouse-url`,
          ),
          { code: STORE_BUSY },
        );
      }
      throw cause;
    }
  } else {
    client = openStore({
      url: values['clickhouse-url'],
      ...(process.env.CLICKHOUSE_USER ? { username: process.env.CLICKHOUSE_USER } : {}),
      ...(process.env.CLICKHOUSE_PASSWORD ? { password: process.env.CLICKHOUSE_PASSWORD } : {}),
    });
  }
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function output(values: Values, report: Report<object>): void {
  const format = (values.format ?? 'table') as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}`);
  const shape = (values['fhir-shape'] ?? 'r4').toUpperCase();
  if (shape !== 'R4' && shape !== 'STU3') throw new UsageError('--fhir-shape must be r4 or stu3');
  const text = formatReport(report, format, { fhirShape: shape });
  if (values.out !== undefined) writeFileSync(values.out, text);
  else process.stdout.write(text);
}

async function access(values: Values, client: ClickHouseClient): Promise<Report<object>> {
  const patientIds = [...(values.patient ?? [])];
  const mrn = values['patient-mrn'];
  if (mrn !== undefined) {
    if (values['fhir-url'] !== undefined) {
      patientIds.push(
        ...(await resolveMrnViaFhir({
          fhirUrl: values['fhir-url'],
          mrn,
          ...(values['mrn-system'] ? { system: values['mrn-system'] } : {}),
          ...(process.env.FHIRWATCH_FHIR_TOKEN ? { token: process.env.FHIRWATCH_FHIR_TOKEN } : {}),
        })),
      );
    } else {
      patientIds.push(...(await resolveMrnFromStore(client, { mrn, ...scope(values) })).map((p) => p.patient_id));
    }
    if (patientIds.length === 0) {
      throw new AuditQueryError(
        AUDIT_QUERY_ERROR_CODES.patientUnresolved,
        values['fhir-url'] === undefined
          ? 'the MRN resolved to no patient: no identifier search in the range returned one (try a wider --since, or --fhir-url)'
          : 'the MRN resolved to no patient on the FHIR server',
      );
    }
  }
  if (patientIds.length === 0) throw new UsageError('audit access needs --patient <id> or --patient-mrn <mrn>');
  return accessReport(client, {
    patientIds: [...new Set(patientIds)],
    includeAllPatientExports: !values['no-all-patient-exports'],
    ...scope(values),
  });
}

async function report(name: string | undefined, values: Values, client: ClickHouseClient): Promise<Report<object>> {
  switch (name) {
    case 'after-hours':
      return afterHoursReport(client, { ...scope(values), workHours: workHours(values) });
    case 'volume': {
      const granularity = values.granularity ?? 'hour';
      if (granularity !== 'hour' && granularity !== 'day') throw new UsageError('--granularity must be hour or day');
      const options = { ...scope(values), granularity } as Parameters<typeof volumeReport>[1] & object;
      const floor = num(values, 'floor', false);
      const k = num(values, 'k', false);
      const baselineDays = num(values, 'baseline-days', true);
      if (floor !== undefined) options.floor = floor;
      if (k !== undefined) options.k = k;
      if (baselineDays !== undefined) options.baselineDays = baselineDays;
      return volumeReport(client, options);
    }
    case 'vip':
      return vipReport(client, scope(values));
    case 'name-probing': {
      const options: Parameters<typeof nameProbingReport>[1] & object = scope(values);
      const windowMinutes = num(values, 'window-minutes', true);
      const minSearches = num(values, 'min-searches', true);
      const maxViewRatio = num(values, 'max-view-ratio', false);
      if (windowMinutes !== undefined) options.windowMinutes = windowMinutes;
      if (minSearches !== undefined) options.minSearches = minSearches;
      if (maxViewRatio !== undefined) options.maxViewRatio = maxViewRatio;
      return nameProbingReport(client, options);
    }
    case 'exports': {
      const largePatients = num(values, 'large-patients', true);
      return exportsReport(client, {
        ...scope(values),
        workHours: workHours(values),
        ...(largePatients === undefined ? {} : { largePatients }),
      });
    }
    case 'failures': {
      const minEvents = num(values, 'min-events', true);
      return failuresReport(client, { ...scope(values), ...(minEvents === undefined ? {} : { minEvents }) });
    }
    case 'tenant-isolation':
      return tenantIsolationReport(client, scope(values));
    default:
      throw new UsageError(`audit report needs one of: ${REPORTS.join(', ')}`);
  }
}

function hmacKey(values: Values): Buffer {
  const encoding = values['hmac-key-encoding'];
  if (encoding !== undefined && encoding !== 'hex' && encoding !== 'utf8') {
    throw new UsageError('--hmac-key-encoding must be hex or utf8');
  }
  let text: string;
  if (values['hmac-key-file'] !== undefined) {
    try {
      text = readFileSync(values['hmac-key-file'], 'utf8').trim();
    } catch {
      throw new UsageError('--hmac-key-file cannot be read');
    }
  } else if (process.env.FHIRWATCH_AUDIT_HMAC_KEY) {
    text = process.env.FHIRWATCH_AUDIT_HMAC_KEY;
  } else {
    throw new UsageError('audit verify needs --hmac-key-file <file> or FHIRWATCH_AUDIT_HMAC_KEY');
  }
  const looksHex = /^(?:[0-9a-fA-F]{2})+$/.test(text) && text.length >= 32;
  const useHex = encoding === 'hex' || (encoding === undefined && values['hmac-key-file'] !== undefined && looksHex);
  if (useHex && !looksHex) throw new UsageError('the HMAC key is not hex');
  return useHex ? Buffer.from(text, 'hex') : Buffer.from(text, 'utf8');
}

async function vip(
  action: string | undefined,
  values: Values,
  client: ClickHouseClient,
): Promise<Report<object> | undefined> {
  if (action === 'list') {
    const list = await listVipPatients(client);
    return {
      name: 'vip',
      title: 'VIP watch list',
      parameters: {},
      columns: ['tenant_id', 'patient_id', 'reason', 'changed_by', 'since'].map((key) => ({ key, header: key })),
      rows: list,
    };
  }
  if (action !== 'add' && action !== 'remove') throw new UsageError('audit vip needs add, remove or list');
  const patients = values.patient ?? [];
  if (patients.length === 0) throw new UsageError(`audit vip ${action} needs --patient <id>`);
  for (const patientId of patients) {
    const change = {
      patientId,
      tenantId: values.tenant ?? '',
      reason: values.reason ?? '',
      changedBy: userInfo().username,
    };
    if (action === 'add') await addVipPatient(client, change);
    else await removeVipPatient(client, change);
  }
  process.stderr.write(`audit vip ${action}: ${patients.length} patient${patients.length === 1 ? '' : 's'}\n`);
  return undefined;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  const [command, sub, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const allowedPositionals = command === 'report' || command === 'vip' ? 1 : 0;
  if ((sub === undefined ? 0 : 1) + extra.length > allowedPositionals) throw new UsageError('too many arguments');
  try {
    return await withStore(values, async (client) => {
      switch (command) {
        case 'access':
          output(values, await access(values, client));
          return 0;
        case 'activity':
          if (values.user === undefined || values.user === '') throw new UsageError('audit activity needs --user <id>');
          output(values, await activityReport(client, { userId: values.user, ...scope(values) }));
          return 0;
        case 'report':
          output(values, await report(sub, values, client));
          return 0;
        case 'summary':
          output(values, await summaryReport(client, scope(values)));
          return 0;
        case 'vip': {
          const list = await vip(sub, values, client);
          if (list) output(values, list);
          return 0;
        }
        case 'verify': {
          const result = await verifyAuditChain(client, {
            key: hmacKey(values),
            ...(values.writer ? { recordedBy: values.writer } : {}),
            allowTruncatedStart: values['allow-truncated-start'],
          });
          output(values, verifyReport(result));
          return result.ok ? 0 : 3;
        }
        default:
          throw new UsageError(`unknown audit command '${command}' (try fhirwatch audit --help)`);
      }
    });
  } catch (error) {
    if (error instanceof AuditQueryError) {
      if (error.code === AUDIT_QUERY_ERROR_CODES.invalidOption || error.code === AUDIT_QUERY_ERROR_CODES.invalidRange) {
        throw new UsageError(error.message);
      }
      process.stderr.write(`fhirwatch audit: ${error.message} (${error.code})\n`);
      return 1;
    }
    const code = (error as { code?: string }).code;
    if (code === STORE_BUSY) {
      process.stderr.write(`fhirwatch audit: ${(error as Error).message} (${STORE_BUSY})\n`);
      return 1;
    }
    const clickhouseCode = (error as { clickhouseCode?: number }).clickhouseCode ?? (error as { type?: string }).type;
    if (clickhouseCode !== undefined) {
      // ClickHouse messages may quote parameter values (PHI): print the error code only
      const hint =
        String(clickhouseCode) === '60' || clickhouseCode === 'UNKNOWN_TABLE'
          ? ': the store has no audit tables (run `fhirwatch sink migrate`)'
          : '';
      process.stderr.write(`fhirwatch audit: query failed (ClickHouse error ${clickhouseCode})${hint}\n`);
      return 1;
    }
    throw error;
  }
}
