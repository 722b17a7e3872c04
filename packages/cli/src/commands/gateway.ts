/**
 * `fhirwatch gateway`: run the reference interop gateway as partners deploy it (audit middleware,
 * telemetry, graceful shutdown) until SIGINT/SIGTERM. The first stdout line is the gateway's base
 * URL; then one JSON log line per request (no PHI). What is audited and where it goes is printed on
 * stderr at start. The admin API credential comes from the environment
 * (FHIRWATCH_GATEWAY_ADMIN_TOKEN), never argv.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isAuditErrorCode } from '@fhirwatch/contract';
import {
  type GatewayConfig,
  loadGatewayConfigFile,
  parseGatewayConfig,
  startInstrumentedGateway,
} from '@fhirwatch/gateway';
import { UsageError } from '../command.ts';
import { stopSignal } from '../stop.ts';

export const description =
  'Run the reference interop gateway with audit and telemetry (/metadata, /token, tenant routing, read-only FHIR proxy)';

const USAGE = `Usage: fhirwatch gateway [--config <file>] [options]

  --config <file>          JSON config (see packages/gateway/README.md): tenants, dataDir, publicUrl,
                           audit { sinkUrl, spoolDir, mode, onSpoolFailure, recordedBy, disclosure, userIdentity, hmacKeyFile },
                           telemetry { otlpEndpoint }. Unknown keys and wrong types stop the start.
  --port <n>               port (default 0: any free port)
  --host <addr>            interface (default 127.0.0.1)
  --data-dir <dir>         client registry and signing key (default .fhirwatch/gateway)
  --public-url <url>       base URL clients use (also the tokens' iss/aud)
  --issuer <text>          tokens' iss/aud when there is no public URL (default: an id of the data dir's key)
  --default-fhir-version <DSTU2|STU3>  version of the root /metadata (required with tenants of both)
  --sink-url <url>         audit sink (POST <url>/v1/audit); without it records stay in the spool
  --spool-dir <dir>        audit spool (default <data-dir>/audit-spool)
  --audit-mode <m>         batched (default) | strict (responses wait for their records on disk)
  --on-spool-failure <p>   refuse (default: 503 while the spool cannot take records) | serve (PHI unaudited)
  --recorded-by <id>       writer id of the HMAC chain (default the host name)
  --disclosure <d>         spec (default) | returned
  --user-identity <src>    none (default) | header (trusted upstream x-fhirwatch-user-*) | claim:<name>
  --hmac-key-file <file>   chain key, hex (default <spool-dir>/hmac.key; created when missing)
  --otlp-endpoint <url>    OTLP/HTTP endpoint for spans, metrics and logs (default: no telemetry)
  --no-audit               run without the audit (not for production)
  --quiet                  no request log lines

Flags override the config file. Environment: FHIRWATCH_GATEWAY_ADMIN_TOKEN enables the admin API
(/admin/...) with that bearer token; FHIRWATCH_INGEST_TOKEN is this gateway's writer credential on the sink
(named after --recorded-by there: FHIRWATCH_INGEST_TOKENS=<recordedBy>:<token>), or audit.ingestTokenFile.
`;

/** The object without its undefined members; undefined when none is left. */
function defined(object: Record<string, unknown>): Record<string, unknown> | undefined {
  const out = Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
  return Object.keys(out).length === 0 ? undefined : out;
}

/** Flags in the config file's shape (paths absolute: flags are relative to the working directory). */
function overridesFrom(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const text = (name: string): string | undefined => values[name] as string | undefined;
  const path = (name: string): string | undefined => (text(name) === undefined ? undefined : resolve(text(name)!));
  let port: number | undefined;
  if (text('port') !== undefined) {
    port = Number(text('port'));
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
  }
  const audit: Record<string, unknown> = {
    sinkUrl: text('sink-url'),
    spoolDir: path('spool-dir'),
    mode: text('audit-mode'),
    onSpoolFailure: text('on-spool-failure'),
    recordedBy: text('recorded-by'),
    disclosure: text('disclosure'),
    userIdentity: text('user-identity'),
    hmacKeyFile: path('hmac-key-file'),
  };
  const overrides: Record<string, unknown> = {
    port,
    host: text('host'),
    dataDir: path('data-dir'),
    publicUrl: text('public-url'),
    issuer: text('issuer'),
    defaultFhirVersion: text('default-fhir-version'),
    audit: values['no-audit'] === true ? false : defined(audit),
  };
  if (text('otlp-endpoint') !== undefined) overrides.telemetry = { otlpEndpoint: text('otlp-endpoint') };
  return overrides;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'public-url': { type: 'string' },
      issuer: { type: 'string' },
      'default-fhir-version': { type: 'string' },
      'sink-url': { type: 'string' },
      'spool-dir': { type: 'string' },
      'audit-mode': { type: 'string' },
      'on-spool-failure': { type: 'string' },
      'recorded-by': { type: 'string' },
      disclosure: { type: 'string' },
      'user-identity': { type: 'string' },
      'hmac-key-file': { type: 'string' },
      'otlp-endpoint': { type: 'string' },
      'no-audit': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const overrides = overridesFrom(values);
  let config: GatewayConfig;
  try {
    config =
      values.config === undefined
        ? parseGatewayConfig(overrides, { source: 'flags' })
        : loadGatewayConfigFile(values.config, overrides);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'FW_GATEWAY_CONFIG_INVALID') throw error;
    process.stderr.write(`fhirwatch gateway: ${(error as Error).message} (${code})\n`);
    return 1;
  }
  const adminToken = process.env.FHIRWATCH_GATEWAY_ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken !== '') config.gateway.adminToken = adminToken;
  const ingestToken = process.env.FHIRWATCH_INGEST_TOKEN;
  if (ingestToken !== undefined && ingestToken !== '' && config.audit !== false) config.audit.ingestToken = ingestToken;

  let gateway: Awaited<ReturnType<typeof startInstrumentedGateway>>;
  try {
    gateway = await startInstrumentedGateway(config, {
      ...(values.quiet ? {} : { log: (line: string) => process.stdout.write(`${line}\n`) }),
      onAuditError: (error) => process.stderr.write(`fhirwatch gateway: audit: ${error.message} (${error.code})\n`),
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'FW_GATEWAY_CONFIG_INVALID' && !isAuditErrorCode(code)) throw error;
    process.stderr.write(`fhirwatch gateway: ${(error as Error).message} (${code})\n`);
    return 1;
  }
  process.stdout.write(`${gateway.url}\n`);
  for (const line of gateway.summary) process.stderr.write(`${line}\n`);
  const signal = await stopSignal().requested;
  process.stderr.write(`fhirwatch gateway: ${signal}, flushing the audit spool and closing\n`);
  await gateway.close();
  return 0;
}
