/**
 * `createGateway`: the reference interop gateway of the Patients-app integration seed. A thin
 * node:http adapter over pure parts (routes.ts, form.ts), the token service, the client registry
 * and the proxy. One endpoint serves every tenant; the tenant comes from the access token.
 *
 * FHIR bases: `{url}` (tenant from the token) and `{url}/{tenant}` (the same, plus a check that the
 * token is for that tenant, and a `/metadata` in the tenant's own FHIR version).
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import {
  capabilityStatement,
  DEFAULT_FHIR_VERSION,
  FHIR_JSON_MIME,
  type FhirVersion,
  operationOutcome,
} from '@fhirwatch/contract';
import { getRequestContext, setRequestContext } from '@fhirwatch/otel-middleware';
import { type AdminDeps, handleAdmin } from './admin.ts';
import { AuthThrottle } from './auth-throttle.ts';
import { validateTenant } from './config.ts';
import { GatewayError } from './errors.ts';
import { parseForm } from './form.ts';
import { FORM_MEDIA_TYPE, JSON_MEDIA_TYPES, mediaType, readBody, sendJson, sendOutcome } from './http.ts';
import { handleToken } from './oauth.ts';
import { forward, type Provider, ProviderPools } from './proxy.ts';
import { RateLimiter } from './rate-limit.ts';
import { openClientRegistry } from './registry.ts';
import { parseTarget, type Target } from './routes.ts';
import { loadSigningKey, TokenService } from './tokens.ts';
import type { Gateway, GatewayOptions, RequestLogLine, TenantProvider } from './types.ts';

type FhirTarget = Extract<Target, { kind: 'fhir' }>;

/** Per-request facts for the log line (never ids, URLs or queries). */
interface RequestMeta {
  route: string;
  code: string;
  upstreamStatus: number;
  upstreamMs: number;
}

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

// Without these characters an entry URL can neither leave the base, mis-encode nor name an operation.
const NEEDS_ENTRY_CHECK = /[%.\\:$]|^\/\//;

/** What the gateway does with a batch: the entries it refuses (not GET) and the body it forwards. */
interface BatchPlan {
  /** Every entry as sent. */
  entries: unknown[];
  /** Indexes of entries answered 405 by the gateway. */
  refused: number[];
  /** The Bundle sent on: the original bytes, or a Bundle of the GET entries only. */
  forward: Buffer;
}

/**
 * Read-only batches: entries must be GET (anything else is answered 405 in its `entry.response`,
 * never forwarded), stay relative to the provider base like the request itself, and number at most
 * `maxEntries`.
 */
function planBatch(body: Buffer, maxEntries: number): BatchPlan {
  let bundle: unknown;
  try {
    bundle = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new GatewayError('FW_GATEWAY_MALFORMED_JSON', 'request body is not valid JSON', { cause });
  }
  const b = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (typeof bundle !== 'object' || bundle === null || b.resourceType !== 'Bundle') {
    throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'POST to the FHIR base takes a Bundle of type batch');
  }
  if (b.type !== 'batch') {
    throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'only Bundle.type = batch is processed');
  }
  if (b.entry === undefined) return { entries: [], refused: [], forward: body };
  if (!Array.isArray(b.entry)) throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'Bundle.entry must be an array');
  if (b.entry.length > maxEntries) {
    throw new GatewayError('FW_GATEWAY_BATCH_TOO_LARGE', `a batch holds at most ${maxEntries} entries`);
  }
  const refused: number[] = [];
  (b.entry as unknown[]).forEach((entry, index) => {
    const request = (entry as { request?: { url?: unknown; method?: unknown } } | null)?.request;
    if (typeof request?.url !== 'string' || typeof request.method !== 'string') {
      throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'each batch entry needs request.method and request.url');
    }
    if (request.method !== 'GET') {
      refused.push(index);
      return;
    }
    if (!NEEDS_ENTRY_CHECK.test(request.url)) return;
    const url = request.url.startsWith('/') ? request.url : `/${request.url}`;
    const target = parseTarget('GET', url);
    if (target.kind !== 'error' || target.code === 'FW_GATEWAY_UNKNOWN_ROUTE') return;
    if (target.code === 'FW_GATEWAY_NOT_READ_ONLY') refused.push(index);
    else throw new GatewayError(target.code, `batch entry: ${target.message}`);
  });
  if (refused.length === 0) return { entries: b.entry, refused, forward: body };
  const kept = new Set(refused);
  const forward = Buffer.from(
    JSON.stringify({ ...(bundle as object), entry: (b.entry as unknown[]).filter((_, i) => !kept.has(i)) }),
  );
  return { entries: b.entry, refused, forward };
}

