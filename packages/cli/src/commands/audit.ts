/**
 * `fhirwatch audit …`: the compliance queries of @fhirwatch/clickhouse-sink (packages/clickhouse-sink/README.md)
 * over an embedded store (`--store <dir>`) or a ClickHouse server (`--clickhouse-url`). Thin: the reports, their
 * options and help text come from the sink's report registry; this file parses flags, opens the store and writes
 * the chosen format. The sink's query modules and chDB are imported only when a command needs them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import type * as Queries from '@fhirwatch/clickhouse-sink/compliance';
import type { QueryTransport, RemoteQueryResult } from '@fhirwatch/clickhouse-sink/query-client';
import type { AUDIT_CLI_ERRORS } from '@fhirwatch/contract';
import { UsageError } from '../command.ts';
import {
  hmacKeyFromText,
  isStoreBusy,
  openStoreFrom,
  readHmacKeyFile,
  type StoreSource,
  storeInUseMessage,
  storeSource,
} from '../flags.ts';

export const description =
  'Compliance queries: access, activity, reports, incidents, settings, VIP list, relationships, verify';

type Sink = typeof Queries;

const HEAD = `Usage: fhirwatch audit <command> [options]

Commands:
  access --patient <id> | --patient-mrn <mrn>   who accessed this patient, when, what, from where (HIPAA)
  activity --user <id>                          every patient and resource a user touched
  report <name> [report options]                a report of the registry (below)
  summary                                       the summary report
  settings show|set|clear [--tenant <id>]       per-tenant time zone, working time, holidays, thresholds
  relationships import <csv> [--tenant <id>]    care relationships (patient,user,from,to[,tenant]) that explain access
  groups import <csv> [--tenant <id>]           group members (group,patient[,tenant]) for group exports
  vip add|remove --patient <id> [--tenant <id>] [--reason <text>]   manage the VIP watch list
  vip list                                      show the VIP watch list
  incidents list [--state open|acknowledged|closed] [--tenant <id>]   incidents the sink found (newest first)
  incidents show <id>                           one incident: its state changes and deliveries
  incidents ack <id> [--note <text>]            acknowledge an open incident
  incidents close <id> --note <text>            close an incident (the note says what was found or done)
  verify                                        check the HMAC chain and seq gaps per writer (exit 3 if broken)

Store (one of):
  --store <dir>                 embedded chDB data directory (must not be open in another process)
  --clickhouse-url <url>        ClickHouse server (user/password from FHIRWATCH_CLICKHOUSE_USER / _PASSWORD,
                                or the older CLICKHOUSE_USER / CLICKHOUSE_PASSWORD)
  --sink-url <url>              a running sink's query API (the process that owns an embedded store; ingest goes
                                on); bearer token from FHIRWATCH_QUERY_TOKEN
  --actor <name>                who asks (default: the OS user); every read of audit records, on every store,
                                is recorded in audit_query_log with it before the answer is written

Scope and output:
  --since <dur>                 look back from now: 90d (default), 12h, 2w, 1y
  --from <iso> --to <iso>       explicit range (from inclusive, to exclusive; --to defaults to now)
  --tenant <id>                 one tenant only
  --format <f>                  table (default) | csv | json | fhir (AuditEvent Bundle, IHE BALP)
  --fhir-shape <s>              r4 (default) | stu3 AuditEvent shape for --format fhir
  --out <file>                  write to a file instead of stdout

Working time (default: each tenant's stored settings, else UTC 7-19 Mon-Fri; flags override):
  --time-zone <tz> --hours <a-b> --days <a-b|list> --holidays <date,…>
  --work-hours <file.json>      { "default": {...}, "tenants": { "<id>": { "timeZone": "America/New_York",
                                "workHours": [7, 19], "workDays": [1, 2, 3, 4, 5] } } } (tenants without stored settings)
  --no-settings                 ignore stored tenant settings

access:
  --patient-mrn <mrn>           resolve an MRN: by default through the identifier searches recorded in the
                                store (the patients those searches returned); with --fhir-url through a live
                                Patient?identifier= search on that FHIR server (token from FHIRWATCH_FHIR_TOKEN)
  --mrn-system <uri>            identifier system for --fhir-url lookups

settings set:
  --tenant-name <name>                    the tenant's display name, shown next to its id in reports and the console
  --incident-settings <json>              how the sink's monitor treats the tenant: {"enabled", "intervalMinutes",
                                          "periodHours", "reports": [...], "destinations": [...], "patientIds"}
  --threshold <report>.<option>=<value>   a per-report threshold (repeatable), e.g. name-probing.minSearches=20

verify:
  --hmac-key-file <file>        the writers' chain key; hex (the middleware's <spoolDir>/hmac.key) or text
  --hmac-key-encoding hex|utf8  how to read the key (default: hex when the file is hex, else utf8)
                                without a file the key comes from FHIRWATCH_AUDIT_HMAC_KEY
  --writer <id>                 only this writer (recorded_by; repeatable)
  --allow-truncated-start       trust the first stored record when older ones were dropped by retention
  --since-checkpoint            prove only what arrived after each writer's last verified, signed checkpoint
                                (every passing verify stores one); a forged checkpoint is named and that writer
                                is proved from the start; without this flag the whole store is proved

Reports and their options ([setting]: a tenant's stored threshold may set it; defaults and why: packages/clickhouse-sink/README.md):
`;

const COMMON_OPTIONS = {
  store: { type: 'string' },
  'clickhouse-url': { type: 'string' },
  'sink-url': { type: 'string' },
  since: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  tenant: { type: 'string' },
  format: { type: 'string' },
  'fhir-shape': { type: 'string' },
  out: { type: 'string' },
  'patient-mrn': { type: 'string' },
  'mrn-system': { type: 'string' },
  'fhir-url': { type: 'string' },
  reason: { type: 'string' },
  'work-hours': { type: 'string' },
  'time-zone': { type: 'string' },
  'tenant-name': { type: 'string' },
  hours: { type: 'string' },
  days: { type: 'string' },
  holidays: { type: 'string' },
  settings: { type: 'boolean', default: true },
  threshold: { type: 'string', multiple: true },
  'hmac-key-file': { type: 'string' },
  'hmac-key-encoding': { type: 'string' },
  writer: { type: 'string', multiple: true },
  'allow-truncated-start': { type: 'boolean', default: false },
  'since-checkpoint': { type: 'boolean', default: false },
  patient: { type: 'string', multiple: true },
  actor: { type: 'string' },
  state: { type: 'string' },
  note: { type: 'string' },
  'incident-settings': { type: 'string' },
  limit: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

type Values = Record<string, string | boolean | string[] | undefined>;

/** Flags of every report in the registry, added to the common ones (one flag, one type). */
function optionsFor(sink: Sink): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = { ...COMMON_OPTIONS };
  for (const def of sink.REPORT_REGISTRY) {
    for (const option of def.options) {
      const spec =
        option.type === 'boolean'
          ? { type: 'boolean' as const }
          : option.type === 'list'
            ? { type: 'string' as const, multiple: true }
            : { type: 'string' as const };
      const existing = options[option.flag];
      if (
        existing !== undefined &&
        (existing.type !== spec.type || Boolean(existing.multiple) !== Boolean(spec.multiple))
      ) {
        throw new Error(`report option --${option.flag} of ${def.name} clashes with another option of that name`);
      }
      options[option.flag] = existing ?? spec;
    }
  }
  return options;
}

