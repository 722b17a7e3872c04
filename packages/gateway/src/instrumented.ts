/**
 * The gateway as partners deploy it: `createGateway` wrapped by the `fhirAudit` middleware (exactly
 * as a partner wraps their own service), `setupTelemetry` when an OTLP endpoint is configured, and a
 * graceful shutdown (stop accepting and finish requests, flush the spool, drain it to the sink within
 * a bound, release the spool, flush telemetry). The CLI `gateway` command, the demo, the e2e tests
 * and the benches all start the gateway through this one function.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  AUDIT_EVENT_TYPES,
  DEFAULT_FHIR_VERSION,
  type FhirVersion,
  formatHmacKeyFile,
  PATIENTS_APP_RESOURCES,
  parseHmacKeyFile,
} from '@fhirwatch/contract';
import {
  AUDIT_ERROR_CODES,
  type FhirAudit,
  type FhirAuditError,
  type FhirAuditOptions,
  fhirAudit,
  readKeyFile,
  setupTelemetry,
  type Telemetry,
} from '@fhirwatch/otel-middleware';
import { rootVersionProblem } from './config.ts';
import { GatewayError } from './errors.ts';
import { createGateway } from './gateway.ts';
import { withHealthRoutes } from './health.ts';
import type { AuditConfig, Gateway, GatewayConfig, GatewayOptions, UserIdentity } from './types.ts';

export interface InstrumentedGatewayOptions {
  /** Request log lines (JSON, no PHI). */
  log?: (line: string) => void;
  /** Spool/shipper errors (PHI-free). Default: OTel diag. */
  onAuditError?: (error: FhirAuditError) => void;
  /** The chain key itself, instead of `audit.hmacKeyFile` (tests, secret stores). */
  hmacKey?: string | Buffer;
  /**
   * Where the audit spool-health lines go (entering/leaving the failed state; JSON, no PHI). Default stderr,
   * whatever the request log setting (`--quiet` does not silence them).
   */
  spoolHealthLog?: (line: string) => void;
}

export interface InstrumentedGateway {
  readonly gateway: Gateway;
  /** Base URL (public URL when configured). */
  readonly url: string;
  /** The middleware, when the audit is on. */
  readonly audit: FhirAudit | undefined;
  readonly telemetry: Telemetry | undefined;
  /** What is audited and where it goes, one line each (printed at start). */
  readonly summary: readonly string[];
  /** Close the gateway, flush + drain (bounded) + release the audit spool, flush telemetry. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Read the chain key from `file` (the contract's key-file format: hex), creating a random one (0600, its folder 0700) when missing; a file open
 * to group or others is refused with the fix (`chmod 600 <file>`).
 */
export function loadHmacKey(file: string): Buffer {
  let text: string;
  try {
    text = readKeyFile(file);
  } catch (error) {
    if ((error as { code?: string }).code === AUDIT_ERROR_CODES.keyFileMode) {
      throw new GatewayError('FW_GATEWAY_CONFIG_INVALID', `audit.hmacKeyFile: ${(error as Error).message}`, {
        cause: error,
        key: 'audit.hmacKeyFile',
      });
    }
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new GatewayError('FW_GATEWAY_CONFIG_INVALID', 'audit.hmacKeyFile cannot be read', {
        cause: error,
        key: 'audit.hmacKeyFile',
      });
    }
    const key = randomBytes(32);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, formatHmacKeyFile(key), { mode: 0o600, flag: 'wx' });
      return key;
    } catch (writeError) {
      // Another process created it first: use theirs.
      if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError;
      text = readKeyFile(file);
    }
  }
  const key = parseHmacKeyFile(text);
  if (key === undefined) {
    throw new GatewayError('FW_GATEWAY_CONFIG_INVALID', 'audit.hmacKeyFile must hold at least 16 bytes as hex', {
      key: 'audit.hmacKeyFile',
    });
  }
  return Buffer.from(key);
}

/**
 * The ingest token: FHIRWATCH_INGEST_TOKEN (already in `ingestToken`) or the first line of `ingestTokenFile`, read
 * like the key file (a file open to group or others is refused with the fix).
 */
export function resolveIngestToken(audit: AuditConfig): string | undefined {
  if (audit.ingestToken !== undefined || audit.ingestTokenFile === undefined) return audit.ingestToken;
  let text: string;
  try {
    text = readKeyFile(audit.ingestTokenFile);
  } catch (error) {
    const mode = (error as { code?: string }).code === AUDIT_ERROR_CODES.keyFileMode;
    throw new GatewayError(
      'FW_GATEWAY_CONFIG_INVALID',
      mode ? `audit.ingestTokenFile: ${(error as Error).message}` : 'audit.ingestTokenFile cannot be read',
      { cause: error, key: 'audit.ingestTokenFile' },
    );
  }
  if (text === '' || /\s/.test(text)) {
    throw new GatewayError('FW_GATEWAY_CONFIG_INVALID', 'audit.ingestTokenFile must hold one token', {
      key: 'audit.ingestTokenFile',
    });
  }
  return text;
}

