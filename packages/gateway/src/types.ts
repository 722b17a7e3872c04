/** Public options and handles of the gateway. */
import type { RequestListener } from 'node:http';
import type { FhirVersion } from '@fhirwatch/contract';
import type { AuditMode, DisclosureMode } from '@fhirwatch/otel-middleware';
import type { AuthThrottleSettings } from './auth-throttle.ts';
import type { ClientRegistry } from './registry.ts';
import type { VerificationCacheOptions } from './verification-cache.ts';

export type { VerificationCacheOptions } from './verification-cache.ts';

/**
 * Throttle of failed client authentication at `POST /token` (429 `temporarily_unavailable` +
 * `Retry-After`): defaults 10 failures per client id and 30 per source address per 60 s window,
 * 10000 keys tracked of each kind. A limit of 0 turns that kind off.
 */
export type AuthThrottleOptions = Partial<AuthThrottleSettings>;

/** Where one tenant's requests go. */
export interface TenantProvider {
  /** FHIR base URL of the provider (http or https, no query or fragment). */
  baseUrl: string;
  fhirVersion: FhirVersion;
  /** Upstream timeout (connect, headers, body) in ms. Default 10000. */
  timeoutMs?: number;
}

/** Per-client token bucket: `capacity` requests at once, refilled at `refillPerSecond`. */
export interface RateLimitOptions {
  capacity: number;
  refillPerSecond: number;
}

export interface GatewayOptions {
  /** Interface to bind. Default '127.0.0.1'. */
  host?: string;
  /** Port. Default 0 (any free port). */
  port?: number;
  /** Base URL clients use (behind a proxy). Default the bound `http://host:port`. */
  publicUrl?: string;
  /** Holds the client registry (SQLite) and the token signing key. Default `./.fhirwatch/gateway`. */
  dataDir?: string;
  /** Tenant GUID → provider. Tenants stored through the admin API override these. */
  tenants?: Record<string, TenantProvider>;
  /**
   * Version of the unscoped `GET /metadata`. Default: the version of the tenants when they all share
   * one, else STU3. `GET /{tenant}/metadata` always answers in the tenant's version.
   */
  defaultFhirVersion?: FhirVersion;
  /** JWT `iss`. Default the public URL. */
  issuer?: string;
  /** JWT `aud`. Default the issuer. */
  audience?: string;
  /** Access token lifetime. Default 3600 s. */
  tokenTtlSeconds?: number;
  /** Bearer token of the admin API (`/admin/...`). Absent: the admin API answers 404. */
  adminToken?: string;
  /** Largest FHIR request body. Default 1 MiB (413 above). `/token` is capped at 16 KiB. */
  maxBodyBytes?: number;
  /**
   * Most entries in one batch Bundle (413 above). Default 1400: a list refresh of 100 patients (7
   * entries each) twice over.
   */
  maxBatchEntries?: number;
  /** Largest provider response passed on (502 above). Default 64 MiB. */
  maxResponseBytes?: number;
  /**
   * A claim of the verified access token that names the user (`setRequestContext({ userId })` for
   * the audit). Default none: the Patients app authenticates as an application.
   */
  userClaim?: string;
  /** Per-client rate limit. Default 500 requests/s with bursts of 1000 (per process); `false` disables it. */
  rateLimit?: RateLimitOptions | false;
  /**
   * Positive cache of verified client secrets (HMAC fingerprints, never the secret): a right secret
   * skips scrypt for `ttlSeconds` (default 300) while it stays active; at most `maxEntries` (default
   * 10000, least recently used dropped). `false` turns it off (every `POST /token` runs scrypt).
   */
  verificationCache?: VerificationCacheOptions | false;
  /** Failed-authentication throttle of `POST /token`. `false` turns it off. */
  authThrottle?: AuthThrottleOptions | false;
  /** scrypt verifications at once (default min(4, cores)); more wait, up to `scryptQueue` (default 32), then 503. */
  scryptConcurrency?: number;
  scryptQueue?: number;
  /** Keep-alive connections per provider. Default 32. */
  upstreamConnections?: number;
  /** Receives one JSON line (no PHI) per request. Default: none. */
  log?: (line: string) => void;
  /** Wraps the node:http handler, as a partner service would wrap its own (e.g. the otel middleware). */
  wrapHandler?: (handler: RequestListener) => RequestListener;
}

