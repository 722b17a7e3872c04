/**
 * The gateway's JSON config file, validated strictly: an unknown key, a wrong type or a missing
 * required field stops the start with FW_GATEWAY_CONFIG_INVALID naming the key (`error.key`).
 *
 * ```json
 * { "tenants": { "<guid>": { "baseUrl", "fhirVersion", "timeoutMs" } }, "dataDir", "publicUrl", ...,
 *   "audit": { "sinkUrl", "ingestTokenFile", "spoolDir", "mode", "onSpoolFailure", "recordedBy", "disclosure", "userIdentity", "hmacKeyFile" },
 *   "telemetry": { "otlpEndpoint", "serviceName" } }
 * ```
 *
 * Relative paths are resolved against the file's folder. `validateTenant` is shared with the admin API.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type FhirVersion, parseFhirVersion } from '@fhirwatch/contract';
import { GatewayError } from './errors.ts';
import { normalizeTenantId } from './tenant-id.ts';
import type {
  AuditConfig,
  GatewayConfig,
  GatewayOptions,
  TelemetryConfig,
  TenantProvider,
  UserIdentity,
} from './types.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_DATA_DIR = '.fhirwatch/gateway';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Validate one tenant entry; throws FW_GATEWAY_TENANT_INVALID (message names the field, not values). */
export function validateTenant(tenant: string, raw: unknown): { tenantId: string; provider: Required<TenantProvider> } {
  const tenantId = normalizeTenantId(tenant);
  if (tenantId === undefined) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'tenant ids are GUIDs');
  if (!isObject(raw)) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'a tenant is an object');
  if (raw.baseUrl === undefined) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'baseUrl is required');
  let url: URL;
  try {
    url = new URL(String(raw.baseUrl));
  } catch {
    throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'baseUrl must be an absolute URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'baseUrl must be http(s) without query or fragment');
  }
  if (url.username !== '' || url.password !== '') {
    throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'baseUrl must not carry credentials');
  }
  if (raw.fhirVersion === undefined) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'fhirVersion is required');
  const fhirVersion = parseFhirVersion(typeof raw.fhirVersion === 'string' ? raw.fhirVersion : undefined);
  if (fhirVersion === undefined)
    throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'fhirVersion must be DSTU2 or STU3');
  const timeoutMs = raw.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 600_000) {
    throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'timeoutMs must be an integer in 1..600000');
  }
  return {
    tenantId,
    provider: { baseUrl: url.href.replace(/\/+$/, ''), fhirVersion, timeoutMs },
  };
}

// ---- the schema ---------------------------------------------------------------------------------

/** Keys a config file may hold, per object (a key outside these is refused, never ignored). */
const TOP_KEYS = [
  'tenants',
  'dataDir',
  'host',
  'port',
  'publicUrl',
  'issuer',
  'audience',
  'defaultFhirVersion',
  'tokenTtlSeconds',
  'maxBodyBytes',
  'maxBatchEntries',
  'maxResponseBytes',
  'upstreamConnections',
  'rateLimit',
  'scryptConcurrency',
  'scryptQueue',
  'verificationCache',
  'authThrottle',
  'audit',
  'telemetry',
] as const;
const TENANT_KEYS = ['baseUrl', 'fhirVersion', 'timeoutMs'] as const;
const AUDIT_KEYS = [
  'sinkUrl',
  'ingestTokenFile',
  'spoolDir',
  'mode',
  'onSpoolFailure',
  'recordedBy',
  'disclosure',
  'userIdentity',
  'hmacKeyFile',
  'gzip',
  'flushIntervalMs',
  'shipIntervalMs',
  'minBackoffMs',
  'maxBackoffMs',
  'maxSpoolBytes',
  'maxResponseBodyBytes',
  'drainTimeoutMs',
  'emitLogs',
] as const;
const TELEMETRY_KEYS = ['otlpEndpoint', 'serviceName', 'metricExportIntervalMs', 'spanExportDelayMs'] as const;

/** The config problem, naming the key (`audit.mode`, `tenants.<guid>.baseUrl`); never a value. */
function invalid(source: string, key: string, what: string, cause?: unknown): GatewayError {
  return new GatewayError('FW_GATEWAY_CONFIG_INVALID', `${source}: "${key}" ${what}`, { cause, key });
}

/** Reads typed values of one config object, refusing unknown keys. */
class Reader {
  readonly #raw: Record<string, unknown>;
  readonly #prefix: string;
  readonly #source: string;