interface WorkTime {
  timeZone?: string;
  workHours?: [number, number];
  workDays?: number[];
  holidays?: string[];
}

/** The working-time flags, only those given. */
function workTimeFlags(sink: Sink, values: Values): WorkTime {
  const out: WorkTime = {};
  if (typeof values['time-zone'] === 'string') out.timeZone = values['time-zone'];
  if (typeof values.hours === 'string') {
    const range = sink.parseHourRange(values.hours);
    if (range === undefined) throw new UsageError('--hours must be start-end, e.g. 7-19');
    out.workHours = range;
  }
  if (typeof values.days === 'string') {
    const days = sink.parseDayList(values.days);
    if (days === undefined) throw new UsageError('--days must be a range a-b or a list a,b,c');
    out.workDays = days;
  }
  if (typeof values.holidays === 'string') {
    out.holidays = values.holidays
      .split(',')
      .map((day) => day.trim())
      .filter((day) => day !== '');
  }
  return out;
}

function workHoursFile(values: Values): Record<string, unknown> | undefined {
  if (typeof values['work-hours'] !== 'string') return undefined;
  try {
    return JSON.parse(readFileSync(values['work-hours'], 'utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new UsageError(`--work-hours: cannot read a JSON work-hours config (${(cause as Error).message})`);
  }
}

const STORE_BUSY: keyof typeof AUDIT_CLI_ERRORS = 'FW_AUDIT_STORE_BUSY';
const SINK_UNREACHABLE: keyof typeof AUDIT_CLI_ERRORS = 'FW_AUDIT_SINK_UNREACHABLE';
/** This invocation's arguments, for the "use this exact command" hint. */
let invokedWith: readonly string[] = [];

async function withStore<T>(values: Values, fn: (client: ClickHouseClient) => Promise<T>): Promise<T> {
  const source = storeSource(values) as StoreSource;
  const busy = (running: { pid: number; url: string } | undefined): Error =>
    Object.assign(
      new Error(
        storeInUseMessage(source.kind === 'store' ? source.path : '', running, {
          unknownOwner: 'stop it, query it through that sink with --sink-url <its URL>, or use --clickhouse-url',
          runningSink: (url) => `ask it instead, ingest goes on:\n  fhirwatch audit ${sinkUrlArgs(invokedWith, url)}`,
        }),
      ),
      { code: STORE_BUSY },
    );
  const { findAnsweringSink, findRunningSink } = await import('@fhirwatch/clickhouse-sink/query-client');
  // a sink that answers owns the store: say so without asking chDB (which prints its own lock error first)
  if (source.kind === 'store') {
    const running = await findAnsweringSink(source.path);
    if (running !== undefined) throw busy(running);
  }
  let client: ClickHouseClient;
  try {
    client = await openStoreFrom(source);
  } catch (cause) {
    if (source.kind === 'store' && isStoreBusy(cause)) throw busy(findRunningSink(source.path));
    throw cause;
  }
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** The same audit arguments with `--store <dir>` replaced by `--sink-url <url>` (shell-quoted where needed). */
export function sinkUrlArgs(args: readonly string[], url: string): string {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg === '--store') i += 1;
    else if (!arg.startsWith('--store=')) out.push(arg);
  }
  out.push('--sink-url', url);
  return out.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)).join(' ');
}