/** The `entry` of a batch-response for an entry the gateway refused, in the version's shape. */
const REFUSED_ENTRY: Record<FhirVersion, () => Record<string, unknown>> = {
  // STU3 carries the OperationOutcome in entry.response.outcome.
  STU3: () => ({ response: { status: '405 Method Not Allowed', outcome: refusedOutcome() } }),
  // DSTU2's Bundle.entry.response has no `outcome`: the OperationOutcome is the entry's resource.
  DSTU2: () => ({ resource: refusedOutcome(), response: { status: '405 Method Not Allowed' } }),
};

function refusedOutcome(): unknown {
  return operationOutcome('not-supported', 'the gateway forwards GET batch entries only (read-only)', {
    code: 'FW_GATEWAY_NOT_READ_ONLY',
  });
}

/**
 * Put the refused entries back in their places among the provider's answers. A provider answer that
 * is not a batch-response of the forwarded entries is passed on as it came.
 */
function mergeBatch(plan: BatchPlan, version: FhirVersion, providerBody: Buffer): Buffer {
  let answer: { resourceType?: unknown; entry?: unknown };
  try {
    answer = JSON.parse(providerBody.toString('utf8'));
  } catch {
    return providerBody;
  }
  const forwarded = plan.entries.length - plan.refused.length;
  const answered = Array.isArray(answer?.entry) ? (answer.entry as unknown[]) : forwarded === 0 ? [] : undefined;
  if (answer?.resourceType !== 'Bundle' || answered === undefined || answered.length !== forwarded) {
    return providerBody;
  }
  const refused = new Set(plan.refused);
  const entry: unknown[] = [];
  let next = 0;
  for (let i = 0; i < plan.entries.length; i++)
    entry.push(refused.has(i) ? REFUSED_ENTRY[version]() : answered[next++]);
  return Buffer.from(JSON.stringify({ ...answer, entry }));
}

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

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 120_000, headersTimeout: 60_000 });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? DEFAULTS.port, options.host ?? DEFAULTS.host, () => {
      server.off('error', fail);
      ok();
    });
  });
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

  const metadataCache = new Map<string, Buffer>();
  function metadata(version: FhirVersion, base: string): Buffer {
    const cacheKey = `${version} ${base}`;
    let body = metadataCache.get(cacheKey);
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
      metadataCache.set(cacheKey, body);
    }
    return body;
  }

  function outcome(
    res: ServerResponse,
    meta: RequestMeta,
    error: GatewayError,
    version: FhirVersion,
    headers?: Record<string, string>,
  ): void {
    meta.code = error.code;
    sendOutcome(res, error, version, headers);
  }

  async function handleFhir(
    req: IncomingMessage,
    res: ServerResponse,
    target: FhirTarget,
    meta: RequestMeta,
  ): Promise<void> {
    const fail = (error: GatewayError, version = defaultVersion, headers?: Record<string, string>): void => {
      req.resume();
      outcome(res, meta, error, version, headers);
    };
    if (target.tenant !== undefined) {
      // Until a token verifies it, the tenant is only what the path claims (recorded as claimed).
      const claimed = providers.get(target.tenant);
      setRequestContext(req, {
        tenantId: target.tenant,
        tenantClaimed: true,
        ...(claimed === undefined ? {} : { fhirVersion: claimed.fhirVersion }),
      });
    }
    const authorization = req.headers.authorization;
    if (authorization === undefined || !/^bearer /i.test(authorization)) {
      return fail(new GatewayError('FW_GATEWAY_TOKEN_MISSING', 'a bearer access token is required'), defaultVersion, {
        'www-authenticate': 'Bearer realm="fhirwatch"',
      });
    }
    const claims = await tokens.verify(authorization.slice(7).trim());
    if (claims === undefined) {
      return fail(new GatewayError('FW_GATEWAY_TOKEN_INVALID', 'the access token is not valid'), defaultVersion, {
        'www-authenticate': 'Bearer realm="fhirwatch", error="invalid_token"',
      });
    }
    setRequestContext(req, { tenantId: claims.tenantId, tenantClaimed: false, clientId: claims.clientId });
    if (userClaim !== undefined) {
      const user = claims.payload[userClaim];
      if (typeof user === 'string' && user !== '') setRequestContext(req, { userId: user });
    }
    if (target.tenant !== undefined && target.tenant !== claims.tenantId) {
      return fail(new GatewayError('FW_GATEWAY_TENANT_MISMATCH', 'the access token is for another tenant'));
    }
    const grant = registry.grantState(claims.clientId, claims.secretId, claims.tenantId);
    if (grant === 'revoked') {
      return fail(new GatewayError('FW_GATEWAY_TOKEN_REVOKED', 'the access token was revoked'), defaultVersion, {
        'www-authenticate': 'Bearer realm="fhirwatch", error="invalid_token"',
      });
    }
    if (grant === 'not-bound') {
      return fail(new GatewayError('FW_GATEWAY_TENANT_NOT_BOUND', 'the client is not registered for this tenant'));
    }
    // Only ever the provider of the token's tenant.
    const provider = providers.get(claims.tenantId);
    if (provider === undefined) {
      return fail(new GatewayError('FW_GATEWAY_TENANT_UNKNOWN', 'no provider is configured for this tenant'));
    }
    const version = provider.fhirVersion;
    setRequestContext(req, { routedTenantId: provider.tenantId, fhirVersion: version });
    if (limiter !== undefined) {
      const wait = limiter.take(claims.clientId);
      if (wait > 0) {
        return fail(new GatewayError('FW_GATEWAY_RATE_LIMITED', 'too many requests for this client'), version, {
          'retry-after': String(wait),
        });
      }
    }

    let body: Buffer | undefined;
    let batch: BatchPlan | undefined;
    if (req.method === 'POST') {
      const type = mediaType(req.headers['content-type']);
      const form = type === FORM_MEDIA_TYPE;
      if (target.interaction === 'batch' && !JSON_MEDIA_TYPES.has(type)) {
        return fail(new GatewayError('FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE', 'a batch is a FHIR JSON Bundle'), version);
      }
      if (target.interaction === 'post-search' && !form) {
        return fail(new GatewayError('FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE', `_search takes ${FORM_MEDIA_TYPE}`), version);
      }
      if (target.interaction === 'operation' && !form && !JSON_MEDIA_TYPES.has(type) && type !== '') {
        return fail(new GatewayError('FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE', 'unsupported content type'), version);
      }
      try {
        body = await readBody(req, res, maxBodyBytes);
        if (target.interaction === 'batch') batch = planBatch(body, maxBatchEntries);
        else if (form && parseForm(body.toString('utf8')) === undefined) {
          throw new GatewayError('FW_GATEWAY_MALFORMED_FORM', 'malformed form body');
        }
        if (JSON_MEDIA_TYPES.has(type) && target.interaction === 'operation' && body.length > 0) {
          try {
            JSON.parse(body.toString('utf8'));
          } catch (cause) {
            throw new GatewayError('FW_GATEWAY_MALFORMED_JSON', 'request body is not valid JSON', { cause });
          }
        }
      } catch (error) {
        if (error instanceof GatewayError) return fail(error, version);
        throw error;
      }
    } else if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
      req.resume();
    }

    if (batch !== undefined && batch.refused.length > 0 && batch.refused.length === batch.entries.length) {
      // Nothing to forward: the gateway answers every entry itself.
      const plan = batch;
      meta.code = 'FW_GATEWAY_NOT_READ_ONLY';
      sendJson(
        res,
        200,
        { resourceType: 'Bundle', type: 'batch-response', entry: plan.entries.map(() => REFUSED_ENTRY[version]()) },
        `${FHIR_JSON_MIME[version]}; charset=utf-8`,
      );
      return;
    }
    const plan = batch;
    const result = await forward(req, res, provider, {
      segments: target.segments,
      query: target.query,
      body: plan === undefined ? body : plan.forward,
      publicBase: target.tenant === undefined ? url : `${url}/${target.tenant}`,
      maxResponseBytes,
      ...(plan !== undefined && plan.refused.length > 0
        ? { mapBody: (answer: Buffer) => mergeBatch(plan, version, answer) }
        : {}),
    });
    meta.upstreamMs = result.upstreamMs;
    if (result.error !== undefined) {
      outcome(res, meta, result.error, version);
    } else {
      meta.upstreamStatus = result.status;
    }
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, meta: RequestMeta): Promise<void> {
    const target = parseTarget(req.method ?? 'GET', req.url ?? '/');
    switch (target.kind) {
      case 'error': {
        meta.route = target.route;
        setRequestContext(req, { route: target.route });
        req.resume();
        outcome(
          res,
          meta,
          new GatewayError(target.code, target.message),
          defaultVersion,
          target.allow !== undefined ? { allow: target.allow } : undefined,
        );
        return;
      }
      case 'metadata': {
        meta.route = '/metadata';
        let version = defaultVersion;
        if (target.tenant !== undefined) {
          const provider = providers.get(target.tenant);
          if (provider === undefined) {
            setRequestContext(req, { route: '/metadata' });
            outcome(res, meta, new GatewayError('FW_GATEWAY_TENANT_UNKNOWN', 'unknown tenant'), defaultVersion);
            return;
          }
          version = provider.fhirVersion;
        }
        setRequestContext(req, { route: '/metadata', fhirVersion: version });
        const body = metadata(version, target.tenant === undefined ? url : `${url}/${target.tenant}`);
        res.writeHead(200, {
          'content-type': `${FHIR_JSON_MIME[version]}; charset=utf-8`,
          'content-length': body.length,
          'cache-control': 'public, max-age=300',
        });
        res.end(body);
        return;
      }
      case 'smart-configuration':
        meta.route = '/.well-known/smart-configuration';
        setRequestContext(req, { route: meta.route });
        sendJson(res, 200, {
          issuer,
          token_endpoint: `${url}/token`,
          authorization_endpoint: `${url}/authorize`,
          jwks_uri: `${url}/.well-known/jwks.json`,
          grant_types_supported: ['client_credentials'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          scopes_supported: ['tenant:{tenant-guid}'],
          capabilities: [],
        });
        return;
      case 'jwks':
        meta.route = '/.well-known/jwks.json';
        setRequestContext(req, { route: meta.route });
        sendJson(res, 200, { keys: [key.publicJwk] });
        return;
      case 'authorize':
        // The OAuth URIs extension needs an authorize URI (1..1); client credentials has no such step.
        meta.route = '/authorize';
        meta.code = 'unsupported_response_type';
        setRequestContext(req, { route: meta.route });
        req.resume();
        sendJson(
          res,
          400,
          {
            error: 'unsupported_response_type',
            error_description: 'this server supports the client credentials grant only',
          },
          'application/json; charset=utf-8',
          { 'cache-control': 'no-store' },
        );
        return;
      case 'token':
        meta.route = '/token';
        meta.code = await handleToken(req, res, {
          registry,
          tokens,
          hasTenant: (tenant) => providers.has(tenant),
          ...(authThrottle === undefined ? {} : { throttle: authThrottle }),
        });
        return;
      case 'admin':
        meta.code = await handleAdmin(req, res, target.segments, admin);
        meta.route = getRequestContext(req)?.route ?? '/admin';
        return;
      case 'fhir':
        meta.route = target.route;
        setRequestContext(req, { route: target.route });
        await handleFhir(req, res, target, meta);
        return;
    }
  }

  const inner: RequestListener = (req, res) => {
    const started = performance.now();
    const meta: RequestMeta = { route: 'unknown', code: '', upstreamStatus: 0, upstreamMs: 0 };
    if (log !== undefined) {
      res.once('close', () => {
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
        log(JSON.stringify(line));
      });
    }
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
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
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
        `content-type: ${FHIR_JSON_MIME[defaultVersion]}; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
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
  });

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
