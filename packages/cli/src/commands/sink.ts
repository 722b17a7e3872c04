/**
 * `fhirwatch sink`: run the ClickHouse sink (audit ingest + OTLP receiver) until SIGINT/SIGTERM; the first
 * stdout line is its base URL. `fhirwatch sink migrate` applies the schema migrations; `fhirwatch sink ddl`
 * prints the DDL (single node, or the cluster variant with --cluster).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import {
  type IncidentsOptions,
  migrate,
  openStore,
  type SchemaOptions,
  type SinkOptions,
  startSink,
} from '@fhirwatch/clickhouse-sink';
import { renderSchemaScript } from '@fhirwatch/clickhouse-sink/store';
import { UsageError } from '../command.ts';
import { numberFlag, readHmacKeyFile, STORE_OPTIONS, storeSource } from '../flags.ts';
import { stopSignal } from '../stop.ts';
import { credentialsFromEnv } from './console.ts';

export const description = 'Run the audit/telemetry sink (ClickHouse or embedded chDB); `sink migrate`, `sink ddl`';

const USAGE = `Usage: fhirwatch sink [options]            serve /v1/audit, /v1/traces|logs|metrics, /healthz, /readyz
       fhirwatch sink migrate [options]    apply the schema migrations and exit
       fhirwatch sink ddl [--cluster <name>] [--database <db>]   print the DDL

  --store <dir>                 embedded chDB data directory
  --clickhouse-url <url>        a ClickHouse server instead (user/password from FHIRWATCH_CLICKHOUSE_USER /
                                FHIRWATCH_CLICKHOUSE_PASSWORD; CLICKHOUSE_USER / CLICKHOUSE_PASSWORD still read)
  --username <name>             ClickHouse user
  --database <db>               database (default: default)
  --port <n>                    port (default 0: any free port)
  --host <addr>                 bind address (default 127.0.0.1; any other needs query and ingest credentials)
  --console                     also serve the web console at the sink's URL (fhirwatch console)
  --hmac-key-file <file>        the audit writers' HMAC key, for the query API's verify and the console
  --incidents <file.json>       run the monitoring reports on each tenant's schedule and send new incidents to
                                the destinations of this config (Teams, JSON webhook, syslog/CEF; see the sink
                                README, "Incidents"); off without it
  --spool <dir>                 telemetry spool (default <store>/spool or .fhirwatch/sink-spool)
  --audit-retention-days <n>    audit TTL (default 2557, 7 years)
  --telemetry-retention-days <n> telemetry TTL (default 30)
  --cluster <name>              (migrate, ddl) cluster variant, e.g. '{cluster}'

Credentials (environment; design in packages/clickhouse-sink/README.md, "Authentication and authorization"):
  FHIRWATCH_QUERY_TOKENS        officers' read tokens, name:token pairs (comma or newline separated); every read
                                is recorded in audit_query_log with the officer's name
  FHIRWATCH_QUERY_TOKEN         one shared read token (recorded as the officer 'query-token')
  FHIRWATCH_INGEST_TOKENS       writers' ingest tokens, writer:token pairs; a writer's token carries only records
                                recorded_by that writer (the gateway sends it from FHIRWATCH_INGEST_TOKEN)
  Without any: loopback only, same-origin requests with a loopback Host. With read tokens, ingest tokens too.
`;

interface Parsed {
  sink: SinkOptions;
  console: boolean;
  schema: SchemaOptions;
  help: boolean;
}

function parse(args: string[]): Parsed {
  const { values } = parseArgs({
    args,
    options: {
      ...STORE_OPTIONS,
      username: { type: 'string' },
      database: { type: 'string' },
      port: { type: 'string' },
      spool: { type: 'string' },
      'audit-retention-days': { type: 'string' },
      'telemetry-retention-days': { type: 'string' },
      cluster: { type: 'string' },
      host: { type: 'string' },
      console: { type: 'boolean', default: false },
      'hmac-key-file': { type: 'string' },
      incidents: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const sink: SinkOptions = {};
  const schema: SchemaOptions = {};
  const source = storeSource(values, { required: false });
  if (source?.kind === 'store') sink.store = source.path;
  if (source?.kind === 'clickhouse') {
    sink.clickhouseUrl = source.url;
    if (source.username !== undefined) sink.username = source.username;
    if (source.password !== undefined) sink.password = source.password;
  }
  if (values.username !== undefined) sink.username = values.username;
  if (values.database !== undefined) sink.database = schema.database = values.database;
  if (values.spool !== undefined) sink.spoolDir = values.spool;
  const port = numberFlag('port', values.port, { min: 0, max: 65535 });
  if (port !== undefined) sink.port = port;
  const auditDays = numberFlag('audit-retention-days', values['audit-retention-days'], { min: 1, max: 36_500 });
  if (auditDays !== undefined) sink.auditRetentionDays = schema.auditRetentionDays = auditDays;
  const telemetryDays = numberFlag('telemetry-retention-days', values['telemetry-retention-days'], {
    min: 1,
    max: 36_500,
  });
  if (telemetryDays !== undefined) sink.telemetryRetentionDays = schema.telemetryRetentionDays = telemetryDays;
  if (values.cluster !== undefined) schema.cluster = values.cluster;
  if (values.host !== undefined) sink.host = values.host;
  const token = process.env.FHIRWATCH_QUERY_TOKEN || undefined;
  const tokens = credentialsFromEnv('FHIRWATCH_QUERY_TOKENS');
  const ingestTokens = credentialsFromEnv('FHIRWATCH_INGEST_TOKENS');
  if (ingestTokens.length > 0) sink.ingestTokens = ingestTokens;
  sink.queryApi = {
    ...(token === undefined ? {} : { token }),
    ...(tokens.length === 0 ? {} : { tokens }),
    ...(values['hmac-key-file'] === undefined ? {} : { hmacKey: readHmacKeyFile(values['hmac-key-file']) }),
  };
  if (values.incidents !== undefined) sink.incidents = incidentsConfig(values.incidents);
  return { sink, schema, console: values.console, help: values.help };
}

/** The incidents config file (JSON: destinations, allowHosts, consoleUrl, intervalMinutes, periodHours, …). */
function incidentsConfig(file: string): IncidentsOptions {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new UsageError(`--incidents: cannot read ${file} as JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('--incidents: the file must hold a JSON object');
  }
  return value as IncidentsOptions;
}

function requireStore(sink: SinkOptions): void {
  if ((sink.store === undefined) === (sink.clickhouseUrl === undefined)) {
    throw new UsageError('give exactly one of --store <dir> or --clickhouse-url <url>');
  }
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'ddl') {
    const { schema, help } = parse(rest);
    if (help) return usage();
    process.stdout.write(renderSchemaScript(schema));
    return 0;
  }
  if (sub === 'migrate') {
    const { sink, schema, help } = parse(rest);
    if (help) return usage();
    requireStore(sink);
    const client = openStore({
      ...(sink.store === undefined ? {} : { path: sink.store }),
      ...(sink.clickhouseUrl === undefined ? {} : { url: sink.clickhouseUrl }),
      ...(sink.username === undefined ? {} : { username: sink.username }),
      ...(sink.password === undefined ? {} : { password: sink.password }),
      ...(sink.database === undefined ? {} : { database: sink.database }),
    });
    try {
      const result = await migrate(client, schema);
      process.stdout.write(
        `applied: ${result.applied.join(', ') || 'none'}; already applied: ${result.skipped.join(', ') || 'none'}` +
          `${result.retentionChanged.length > 0 ? `; retention changed: ${result.retentionChanged.join(', ')}` : ''}\n`,
      );
      return 0;
    } finally {
      await client.close();
    }
  }
  const { sink, schema, console: withConsole, help } = parse(args);
  if (help) return usage();
  if (schema.cluster !== undefined) throw new UsageError('--cluster applies to `sink migrate` and `sink ddl`');
  requireStore(sink);
  if (withConsole) {
    const { consoleHandler, consolePanels } = await import('@fhirwatch/console');
    sink.queryApi = { panels: consolePanels(), ...sink.queryApi };
    sink.mount = consoleHandler();
  }
  let server: Awaited<ReturnType<typeof startSink>>;
  try {
    server = await startSink(sink);
  } catch (error) {
    if ((error as { code?: string }).code === 'FW_SINK_OPTIONS') throw new UsageError((error as Error).message);
    throw error;
  }
  process.stdout.write(`${server.url}\n`);
  if (withConsole) process.stderr.write(`fhirwatch sink: console at ${server.url}/\n`);
  const signal = await stopSignal().requested;
  process.stderr.write(`fhirwatch sink: ${signal}, flushing and closing\n`);
  await server.close();
  return 0;
}

function usage(): number {
  process.stdout.write(USAGE);
  return 0;
}
