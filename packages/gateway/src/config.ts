/**
 * The gateway's JSON config file and tenant validation (shared with the admin API):
 * `{ "tenants": { "<guid>": { "baseUrl", "fhirVersion", "timeoutMs" } }, "dataDir", "issuer", ... }`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseFhirVersion } from '@fhirwatch/contract';
import { GatewayError } from './errors.ts';
import { normalizeTenantId } from './tenant-id.ts';
import type { GatewayOptions, TenantProvider } from './types.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Validate one tenant entry; throws FW_GATEWAY_TENANT_INVALID (message names the field, not values). */
export function validateTenant(tenant: string, raw: unknown): { tenantId: string; provider: Required<TenantProvider> } {
  const tenantId = normalizeTenantId(tenant);
  if (tenantId === undefined) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'tenant ids are GUIDs');
  if (!isObject(raw)) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'a tenant is an object');
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

function invalid(file: string, what: string, cause?: unknown): GatewayError {
  return new GatewayError('FW_GATEWAY_CONFIG_INVALID', `${file}: ${what}`, { cause });
}

/** Read a config file into gateway options; relative `dataDir` is resolved against the file's folder. */
export function loadGatewayConfig(file: string): GatewayOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw invalid(file, 'cannot read the file as JSON', cause);
  }
  if (!isObject(raw)) throw invalid(file, 'the config is a JSON object');
  const options: GatewayOptions = {};
  if (raw.tenants !== undefined) {
    if (!isObject(raw.tenants)) throw invalid(file, '"tenants" is an object of GUID → provider');
    options.tenants = {};
    for (const [tenant, entry] of Object.entries(raw.tenants)) {
      try {
        const { tenantId, provider } = validateTenant(tenant, entry);
        options.tenants[tenantId] = provider;
      } catch (cause) {
        throw invalid(file, `tenant entry: ${(cause as Error).message}`, cause);
      }
    }
  }
  const str = (key: string): string | undefined => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw invalid(file, `"${key}" is a non-empty string`);
    return value;
  };
  const int = (key: string): number | undefined => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw invalid(file, `"${key}" is a non-negative integer`);
    }
    return value;
  };
  const dataDir = str('dataDir');
  if (dataDir !== undefined) options.dataDir = resolve(dirname(file), dataDir);
  const host = str('host');
  if (host !== undefined) options.host = host;
  const port = int('port');
  if (port !== undefined) options.port = port;
  const publicUrl = str('publicUrl');
  if (publicUrl !== undefined) options.publicUrl = publicUrl;
  const issuer = str('issuer');
  if (issuer !== undefined) options.issuer = issuer;
  const audience = str('audience');
  if (audience !== undefined) options.audience = audience;
  const version = str('defaultFhirVersion');
  if (version !== undefined) {
    const parsed = parseFhirVersion(version);
    if (parsed === undefined) throw invalid(file, '"defaultFhirVersion" is DSTU2 or STU3');
    options.defaultFhirVersion = parsed;
  }
  const ttl = int('tokenTtlSeconds');
  if (ttl !== undefined) options.tokenTtlSeconds = ttl;
  const maxBodyBytes = int('maxBodyBytes');
  if (maxBodyBytes !== undefined) options.maxBodyBytes = maxBodyBytes;
  const connections = int('upstreamConnections');
  if (connections !== undefined) options.upstreamConnections = connections;
  if (raw.rateLimit === false) options.rateLimit = false;
  else if (raw.rateLimit !== undefined) {
    const limit = raw.rateLimit;
    if (
      !isObject(limit) ||
      typeof limit.capacity !== 'number' ||
      typeof limit.refillPerSecond !== 'number' ||
      limit.capacity < 1 ||
      limit.refillPerSecond <= 0
    ) {
      throw invalid(file, '"rateLimit" is false or { capacity ≥ 1, refillPerSecond > 0 }');
    }
    options.rateLimit = { capacity: limit.capacity, refillPerSecond: limit.refillPerSecond };
  }
  const scryptConcurrency = int('scryptConcurrency');
  if (scryptConcurrency !== undefined) options.scryptConcurrency = scryptConcurrency;
  const scryptQueue = int('scryptQueue');
  if (scryptQueue !== undefined) options.scryptQueue = scryptQueue;
  /** `false`, or an object of non-negative numbers among `keys`. */
  const numbers = <K extends string>(
    key: string,
    keys: readonly K[],
  ): false | Partial<Record<K, number>> | undefined => {
    const value = raw[key];
    if (value === undefined || value === false) return value;
    const shape = `"${key}" is false or { ${keys.join(', ')} } of non-negative numbers`;
    if (!isObject(value)) throw invalid(file, shape);
    const out: Partial<Record<K, number>> = {};
    for (const [name, n] of Object.entries(value)) {
      if (!(keys as readonly string[]).includes(name) || typeof n !== 'number' || !(n >= 0)) throw invalid(file, shape);
      out[name as K] = n;
    }
    return out;
  };
  const cache = numbers('verificationCache', ['ttlSeconds', 'maxEntries'] as const);
  if (cache !== undefined) options.verificationCache = cache;
  const throttle = numbers('authThrottle', [
    'maxFailuresPerClient',
    'maxFailuresPerAddress',
    'windowSeconds',
    'maxTracked',
  ] as const);
  if (throttle !== undefined) options.authThrottle = throttle;
  return options;
}