/** Flags → query-API parameters (the API takes the CLI's flag names); booleans as 'true' / 'false'. */
function apiParams(values: Values): Record<string, string | string[]> {
  const skip = new Set([
    'store',
    'clickhouse-url',
    'sink-url',
    'actor',
    'out',
    'help',
    'hmac-key-file',
    'hmac-key-encoding',
    'fhir-url',
    'mrn-system',
  ]);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(values)) {
    if (skip.has(name) || value === undefined) continue;
    if (name === 'work-hours' && typeof value === 'string') {
      out[name] = JSON.stringify(workHoursFile(values));
      continue;
    }
    out[name] = typeof value === 'boolean' ? String(value) : value;
  }
  out.format = typeof values.format === 'string' ? values.format : 'table';
  return out;
}

/** Commands that read audit records: always through the query API's core (in this process, or a sink's). */
const READ_COMMANDS = ['access', 'activity', 'report', 'summary', 'verify', 'vip', 'incidents'] as const;
type ReadCommand = (typeof READ_COMMANDS)[number];
/** Commands that change a store's settings and context tables (no audit records read): a store only. */
const STORE_COMMANDS = ['settings', 'relationships', 'groups'] as const;
type StoreCommand = (typeof STORE_COMMANDS)[number];

const isRead = (command: string): command is ReadCommand => (READ_COMMANDS as readonly string[]).includes(command);
const isStore = (command: string): command is StoreCommand => (STORE_COMMANDS as readonly string[]).includes(command);

/** Who asks: `--actor`, else the OS user (recorded in audit_query_log with every read). */
function actorOf(values: Values): string {
  const actor = typeof values.actor === 'string' ? values.actor.trim() : '';
  return actor === '' ? userInfo().username : actor;
}

/**
 * The one dispatcher of every audit read: the flags as the query API's parameters, asked through `transport`
 * (the API's core in this process for --store / --clickhouse-url, a sink over HTTP for --sink-url), the answer
 * written as it came. The core records each read in audit_query_log before it answers.
 */