  constructor(raw: Record<string, unknown>, prefix: string, source: string, allowed: readonly string[]) {
    this.#raw = raw;
    this.#prefix = prefix;
    this.#source = source;
    for (const key of Object.keys(raw)) {
      if (!allowed.includes(key)) throw invalid(source, this.key(key), 'is not a known key');
    }
  }

  key(name: string): string {
    return `${this.#prefix}${name}`;
  }

  fail(name: string, what: string, cause?: unknown): GatewayError {
    return invalid(this.#source, this.key(name), what, cause);
  }

  has(name: string): boolean {
    return this.#raw[name] !== undefined;
  }

  value(name: string): unknown {
    return this.#raw[name];
  }

  string(name: string): string | undefined {
    const value = this.#raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '') throw this.fail(name, 'must be a non-empty string');
    return value;
  }

  int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const value = this.#raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw this.fail(name, `must be an integer in ${min}..${max}`);
    }
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.#raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw this.fail(name, 'must be true or false');
    return value;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const value = this.#raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      throw this.fail(name, `must be one of ${values.map((v) => `"${v}"`).join(', ')}`);
    }
    return value as T;
  }

  url(name: string): string | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch (cause) {
      throw this.fail(name, 'must be an absolute http(s) URL', cause);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw this.fail(name, 'must be an http(s) URL');
    if (url.username !== '' || url.password !== '') throw this.fail(name, 'must not carry credentials');
    return value.replace(/\/+$/, '');
  }

  object(name: string): Record<string, unknown> | undefined {
    const value = this.#raw[name];
    if (value === undefined) return undefined;
    if (!isObject(value)) throw this.fail(name, 'must be an object');
    return value;
  }
}

/** `"none"`, `"header"` or `"claim:<name>"`. */
export function parseUserIdentity(text: string): UserIdentity | undefined {
  if (text === 'none') return { source: 'none' };
  if (text === 'header') return { source: 'header' };
  if (text.startsWith('claim:') && /^[A-Za-z0-9_.:-]{1,64}$/.test(text.slice(6))) {
    return { source: 'claim', claim: text.slice(6) };
  }
  return undefined;
}

/** Non-negative numbers among `keys`, or `false`. */
function numbers<K extends string>(
  reader: Reader,
  name: string,
  keys: readonly K[],
): false | Partial<Record<K, number>> | undefined {
  const value = reader.value(name);
  if (value === undefined || value === false) return value;
  if (!isObject(value)) throw reader.fail(name, `must be false or an object of ${keys.join(', ')}`);
  const out: Partial<Record<K, number>> = {};
  for (const [key, n] of Object.entries(value)) {
    if (!(keys as readonly string[]).includes(key)) throw reader.fail(`${name}.${key}`, 'is not a known key');
    if (typeof n !== 'number' || !(n >= 0)) throw reader.fail(`${name}.${key}`, 'must be a non-negative number');
    out[key as K] = n;
  }
  return out;
}

export interface ParseConfigOptions {
  /** Folder relative paths are resolved against (the config file's). Default the working directory. */
  baseDir?: string;
  /** Named in error messages (the file path). Default `config`. */
  source?: string;
}

/**
 * Validate a config object (a parsed config file, with flags merged in) into the gateway's options
 * plus its audit and telemetry settings. Audit is on unless `"audit": false`; telemetry is on when
 * `telemetry.otlpEndpoint` is set.
 */
