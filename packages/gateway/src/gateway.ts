/**
 * `createGateway`: the reference interop gateway of the Patients-app integration seed. A thin
 * node:http adapter over pure parts (routes.ts classifies a request target, batch.ts plans read-only
 * batches, form.ts), the token service, the client registry and the proxy. This file builds the state
 * (tenants, keys, server); route-table.ts holds what each kind of target does with it (the FHIR route
 * as named steps). One endpoint serves every tenant; the tenant comes from the access token.
 *
 * FHIR bases: `{url}` (tenant from the token) and `{url}/{tenant}` (the same, plus a check that the
 * token is for that tenant, and a `/metadata` in the tenant's own FHIR version).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import {
  capabilityStatement,
  DEFAULT_FHIR_VERSION,
  FHIR_JSON_MIME,
  type FhirVersion,
  operationOutcome,
  SERVER_KEEP_ALIVE_MS,
} from '@fhirwatch/contract';
import { getRequestContext } from '@fhirwatch/otel-middleware';
import type { AdminDeps } from './admin.ts';
import { AuthThrottle } from './auth-throttle.ts';
import { validateTenant } from './config.ts';
import { GatewayError } from './errors.ts';
import { sendOutcome } from './http.ts';
import { type Provider, ProviderPools } from './proxy.ts';
import { RateLimiter } from './rate-limit.ts';
import { openClientRegistry } from './registry.ts';
import { type GatewayContext, type RequestMeta, route } from './route-table.ts';
import { parseTarget } from './routes.ts';
import { loadSigningKey, TokenService } from './tokens.ts';
import type { Gateway, GatewayOptions, RequestLogLine, TenantProvider } from './types.ts';

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  tokenTtlSeconds: 3600,
  maxBodyBytes: 1024 * 1024,
  maxBatchEntries: 1400,
  maxResponseBytes: 64 * 1024 * 1024,
  rateLimit: { capacity: 1000, refillPerSecond: 500 },
  upstreamConnections: 32,
} as const;

export async function createGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const dataDir = resolve(options.dataDir ?? '.fhirwatch/gateway');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
  const maxBatchEntries = options.maxBatchEntries ?? DEFAULTS.maxBatchEntries;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULTS.maxResponseBytes;
  const userClaim = options.userClaim;
  const registry = openClientRegistry({
    dataDir,
    ...(options.verificationCache === undefined ? {} : { verificationCache: options.verificationCache }),
    ...(options.scryptConcurrency === undefined ? {} : { scryptConcurrency: options.scryptConcurrency }),
    ...(options.scryptQueue === undefined ? {} : { scryptQueue: options.scryptQueue }),
  });
  const authThrottle = options.authThrottle === false ? undefined : new AuthThrottle(options.authThrottle);
  const pools = new ProviderPools(options.upstreamConnections ?? DEFAULTS.upstreamConnections);
  let key: Awaited<ReturnType<typeof loadSigningKey>>;
  try {
    key = await loadSigningKey(dataDir);
  } catch (error) {
    registry.close();
    throw error;
  }

  // Tenant map: config file, then the admin API's changes (kept in the registry) on top.
  const providers = new Map<string, Provider>();
  const put = (tenantId: string, provider: Required<TenantProvider>): void => {
    providers.set(tenantId, pools.resolve(tenantId, provider));
  };
  try {
    for (const [tenant, entry] of Object.entries(options.tenants ?? {})) {
      const { tenantId, provider } = validateTenant(tenant, entry);
      put(tenantId, provider);
    }
  } catch (error) {
    registry.close();
    await pools.close();
    throw error;
  }
  for (const override of registry.tenantOverrides()) {
    if (override.provider === undefined) providers.delete(override.tenantId);
    else put(override.tenantId, override.provider);
  }
  const versions = new Set([...providers.values()].map((p) => p.fhirVersion));
  const defaultVersion: FhirVersion =
    options.defaultFhirVersion ?? (versions.size === 1 ? ([...versions][0] as FhirVersion) : DEFAULT_FHIR_VERSION);

  const server = createServer({
    keepAliveTimeout: SERVER_KEEP_ALIVE_MS,
    requestTimeout: 120_000,
    headersTimeout: 60_000,
  });
  await listen(server, options.port ?? DEFAULTS.port, options.host ?? DEFAULTS.host);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = (options.publicUrl ?? `http://${host}:${address.port}`).replace(/\/+$/, '');
  // Stable across restarts and across processes sharing the data directory (never the bound port):
  // the configured issuer, else the public URL, else an id of the data directory's signing key.
  const issuer = options.issuer ?? options.publicUrl?.replace(/\/+$/, '') ?? `urn:fhirwatch:gateway:${key.kid}`;
  const tokens = new TokenService({
    key,
    issuer,
    audience: options.audience ?? issuer,
    ttlSeconds: options.tokenTtlSeconds ?? DEFAULTS.tokenTtlSeconds,
  });
  const rateLimit = options.rateLimit ?? DEFAULTS.rateLimit;
  const limiter = rateLimit === false ? undefined : new RateLimiter(rateLimit);
  const log = options.log;

  const listTenants = (): Record<string, Required<TenantProvider>> => {
    const out: Record<string, Required<TenantProvider>> = {};
    for (const [id, p] of providers)
      out[id] = { baseUrl: p.baseUrl, fhirVersion: p.fhirVersion, timeoutMs: p.timeoutMs };
    return out;
  };
  const admin: AdminDeps | undefined =
    options.adminToken === undefined || options.adminToken === ''
      ? undefined
      : {
          adminToken: options.adminToken,
          registry,
          listTenants,
          putTenant(tenantId, provider) {
            registry.putTenant(tenantId, provider);
            put(tenantId, provider);
          },
          deleteTenant(tenantId) {
            if (!providers.has(tenantId)) return false;
            registry.deleteTenant(tenantId);
            providers.delete(tenantId);
            return true;
          },
        };

  const metadata = capabilityCache(url);

  const gw: GatewayContext = {
    url,
    issuer,
    key,
    defaultVersion,
    providers,
    registry,
    tokens,
    limiter,
    authThrottle,
    admin,
    userClaim,
    maxBodyBytes,
    maxBatchEntries,
    maxResponseBytes,
    metadata,
  };

  /** Classify the target (routes.ts), then run its route (route-table.ts); a throw becomes a rejection. */
  const dispatch = async (req: IncomingMessage, res: ServerResponse, meta: RequestMeta): Promise<void> =>
    route(gw, req, res, parseTarget(req.method ?? 'GET', req.url ?? '/'), meta);

  const inner: RequestListener = (req, res) => {
    const started = performance.now();
    const meta: RequestMeta = { route: 'unknown', code: '', upstreamStatus: 0, upstreamMs: 0 };
    if (log !== undefined) res.once('close', () => log(requestLogLine(req, res, meta, started)));
    dispatch(req, res, meta).catch(() => {
      // Unexpected: never leak the cause (it may name request data); the code says where to look.
      meta.code = 'FW_GATEWAY_INTERNAL';
      if (res.headersSent) res.destroy();
      else sendOutcome(res, new GatewayError('FW_GATEWAY_INTERNAL', 'internal gateway error'), defaultVersion);
    });
  };
  const handler = options.wrapHandler ? options.wrapHandler(inner) : inner;
  server.on('request', handler);
  // Requests Node cannot parse (bad request line, header overflow) never reach the handler: answer
  // them with an OperationOutcome too, then close.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
    answerClientError(error, socket, defaultVersion, log),
  );

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      await pools.close();
      registry.close();
    })();
    return closed;
  };

  return {
    url,
    address: { host: address.address, port: address.port },
    issuer,
    handler,
    registry,
    tenants: listTenants,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Bind `server`; rejects with the listen error (port in use, address not available). */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });
}