async function read(
  sink: Sink,
  transport: QueryTransport,
  command: ReadCommand,
  sub: string | undefined,
  values: Values,
  id?: string,
): Promise<number> {
  const params = apiParams(values);
  let result: RemoteQueryResult;
  switch (command) {
    case 'access': {
      if (typeof values['patient-mrn'] === 'string' && typeof values['fhir-url'] === 'string') {
        // a live FHIR lookup is the CLI's (the API resolves MRNs through the store only)
        const ids = await sink.resolveMrnViaFhir({
          fhirUrl: values['fhir-url'],
          mrn: values['patient-mrn'],
          ...(typeof values['mrn-system'] === 'string' ? { system: values['mrn-system'] } : {}),
          ...(process.env.FHIRWATCH_FHIR_TOKEN ? { token: process.env.FHIRWATCH_FHIR_TOKEN } : {}),
        });
        const patients = [...((values.patient as string[] | undefined) ?? []), ...ids];
        if (patients.length === 0) {
          throw new sink.AuditQueryError(
            sink.AUDIT_QUERY_ERROR_CODES.patientUnresolved,
            'the MRN resolved to no patient on the FHIR server',
          );
        }
        delete params['patient-mrn'];
        params.patient = patients;
      }
      result = await transport('access', params);
      break;
    }
    case 'report':
      result = await transport(`report/${sub}`, params);
      break;
    case 'activity':
    case 'summary':
      result = await transport(command, params);
      break;
    case 'verify':
      result = await transport('verify', params, { body: { key: hmacKey(values).toString('hex'), encoding: 'hex' } });
      break;
    case 'vip': {
      if (sub === 'list') {
        const list = await transport('vip', {});
        const rows = (JSON.parse(list.text) as { rows: object[] }).rows;
        output(sink, values, table('vip', 'VIP watch list', rows, VIP_COLUMNS));
        return 0;
      }
      if (sub !== 'add' && sub !== 'remove') throw new UsageError('audit vip needs add, remove or list');
      const patients = (values.patient as string[] | undefined) ?? [];
      if (patients.length === 0) throw new UsageError(`audit vip ${sub} needs --patient <id>`);
      const tenant = typeof values.tenant === 'string' ? values.tenant : '';
      for (const patient of patients) {
        if (sub === 'add') {
          const reason = typeof values.reason === 'string' ? values.reason : '';
          await transport('vip', {}, { body: { patient, tenant, reason } });
        } else await transport('vip', { patient, tenant }, { method: 'DELETE' });
      }
      process.stderr.write(`audit vip ${sub}: ${patients.length} patient${patients.length === 1 ? '' : 's'}\n`);
      return 0;
    }
    case 'incidents':
      return incidents(sink, transport, sub, id, values);
    default: {
      const unhandled: never = command;
      throw new UsageError(`unknown audit command '${String(unhandled)}'`);
    }
  }
  write(values, result);
  return result.verifyOk === false ? 3 : 0;
}

const INCIDENT_COLUMNS = [
  'incident_id',
  'state',
  'report',
  'tenant_id',
  'tenant_name',
  'principal',
  'rows',
  'patients',
  'period_from',
  'period_to',
  'detected_at',
];

/** `audit incidents list|show|ack|close`: the query API's incidents route, on the one read path. */
async function incidents(
  sink: Sink,
  transport: QueryTransport,
  sub: string | undefined,
  id: string | undefined,
  values: Values,
): Promise<number> {
  if (sub === 'list') {
    if (id !== undefined) throw new UsageError('audit incidents list takes no id');
    const params: Record<string, string> = {};
    for (const name of ['state', 'tenant', 'limit']) {
      const value = values[name];
      if (typeof value === 'string') params[name] = value;
    }
    const answer = JSON.parse((await transport('incidents', params)).text) as { rows: object[] };
    output(sink, values, table('incidents', 'Incidents', answer.rows, INCIDENT_COLUMNS));
    return 0;
  }
  if (sub !== 'show' && sub !== 'ack' && sub !== 'close') {
    throw new UsageError('audit incidents needs list, show <id>, ack <id> or close <id> --note <text>');
  }
  if (id === undefined || id === '') throw new UsageError(`audit incidents ${sub} needs the incident id`);
  if (sub === 'show') {
    const detail = JSON.parse((await transport('incidents', { id })).text) as {
      incident: Record<string, unknown>;
      events: object[];
      deliveries: object[];
    };
    if (values.format === 'json') {
      write(values, { status: 200, contentType: 'application/json', text: JSON.stringify(detail) });
      return 0;
    }
    const { patient_ids: _phi, ...incident } = detail.incident;
    output(sink, values, table('incident', `Incident ${id}`, [incident], INCIDENT_COLUMNS));
    output(
      sink,
      values,
      table('incident-events', 'State changes', detail.events, ['at', 'actor', 'from_state', 'to_state', 'note']),
    );
    output(
      sink,
      values,
      table('incident-deliveries', 'Deliveries', detail.deliveries, [
        'destination',
        'status',
        'attempts',
        'next_attempt_at',
        'last_error',
      ]),
    );
    return 0;
  }
  const note = typeof values.note === 'string' ? values.note : undefined;
  if (sub === 'close' && (note === undefined || note.trim() === '')) {
    throw new UsageError('audit incidents close needs --note <text>');
  }
  await transport('incidents', {}, { body: { id, action: sub, ...(note === undefined ? {} : { note }) } });
  process.stderr.write(`audit incidents ${sub}: ${id} ${sub === 'ack' ? 'acknowledged' : 'closed'}
`);
  return 0;
}