export function parseGatewayConfig(raw: unknown, options: ParseConfigOptions = {}): GatewayConfig {
  const source = options.source ?? 'config';
  const baseDir = options.baseDir ?? process.cwd();
  const path = (value: string): string => resolve(baseDir, value);
  if (!isObject(raw)) throw invalid(source, '(root)', 'must be a JSON object');
  const top = new Reader(raw, '', source, TOP_KEYS);
  const gateway: GatewayOptions = {};

  const tenants = top.object('tenants');
  if (tenants !== undefined) {
    gateway.tenants = {};
    for (const [tenant, entry] of Object.entries(tenants)) {
      const key = `tenants.${tenant}`;
      if (normalizeTenantId(tenant) === undefined) throw invalid(source, key, 'is not a tenant GUID');
      if (!isObject(entry)) throw invalid(source, key, 'must be an object');
      const reader = new Reader(entry, `${key}.`, source, TENANT_KEYS);
      for (const required of ['baseUrl', 'fhirVersion'] as const) {
        if (!reader.has(required)) throw reader.fail(required, 'is required');
      }
      try {
        const { tenantId, provider } = validateTenant(tenant, entry);
        gateway.tenants[tenantId] = provider;
      } catch (cause) {
        throw invalid(source, key, `is invalid: ${(cause as Error).message}`, cause);
      }
    }
  }
  const dataDir = top.string('dataDir');
  // The default data directory is relative to the working directory, as createGateway's.
  gateway.dataDir = dataDir === undefined ? resolve(DEFAULT_DATA_DIR) : path(dataDir);
  const host = top.string('host');
  if (host !== undefined) gateway.host = host;
  const port = top.int('port', 0, 65_535);
  if (port !== undefined) gateway.port = port;
  const publicUrl = top.url('publicUrl');
  if (publicUrl !== undefined) gateway.publicUrl = publicUrl;
  const issuer = top.string('issuer');
  if (issuer !== undefined) gateway.issuer = issuer;
  const audience = top.string('audience');
  if (audience !== undefined) gateway.audience = audience;
  const version = top.string('defaultFhirVersion');
  if (version !== undefined) {
    const parsed = parseFhirVersion(version);
    if (parsed === undefined) throw top.fail('defaultFhirVersion', 'must be "DSTU2" or "STU3"');
    gateway.defaultFhirVersion = parsed;
  }
  const ints = [
    ['tokenTtlSeconds', 1],
    ['maxBodyBytes', 1],
    ['maxBatchEntries', 1],
    ['maxResponseBytes', 1],
    ['upstreamConnections', 1],
    ['scryptConcurrency', 1],
    ['scryptQueue', 0],
  ] as const;
  for (const [name, min] of ints) {
    const value = top.int(name, min);
    if (value !== undefined) gateway[name] = value;
  }
  const rateLimit = top.value('rateLimit');
  if (rateLimit === false) gateway.rateLimit = false;
  else if (rateLimit !== undefined) {
    const limit = top.object('rateLimit') as Record<string, unknown>;
    const reader = new Reader(limit, 'rateLimit.', source, ['capacity', 'refillPerSecond']);
    const capacity = reader.value('capacity');
    const refill = reader.value('refillPerSecond');
    if (typeof capacity !== 'number' || capacity < 1) throw reader.fail('capacity', 'must be a number ≥ 1');
    if (typeof refill !== 'number' || !(refill > 0)) throw reader.fail('refillPerSecond', 'must be a number > 0');
    gateway.rateLimit = { capacity, refillPerSecond: refill };
  }
  const cache = numbers(top, 'verificationCache', ['ttlSeconds', 'maxEntries'] as const);
  if (cache !== undefined) gateway.verificationCache = cache;
  const throttle = numbers(top, 'authThrottle', [
    'maxFailuresPerClient',
    'maxFailuresPerAddress',
    'windowSeconds',
    'maxTracked',
  ] as const);
  if (throttle !== undefined) gateway.authThrottle = throttle;

  // Audit: on unless `false`.
  let audit: AuditConfig | false;
  if (top.value('audit') === false) audit = false;
  else {
    const reader = new Reader(top.object('audit') ?? {}, 'audit.', source, AUDIT_KEYS);
    const spoolDir = path(reader.string('spoolDir') ?? join(gateway.dataDir, 'audit-spool'));
    const identityText = reader.string('userIdentity') ?? 'none';
    const userIdentity = parseUserIdentity(identityText);
    if (userIdentity === undefined) {
      throw reader.fail('userIdentity', 'must be "none", "header" or "claim:<claim name>"');
    }
    audit = {
      spoolDir,
      mode: reader.oneOf('mode', ['batched', 'strict'] as const) ?? 'batched',
      onSpoolFailure: reader.oneOf('onSpoolFailure', ['refuse', 'serve'] as const) ?? 'refuse',
      recordedBy: reader.string('recordedBy') ?? hostname(),
      disclosure: reader.oneOf('disclosure', ['spec', 'returned'] as const) ?? 'spec',
      userIdentity,
      hmacKeyFile: path(reader.string('hmacKeyFile') ?? join(spoolDir, 'hmac.key')),
      drainTimeoutMs: reader.int('drainTimeoutMs', 0, 600_000) ?? 10_000,
    };
    const sinkUrl = reader.url('sinkUrl');
    if (sinkUrl !== undefined) audit.sinkUrl = sinkUrl;
    const ingestTokenFile = reader.string('ingestTokenFile');
    if (ingestTokenFile !== undefined) audit.ingestTokenFile = path(ingestTokenFile);
    const gzip = reader.boolean('gzip');
    if (gzip !== undefined) audit.gzip = gzip;
    const emitLogs = reader.boolean('emitLogs');
    if (emitLogs !== undefined) audit.emitLogs = emitLogs;
    for (const name of ['flushIntervalMs', 'shipIntervalMs', 'minBackoffMs', 'maxBackoffMs'] as const) {
      const value = reader.int(name, 1, 600_000);
      if (value !== undefined) audit[name] = value;
    }
    const maxSpoolBytes = reader.int('maxSpoolBytes', 1024);
    if (maxSpoolBytes !== undefined) audit.maxSpoolBytes = maxSpoolBytes;
    const maxResponseBodyBytes = reader.int('maxResponseBodyBytes', 1);
    if (maxResponseBodyBytes !== undefined) audit.maxResponseBodyBytes = maxResponseBodyBytes;
  }

  let telemetry: TelemetryConfig | false = false;
  const telemetryRaw = top.object('telemetry');
  if (telemetryRaw !== undefined) {
    const reader = new Reader(telemetryRaw, 'telemetry.', source, TELEMETRY_KEYS);
    const endpoint = reader.url('otlpEndpoint');
    const serviceName = reader.string('serviceName') ?? 'fhirwatch-gateway';
    const interval = reader.int('metricExportIntervalMs', 100, 600_000);
    const delay = reader.int('spanExportDelayMs', 1, 600_000);
    if (endpoint !== undefined) {
      telemetry = { otlpEndpoint: endpoint, serviceName };
      if (interval !== undefined) telemetry.metricExportIntervalMs = interval;
      if (delay !== undefined) telemetry.spanExportDelayMs = delay;
    }
  }

  const config: GatewayConfig = { gateway, audit, telemetry };
  const problem = rootVersionProblem(gateway.tenants ?? {}, gateway.defaultFhirVersion);
  if (problem !== undefined) throw invalid(source, 'defaultFhirVersion', problem);
  return config;
}