const IDENTITY_TEXT: Record<UserIdentity['source'], (identity: UserIdentity) => string> = {
  none: () => 'none (the Patients app authenticates as an application: user_id stays empty)',
  header: () => 'x-fhirwatch-user-id / x-fhirwatch-user-name from the trusted upstream (never forwarded)',
  claim: (identity) => `claim "${identity.source === 'claim' ? identity.claim : ''}" of the verified access token`,
};

function auditOptions(
  audit: AuditConfig,
  fhirVersion: FhirVersion,
  hmacKey: string | Buffer,
  onError: InstrumentedGatewayOptions['onAuditError'],
): FhirAuditOptions {
  const options: FhirAuditOptions = {
    mode: audit.mode,
    onSpoolFailure: audit.onSpoolFailure,
    spoolDir: audit.spoolDir,
    recordedBy: audit.recordedBy,
    hmacKey,
    disclosure: audit.disclosure,
    fhirVersion,
    trustedUserHeaders: audit.userIdentity.source === 'header',
  };
  if (audit.sinkUrl !== undefined) options.sinkUrl = audit.sinkUrl;
  if (audit.gzip !== undefined) options.gzip = audit.gzip;
  if (audit.emitLogs !== undefined) options.emitLogs = audit.emitLogs;
  if (audit.flushIntervalMs !== undefined) options.flushIntervalMs = audit.flushIntervalMs;
  if (audit.shipIntervalMs !== undefined) options.shipIntervalMs = audit.shipIntervalMs;
  if (audit.minBackoffMs !== undefined) options.minBackoffMs = audit.minBackoffMs;
  if (audit.maxBackoffMs !== undefined) options.maxBackoffMs = audit.maxBackoffMs;
  if (audit.maxSpoolBytes !== undefined) options.maxSpoolBytes = audit.maxSpoolBytes;
  if (audit.maxResponseBodyBytes !== undefined) options.maxResponseBodyBytes = audit.maxResponseBodyBytes;
  if (onError !== undefined) options.onError = onError;
  return options;
}

/** The startup summary: what is audited, where records go, the spool and key paths, telemetry. */
export function describeGateway(
  config: GatewayConfig,
  gateway: Pick<Gateway, 'url' | 'tenants'>,
  issuer: string,
): string[] {
  const tenants = Object.values(gateway.tenants());
  const versions = [...new Set(tenants.map((t) => t.fhirVersion))].sort();
  const lines = [
    `gateway      ${gateway.url}  (${tenants.length} tenant(s): ${versions.join(', ') || 'none yet'}; read-only)`,
    `tokens       iss/aud ${issuer}`,
  ];
  const audit = config.audit;
  if (audit === false) {
    lines.push('audit        OFF ("audit": false): no audit records are written');
  } else {
    const resources = [...new Set(versions.flatMap((v) => PATIENTS_APP_RESOURCES[v as FhirVersion]))].join(', ');
    lines.push(
      `audit        ON, ${audit.mode}: the ${AUDIT_EVENT_TYPES.length} event types of audit-events.md (${AUDIT_EVENT_TYPES.join(', ')}) for every FHIR request, batch entry and export on ${resources || 'the contract resources'}; one record per disclosed patient; disclosure ${audit.disclosure}`,
      `audit user   ${IDENTITY_TEXT[audit.userIdentity.source](audit.userIdentity)}`,
      audit.sinkUrl === undefined
        ? 'records to   (no sink configured: records stay in the spool until one is)'
        : `records to   ${audit.sinkUrl}/v1/audit  (recorded_by ${audit.recordedBy})`,
      `spool        ${audit.spoolDir}`,
      audit.onSpoolFailure === 'refuse'
        ? 'spool full   audited requests are REFUSED (503) while the spool cannot take records (onSpoolFailure: refuse)'
        : 'spool full   audited requests are SERVED WITHOUT AUDIT RECORDS while the spool cannot take records (onSpoolFailure: serve)',
      `hmac key     ${audit.hmacKeyFile}`,
    );
  }
  lines.push(
    config.telemetry === false
      ? 'telemetry    off (no telemetry.otlpEndpoint)'
      : `telemetry    OTLP/HTTP ${config.telemetry.otlpEndpoint} (traces, metrics, logs; service ${config.telemetry.serviceName}; no PHI)`,
  );
  return lines;
}

/**
 * Start the gateway with its audit middleware and telemetry from a validated config
 * (`parseGatewayConfig` / `loadGatewayConfigFile`). Refuses tenants of both FHIR versions without
 * `defaultFhirVersion` (tenants added through the admin API count too).
 */