/** The answer as the API rendered it; JSON and FHIR indented for reading (the same bytes on every path). */
function write(values: Values, result: RemoteQueryResult): void {
  const format = values.format ?? 'table';
  const text =
    format === 'json' || format === 'fhir' ? `${JSON.stringify(JSON.parse(result.text), null, 2)}\n` : result.text;
  // csv and fhir have no header line of their own: the notes go to stderr there
  for (const note of result.notes ?? []) process.stderr.write(`note: ${note}\n`);
  if (typeof values.out === 'string') writeFileSync(values.out, text);
  else process.stdout.write(text);
}

function output(sink: Sink, values: Values, report: Queries.Report<object>): void {
  const format = (values.format ?? 'table') as Queries.OutputFormat;
  if (!sink.OUTPUT_FORMATS.includes(format)) {
    throw new UsageError(`--format must be one of ${sink.OUTPUT_FORMATS.join(', ')}`);
  }
  const shape = String(values['fhir-shape'] ?? 'r4').toUpperCase();
  if (shape !== 'R4' && shape !== 'STU3') throw new UsageError('--fhir-shape must be r4 or stu3');
  const text = sink.formatReport(report, format, { fhirShape: shape });
  // csv and fhir have no header line of their own: the notes go to stderr there
  if (format !== 'table' && format !== 'json') {
    for (const note of report.notes ?? []) process.stderr.write(`note: ${note}\n`);
  }
  if (typeof values.out === 'string') writeFileSync(values.out, text);
  else process.stdout.write(text);
}

function hmacKey(values: Values): Buffer {
  const encoding = values['hmac-key-encoding'];
  if (encoding !== undefined && encoding !== 'hex' && encoding !== 'utf8') {
    throw new UsageError('--hmac-key-encoding must be hex or utf8');
  }
  // A key file is hex or a passphrase (auto); the environment variable is text unless told hex.
  if (typeof values['hmac-key-file'] === 'string') return readHmacKeyFile(values['hmac-key-file'], encoding ?? 'auto');
  const env = process.env.FHIRWATCH_AUDIT_HMAC_KEY;
  if (env) return encoding === 'hex' ? hmacKeyFromText(env, 'hex') : Buffer.from(env, 'utf8');
  throw new UsageError('audit verify needs --hmac-key-file <file> or FHIRWATCH_AUDIT_HMAC_KEY');
}

const VIP_COLUMNS = ['tenant_id', 'patient_id', 'reason', 'changed_by', 'since'];

function table(name: string, title: string, rows: object[], keys = Object.keys(rows[0] ?? {})): Queries.Report<object> {
  return { name, title, parameters: {}, columns: keys.map((key) => ({ key, header: key })), rows };
}

/** `--threshold report.option=value` → `{ report: { option: value } }`, each checked against the registry. */
function thresholds(sink: Sink, list: string[]): Record<string, Record<string, string | number | boolean>> {
  const out: Record<string, Record<string, string | number | boolean>> = {};
  for (const item of list) {
    const match = /^([a-z-]+)\.([A-Za-z]+)=(.+)$/.exec(item);
    if (!match) throw new UsageError('--threshold must be <report>.<option>=<value>, e.g. name-probing.minSearches=20');
    const [, report = '', name = '', text = ''] = match;
    const def = sink.getReportDef(report);
    const option = def?.options.find((o) => o.name === name || o.flag === name);
    if (def === undefined || option === undefined || !option.tenantSetting) {
      throw new UsageError(
        `--threshold ${report}.${name}: no such report threshold (see fhirwatch audit --help, [setting])`,
      );
    }
    out[report] = { ...out[report], [option.name]: sink.parseOptionValue(option, text) as string | number | boolean };
  }
  return out;
}