export interface Gateway {
  /** Base URL (public URL when configured, else the bound address), no trailing slash. */
  readonly url: string;
  /** Bound address. */
  readonly address: { host: string; port: number };
  /** `iss` (and default `aud`) of the access tokens: stable across restarts (never the bound port). */
  readonly issuer: string;
  /** The (wrapped) node:http handler the server runs. */
  readonly handler: RequestListener;
  readonly registry: ClientRegistry;
  /** Current tenant → provider map (config file merged with admin changes). */
  tenants(): Record<string, Required<TenantProvider>>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** One line of the request log. Route templates only: never the raw URL, query or ids. */
export interface RequestLogLine {
  time: string;
  level: 'info' | 'warn' | 'error';
  msg: 'request';
  method: string;
  route: string;
  status: number;
  durationMs: number;
  tenant: string;
  client: string;
  upstreamStatus?: number;
  upstreamMs?: number;
  code?: string;
}

/** Where the audit's user identity comes from. */
export type UserIdentity =
  /** No user: the Patients app authenticates as an application (`user_id` stays ''). */
  | { source: 'none' }
  /** `x-fhirwatch-user-id` / `x-fhirwatch-user-name`, set by a trusted upstream that strips them from client traffic. */
  | { source: 'header' }
  /** A claim of the verified access token. */
  | { source: 'claim'; claim: string };

/** The audit section of the config (validated, paths absolute). */
export interface AuditConfig {
  /** Sink base URL (`POST {sinkUrl}/v1/audit`). Absent: records are spooled and kept, not shipped. */
  sinkUrl?: string;
  /**
   * This gateway's ingest credential on the sink (its writer name is `recordedBy`): from FHIRWATCH_INGEST_TOKEN,
   * or read from `ingestTokenFile` at start. Also sent with telemetry when it goes to the same sink.
   */
  ingestToken?: string;
  /** A file holding the ingest token (one line), read at start. */
  ingestTokenFile?: string;
  spoolDir: string;
  mode: AuditMode;
  /**
   * What an audited request gets when its record cannot be spooled (disk full, unwritable, spool cap):
   * `refuse` (default, both modes) = 503 OperationOutcome before any PHI leaves; `serve` = the explicit
   * opt-in to serve PHI unaudited (lost records counted). See otel-middleware spool-health.ts.
   */
  onSpoolFailure: 'refuse' | 'serve';
  /** `recorded_by`: one HMAC chain per writer; give each gateway process its own. */
  recordedBy: string;
  disclosure: DisclosureMode;
  userIdentity: UserIdentity;
  /** The chain key (hex), created (0600) on first start when missing. */
  hmacKeyFile: string;
  /** How long shutdown waits for the sink to take the spooled records (they stay spooled after). */
  drainTimeoutMs: number;
  gzip?: boolean;
  /** One PHI-free OTel log record per audit record (default false). */
  emitLogs?: boolean;
  flushIntervalMs?: number;
  shipIntervalMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  maxSpoolBytes?: number;
  /** Response bytes the audit reads to find disclosed patients; above it `result_count` is recorded as unknown (null). */
  maxResponseBodyBytes?: number;
}

/** The telemetry section: OTLP/HTTP export of spans, metrics and logs. */
export interface TelemetryConfig {
  otlpEndpoint: string;
  serviceName: string;
  metricExportIntervalMs?: number;
  spanExportDelayMs?: number;
}

/** A validated config file (with flags merged): the gateway, its audit and its telemetry. */
export interface GatewayConfig {
  gateway: GatewayOptions;
  /** `false`: the audit is off (`"audit": false`). */
  audit: AuditConfig | false;
  /** `false`: no telemetry (no `telemetry.otlpEndpoint`). */
  telemetry: TelemetryConfig | false;
}