export async function startInstrumentedGateway(
  config: GatewayConfig,
  options: InstrumentedGatewayOptions = {},
): Promise<InstrumentedGateway> {
  const base = config.gateway;
  const fileProblem = rootVersionProblem(base.tenants ?? {}, base.defaultFhirVersion);
  if (fileProblem !== undefined) {
    throw new GatewayError('FW_GATEWAY_CONFIG_INVALID', `"defaultFhirVersion" ${fileProblem}`, {
      key: 'defaultFhirVersion',
    });
  }
  const fileVersions = [...new Set(Object.values(base.tenants ?? {}).map((t) => t.fhirVersion))];
  const fhirVersion: FhirVersion =
    base.defaultFhirVersion ?? (fileVersions.length === 1 ? (fileVersions[0] as FhirVersion) : DEFAULT_FHIR_VERSION);

  const ingestToken = config.audit === false ? undefined : resolveIngestToken(config.audit);
  // the writer's credential goes with telemetry only to the sink it was made for, never to another collector
  const telemetryToSink =
    config.audit !== false &&
    config.telemetry !== false &&
    config.audit.sinkUrl !== undefined &&
    new URL(config.telemetry.otlpEndpoint).origin === new URL(config.audit.sinkUrl).origin;
  const telemetry =
    config.telemetry === false
      ? undefined
      : setupTelemetry({
          endpoint: config.telemetry.otlpEndpoint,
          ...(telemetryToSink && ingestToken !== undefined
            ? { headers: { authorization: `Bearer ${ingestToken}` } }
            : {}),
          serviceName: config.telemetry.serviceName,
          ...(config.telemetry.metricExportIntervalMs === undefined
            ? {}
            : { metricExportIntervalMs: config.telemetry.metricExportIntervalMs }),
          ...(config.telemetry.spanExportDelayMs === undefined
            ? {}
            : { scheduledDelayMillis: config.telemetry.spanExportDelayMs }),
        });
  let audit: FhirAudit | undefined;
  let gateway: Gateway | undefined;
  try {
    if (config.audit !== false) {
      const key = options.hmacKey ?? loadHmacKey(config.audit.hmacKeyFile);
      audit = fhirAudit({
        ...auditOptions(config.audit, fhirVersion, key, options.onAuditError),
        ...(ingestToken === undefined ? {} : { ingestToken }),
        ...(options.spoolHealthLog === undefined ? {} : { spoolHealthLog: options.spoolHealthLog }),
      });
      await audit.ready();
    }
    const gatewayOptions: GatewayOptions = { ...base };
    if (options.log !== undefined) gatewayOptions.log = options.log;
    if (config.audit !== false && config.audit.userIdentity.source === 'claim') {
      gatewayOptions.userClaim = config.audit.userIdentity.claim;
    }
    const wrap = audit;
    // /healthz and /readyz go in front of the audit middleware (probes are not FHIR traffic)
    gatewayOptions.wrapHandler = (handler) => withHealthRoutes(wrap === undefined ? handler : wrap.wrap(handler), wrap);
    gateway = await createGateway(gatewayOptions);
    // Tenants stored through the admin API join at start: check the merged map too.
    const problem = rootVersionProblem(gateway.tenants(), base.defaultFhirVersion);
    if (problem !== undefined) {
      throw new GatewayError('FW_GATEWAY_CONFIG_INVALID', `"defaultFhirVersion" ${problem}`, {
        key: 'defaultFhirVersion',
      });
    }
  } catch (error) {
    await gateway?.close();
    await audit?.shutdown();
    await telemetry?.shutdown();
    throw error;
  }
  const started = gateway;
  const issuer = started.issuer;
  const summary = describeGateway(config, started, issuer);
  const drainTimeoutMs = config.audit === false ? 0 : config.audit.drainTimeoutMs;
  const hasSink = config.audit !== false && config.audit.sinkUrl !== undefined;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await started.close();
      if (audit !== undefined) {
        await audit.flush();
        if (hasSink && drainTimeoutMs > 0) {
          // Bounded: an unreachable sink must not hold the shutdown; unshipped records stay spooled.
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            audit.drain().catch(() => undefined),
            new Promise<void>((done) => {
              timer = setTimeout(done, drainTimeoutMs);
            }),
          ]);
          clearTimeout(timer);
        }
        await audit.shutdown();
      }
      if (telemetry !== undefined) {
        await telemetry.forceFlush().catch(() => undefined);
        await telemetry.shutdown().catch(() => undefined);
      }
    })();
    return closing;
  };
  return {
    gateway: started,
    url: started.url,
    audit,
    telemetry,
    summary,
    close,
    [Symbol.asyncDispose]: close,
  };
}