/** `--incident-settings '<json>'`: the tenant's incident settings (checked by the store's settings validation). */
function incidentSettings(text: string): Queries.TenantIncidentSettings {
  try {
    return JSON.parse(text) as Queries.TenantIncidentSettings;
  } catch {
    throw new UsageError('--incident-settings must be JSON, e.g. {"intervalMinutes":15,"patientIds":false}');
  }
}

async function settings(
  sink: Sink,
  action: string | undefined,
  values: Values,
  client: ClickHouseClient,
): Promise<Queries.Report<object> | undefined> {
  const tenant = typeof values.tenant === 'string' ? values.tenant : undefined;
  if (action === 'show' || action === 'list') {
    const rows = (await sink.listTenantSettings(client))
      .filter((entry) => tenant === undefined || entry.tenant_id === tenant)
      .map((entry) => ({
        tenant_id: entry.tenant_id,
        tenant_name: entry.settings.displayName ?? '',
        time_zone: entry.settings.timeZone ?? '',
        work_hours: entry.settings.workHours?.join('-') ?? '',
        work_days: entry.settings.workDays?.join(',') ?? '',
        holidays: entry.settings.holidays?.join(',') ?? '',
        thresholds: entry.settings.thresholds ?? {},
        incidents: entry.settings.incidents ?? {},
        changed_by: entry.changed_by,
        changed_at: entry.changed_at,
      }));
    const report = table('settings', 'Tenant settings', rows);
    return tenant !== undefined && rows.length === 0
      ? { ...report, notes: [`No stored settings for tenant ${tenant}: reports use the defaults.`] }
      : report;
  }
  if (action !== 'set' && action !== 'clear') throw new UsageError('audit settings needs show, set or clear');
  if (tenant === undefined || tenant === '') throw new UsageError(`audit settings ${action} needs --tenant <id>`);
  if (action === 'clear') {
    await sink.clearTenantSettings(client, { tenantId: tenant, changedBy: userInfo().username });
    process.stderr.write(`audit settings clear: tenant ${tenant}\n`);
    return undefined;
  }
  const change = {
    ...(typeof values['tenant-name'] === 'string' ? { displayName: values['tenant-name'] } : {}),
    ...workTimeFlags(sink, values),
    ...(values.threshold === undefined ? {} : { thresholds: thresholds(sink, values.threshold as string[]) }),
    ...(typeof values['incident-settings'] === 'string'
      ? { incidents: incidentSettings(values['incident-settings']) }
      : {}),
  };
  if (Object.keys(change).length === 0) {
    throw new UsageError(
      'audit settings set needs --tenant-name, --time-zone, --hours, --days, --holidays, --threshold or --incident-settings',
    );
  }
  await sink.updateTenantSettings(client, { tenantId: tenant, changedBy: userInfo().username, settings: change });
  process.stderr.write(`audit settings set: tenant ${tenant}\n`);
  return undefined;
}

function usage(sink: Sink): string {
  return `${HEAD}${sink.reportUsage()}`;
}

const SUBCOMMANDS = new Set(['report', 'vip', 'settings']);
/** Commands with a sub-command and an id (`incidents show <id>`). */
const SUB_AND_ID = new Set(['incidents']);
const IMPORTS = new Set(['relationships', 'groups']);