/** Capability statements by (version, FHIR base), serialized once each. */
function capabilityCache(url: string): (version: FhirVersion, base: string) => Buffer {
  const cache = new Map<string, Buffer>();
  return (version, base) => {
    const cacheKey = `${version} ${base}`;
    let body = cache.get(cacheKey);
    if (body === undefined) {
      body = Buffer.from(
        JSON.stringify(
          capabilityStatement(version, {
            tokenUrl: `${url}/token`,
            authorizeUrl: `${url}/authorize`,
            baseUrl: base,
          }),
        ),
      );
      cache.set(cacheKey, body);
    }
    return body;
  };
}

/** The log line of a finished (or aborted) request: route template, status, timings, codes; no ids or URLs. */
function requestLogLine(req: IncomingMessage, res: ServerResponse, meta: RequestMeta, started: number): string {
  const context = getRequestContext(req);
  const line: RequestLogLine = {
    time: new Date().toISOString(),
    level: res.statusCode >= 500 || !res.writableFinished ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    msg: 'request',
    method: req.method ?? '',
    route: meta.route,
    status: res.statusCode,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    tenant: context?.tenantId ?? '',
    client: context?.clientId ?? '',
  };
  if (meta.upstreamStatus !== 0) line.upstreamStatus = meta.upstreamStatus;
  if (meta.upstreamMs !== 0) line.upstreamMs = Math.round(meta.upstreamMs * 1000) / 1000;
  if (meta.code !== '') line.code = meta.code;
  return JSON.stringify(line);
}

/**
 * Requests Node cannot parse (bad request line, header overflow) never reach the handler: answer
 * them with an OperationOutcome too, then close.
 */
function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Duplex,
  version: FhirVersion,
  log: ((line: string) => void) | undefined,
): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const body = JSON.stringify(
    operationOutcome(
      tooLarge ? 'too-long' : 'structure',
      tooLarge ? 'request headers too large' : 'malformed HTTP request',
      {
        code: tooLarge ? 'FW_GATEWAY_HEADERS_TOO_LARGE' : 'FW_GATEWAY_MALFORMED_HTTP',
      },
    ),
  );
  socket.end(
    `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
      `content-type: ${FHIR_JSON_MIME[version]}; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
  log?.(
    JSON.stringify({
      time: new Date().toISOString(),
      level: 'warn',
      msg: 'request',
      method: '',
      route: 'unknown',
      status: tooLarge ? 431 : 400,
      durationMs: 0,
      tenant: '',
      client: '',
      code: tooLarge ? 'FW_GATEWAY_HEADERS_TOO_LARGE' : 'FW_GATEWAY_MALFORMED_HTTP',
    } satisfies RequestLogLine),
  );
}