/**
 * Why the root `/metadata` cannot be answered, or undefined. The Patients app reads `/metadata`
 * before it has a token, so the single root endpoint cannot tell which tenant (and version) is
 * asking: with tenants of both versions, `defaultFhirVersion` must say which one the root announces.
 * Per-tenant bases (`/{tenant}/metadata`) always answer in their tenant's version.
 */
export function rootVersionProblem(
  tenants: Readonly<Record<string, Pick<TenantProvider, 'fhirVersion'>>>,
  defaultFhirVersion: FhirVersion | undefined,
): string | undefined {
  if (defaultFhirVersion !== undefined) return undefined;
  const versions = new Set(Object.values(tenants).map((t) => t.fhirVersion));
  if (versions.size <= 1) return undefined;
  return (
    `is required: tenants use ${[...versions].sort().join(' and ')}, and the root /metadata (read before any ` +
    'token, so without a tenant) can announce only one version; set it, and give tenants of the other version ' +
    'their per-tenant base /{tenant}'
  );
}

/** Deep-merge `overrides` (e.g. command-line flags, in the config's shape) over `base`. */
export function mergeConfig(base: unknown, overrides: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = isObject(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    out[key] = isObject(value) && isObject(out[key]) ? mergeConfig(out[key], value) : value;
  }
  return out;
}

/** Read a config file as JSON (no validation). */
export function readConfigFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new GatewayError('FW_GATEWAY_CONFIG_INVALID', `${file}: cannot read the file as JSON`, { cause });
  }
}

/**
 * Read and validate a config file (`overrides` merged over it first); relative paths in the file
 * are resolved against its folder.
 */
export function loadGatewayConfigFile(file: string, overrides: Record<string, unknown> = {}): GatewayConfig {
  return parseGatewayConfig(mergeConfig(readConfigFile(file), overrides), {
    baseDir: dirname(resolve(file)),
    source: file,
  });
}

/** Read a config file into gateway options (the audit and telemetry sections validated, not returned). */
export function loadGatewayConfig(file: string): GatewayOptions {
  return loadGatewayConfigFile(file).gateway;
}