async function importFile(
  sink: Sink,
  command: string,
  sub: string | undefined,
  file: string | undefined,
  values: Values,
  client: ClickHouseClient,
): Promise<void> {
  if (sub !== 'import' || file === undefined) throw new UsageError(`audit ${command} needs import <file.csv>`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
  const options = {
    ...(typeof values.tenant === 'string' ? { tenantId: values.tenant } : {}),
    source: file.split(/[\\/]/).pop() ?? file,
    importedBy: userInfo().username,
  };
  const result =
    command === 'relationships'
      ? await sink.importCareRelationships(client, text, options)
      : await sink.importGroupMembers(client, text, options);
  process.stderr.write(`audit ${command} import: ${result.rows} row${result.rows === 1 ? '' : 's'} stored\n`);
}

export async function run(args: string[]): Promise<number> {
  invokedWith = args;
  const sink = await import('@fhirwatch/clickhouse-sink/compliance');
  const { values, positionals } = parseArgs({
    args,
    options: optionsFor(sink),
    allowPositionals: true,
    allowNegative: true,
    strict: true,
  }) as { values: Values; positionals: string[] };
  const [command, sub, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(usage(sink));
    return command === undefined && !values.help ? 2 : 0;
  }
  const allowedPositionals = SUBCOMMANDS.has(command) ? 1 : IMPORTS.has(command) || SUB_AND_ID.has(command) ? 2 : 0;
  if ((sub === undefined ? 0 : 1) + extra.length > allowedPositionals) throw new UsageError('too many arguments');
  if (command === 'report' && (sub === undefined || sink.getReportDef(sub) === undefined)) {
    throw new UsageError(`audit report needs one of: ${sink.REPORT_NAMES.join(', ')}`);
  }
  if (command === 'activity' && (typeof values.user !== 'string' || values.user === '')) {
    throw new UsageError('audit activity needs --user <id>');
  }
  if (command === 'access' && values.patient === undefined && values['patient-mrn'] === undefined) {
    throw new UsageError('audit access needs --patient <id> or --patient-mrn <mrn>');
  }
  if (!isRead(command) && !isStore(command)) {
    throw new UsageError(`unknown audit command '${command}' (try fhirwatch audit --help)`);
  }
  const sinkUrl = values['sink-url'];
  if (sinkUrl !== undefined && (values.store !== undefined || values['clickhouse-url'] !== undefined)) {
    throw new UsageError('give exactly one of --store, --clickhouse-url or --sink-url');
  }
  try {
    if (isRead(command)) {
      const { httpQuery } = await import('@fhirwatch/clickhouse-sink/query-client');
      const actor = actorOf(values);
      if (typeof sinkUrl === 'string') {
        const token = process.env.FHIRWATCH_QUERY_TOKEN || undefined;
        return await read(
          sink,
          httpQuery(sinkUrl, { ...(token === undefined ? {} : { token }), actor }),
          command,
          sub,
          values,
          extra[0],
        );
      }
      const { inProcessQuery } = await import('@fhirwatch/clickhouse-sink/query-api');
      return await withStore(values, (client) =>
        read(
          sink,
          inProcessQuery({ client, actor, principal: `os:${userInfo().username}` }),
          command,
          sub,
          values,
          extra[0],
        ),
      );
    }
    if (sinkUrl !== undefined) {
      throw new UsageError(`audit ${command} needs --store or --clickhouse-url (the query API does not serve it)`);
    }
    return await withStore(values, async (client) => {
      switch (command) {
        case 'relationships':
        case 'groups':
          await importFile(sink, command, sub, extra[0], values, client);
          return 0;
        case 'settings': {
          const list = await settings(sink, sub, values, client);
          if (list) output(sink, values, list);
          return 0;
        }
        default: {
          const unhandled: never = command;
          throw new UsageError(`unknown audit command '${String(unhandled)}'`);
        }
      }
    });
  } catch (error) {
    return failed(sink, error, typeof sinkUrl === 'string' ? sinkUrl : undefined);
  }
}

/** How a failed command ends, the same for every path: usage errors exit 2, the rest print their code and exit 1. */
async function failed(sink: Sink, error: unknown, sinkUrl: string | undefined): Promise<number> {
  const { RemoteQueryError } = await import('@fhirwatch/clickhouse-sink/query-client');
  const { invalidOption, invalidRange } = sink.AUDIT_QUERY_ERROR_CODES;
  if (error instanceof RemoteQueryError || error instanceof sink.AuditQueryError) {
    if (error.code === invalidOption || error.code === invalidRange) throw new UsageError(error.message);
    // the API names ClickHouse's error by its code only (its messages may quote parameter values: PHI)
    const hint =
      error.code === 'FW_SINK_QUERY_FAILED' && /UNKNOWN_TABLE|ClickHouse 60\b/.test(error.message)
        ? ': the store has no audit tables (run `fhirwatch sink migrate`)'
        : '';
    process.stderr.write(`fhirwatch audit: ${error.message}${hint} (${error.code})\n`);
    return 1;
  }
  const code = (error as { code?: string }).code;
  if (code === STORE_BUSY) {
    process.stderr.write(`fhirwatch audit: ${(error as Error).message} (${STORE_BUSY})\n`);
    return 1;
  }
  if (sinkUrl !== undefined && (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') {
    process.stderr.write(`fhirwatch audit: no sink answers at ${sinkUrl} (${SINK_UNREACHABLE})\n`);
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
