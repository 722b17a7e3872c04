/**
 * The gateway's route table: one handler per kind of request target (routes.ts classifies the
 * target, purely), and the FHIR route as a list of named steps, each of which either answers the
 * request (a refusal as an OperationOutcome) or hands on to the next. `createGateway` (gateway.ts)
 * owns the state; this module owns what a request does with it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FHIR_JSON_MIME, type FhirVersion } from '@fhirwatch/contract';
import { getRequestContext, setRequestContext } from '@fhirwatch/otel-middleware';
import { type AdminDeps, handleAdmin } from './admin.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { type BatchPlan, mergeBatch, planBatch, refusedEntry } from './batch.ts';
import { GatewayError } from './errors.ts';
import { parseForm } from './form.ts';
import { FORM_MEDIA_TYPE, JSON_MEDIA_TYPES, mediaType, readBody, sendJson, sendOutcome } from './http.ts';
import { handleToken } from './oauth.ts';
import { forward, type Provider } from './proxy.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { ClientRegistry } from './registry.ts';
import type { Target } from './routes.ts';
import type { AccessTokenClaims, SigningKey, TokenService } from './tokens.ts';

/** Per-request facts for the log line (never ids, URLs or queries). */
export interface RequestMeta {
  route: string;
  code: string;
  upstreamStatus: number;
  upstreamMs: number;
}

/** What the routes read of the running gateway (built once by `createGateway`). */
export interface GatewayContext {
  /** The gateway's public URL, no trailing slash. */
  readonly url: string;
  readonly issuer: string;
  readonly key: SigningKey;
  readonly defaultVersion: FhirVersion;
  /** Tenant → provider (config file, then admin API changes); read on every request. */
  readonly providers: ReadonlyMap<string, Provider>;
  readonly registry: ClientRegistry;
  readonly tokens: TokenService;
  readonly limiter: RateLimiter | undefined;
  readonly authThrottle: AuthThrottle | undefined;
  readonly admin: AdminDeps | undefined;
  readonly userClaim: string | undefined;
  readonly maxBodyBytes: number;
  readonly maxBatchEntries: number;
  readonly maxResponseBytes: number;
  /** The capability statement of `version` for the FHIR base `base`, serialized (cached). */
  metadata(version: FhirVersion, base: string): Buffer;
}

type TargetOf<K extends Target['kind']> = Extract<Target, { kind: K }>;
type FhirTarget = TargetOf<'fhir'>;

/** One route: what the gateway does with a target of one kind. */
type Route<K extends Target['kind']> = (
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: TargetOf<K>,
  meta: RequestMeta,
) => Promise<void> | void;

/** Answer `error` as an OperationOutcome and record its code for the log line. */
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

/** The FHIR base a target is answered under: `{url}` or `{url}/{tenant}`. */
function publicBase(gw: GatewayContext, tenant: string | undefined): string {
  return tenant === undefined ? gw.url : `${gw.url}/${tenant}`;
}

export const ROUTES: { readonly [K in Target['kind']]: Route<K> } = {
  error(gw, req, res, target, meta) {
    meta.route = target.route;
    setRequestContext(req, { route: target.route });
    req.resume();
    outcome(
      res,
      meta,
      new GatewayError(target.code, target.message),
      gw.defaultVersion,
      target.allow !== undefined ? { allow: target.allow } : undefined,
    );
  },

  metadata(gw, req, res, target, meta) {
    meta.route = '/metadata';
    let version = gw.defaultVersion;
    if (target.tenant !== undefined) {
      const provider = gw.providers.get(target.tenant);
      if (provider === undefined) {
        setRequestContext(req, { route: '/metadata' });
        outcome(res, meta, new GatewayError('FW_GATEWAY_TENANT_UNKNOWN', 'unknown tenant'), gw.defaultVersion);
        return;
      }
      version = provider.fhirVersion;
    }
    setRequestContext(req, { route: '/metadata', fhirVersion: version });
    const body = gw.metadata(version, publicBase(gw, target.tenant));
    res.writeHead(200, {
      'content-type': `${FHIR_JSON_MIME[version]}; charset=utf-8`,
      'content-length': body.length,
      'cache-control': 'public, max-age=300',
    });
    res.end(body);
  },

  'smart-configuration'(gw, req, res, _target, meta) {
    meta.route = '/.well-known/smart-configuration';
    setRequestContext(req, { route: meta.route });
    sendJson(res, 200, {
      issuer: gw.issuer,
      token_endpoint: `${gw.url}/token`,
      authorization_endpoint: `${gw.url}/authorize`,
      jwks_uri: `${gw.url}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: ['tenant:{tenant-guid}'],
      capabilities: [],
    });
  },

  jwks(gw, req, res, _target, meta) {
    meta.route = '/.well-known/jwks.json';
    setRequestContext(req, { route: meta.route });
    sendJson(res, 200, { keys: [gw.key.publicJwk] });
  },

  authorize(_gw, req, res, _target, meta) {
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
  },

  async token(gw, req, res, _target, meta) {
    meta.route = '/token';
    meta.code = await handleToken(req, res, {
      registry: gw.registry,
      tokens: gw.tokens,
      hasTenant: (tenant) => gw.providers.has(tenant),
      ...(gw.authThrottle === undefined ? {} : { throttle: gw.authThrottle }),
    });
  },

  async admin(gw, req, res, target, meta) {
    meta.code = await handleAdmin(req, res, target.segments, gw.admin);
    meta.route = getRequestContext(req)?.route ?? '/admin';
  },

  async fhir(gw, req, res, target, meta) {
    meta.route = target.route;
    setRequestContext(req, { route: target.route });
    await runFhirSteps(gw, req, res, target, meta);
  },
};

/** Run the route of `target`'s kind. */
export function route(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  meta: RequestMeta,
): Promise<void> | void {
  // The mapped type pairs each kind with its handler; TypeScript cannot narrow the union through the index.
  const handler = ROUTES[target.kind] as Route<Target['kind']>;
  return handler(gw, req, res, target, meta);
}

// ---- The FHIR route, step by step ----

/** A step's refusal: the error, the FHIR version to answer in (else the default), extra headers. */
interface Refusal {
  refuse: GatewayError;
  version?: FhirVersion;
  headers?: Record<string, string>;
}

const BEARER_CHALLENGE = { 'www-authenticate': 'Bearer realm="fhirwatch"' };
const INVALID_TOKEN_CHALLENGE = { 'www-authenticate': 'Bearer realm="fhirwatch", error="invalid_token"' };

/** What the request carries on to the provider once read and checked. */
interface ReadRequest {
  body?: Buffer;
  batch?: BatchPlan;
}

function isRefusal(value: object): value is Refusal {
  return 'refuse' in value;
}

/**
 * The FHIR route: claim the path's tenant, authenticate the token, authorize it for the tenant,
 * pick the tenant's provider, rate-limit the client, read and check the body, then answer a batch
 * of refused entries itself or forward to the provider.
 */
async function runFhirSteps(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: FhirTarget,
  meta: RequestMeta,
): Promise<void> {
  const fail = ({ refuse, version = gw.defaultVersion, headers }: Refusal): void => {
    req.resume();
    outcome(res, meta, refuse, version, headers);
  };
  claimPathTenant(gw, req, target);
  const claims = await authenticate(gw, req);
  if (isRefusal(claims)) return fail(claims);
  const authorized = authorizeTenant(gw, target, claims);
  if (authorized !== undefined) return fail(authorized);
  const provider = tenantProvider(gw, req, claims);
  if (isRefusal(provider)) return fail(provider);
  const version = provider.fhirVersion;
  const limited = rateLimit(gw, claims, version);
  if (limited !== undefined) return fail(limited);
  const read = await readRequest(gw, req, res, target, version);
  if (isRefusal(read)) return fail(read);
  if (answerRefusedBatch(res, meta, read.batch, version)) return;
  await forwardToProvider(gw, req, res, target, meta, provider, read);
}

/** Until a token verifies it, the tenant is only what the path claims (recorded as claimed). */
function claimPathTenant(gw: GatewayContext, req: IncomingMessage, target: FhirTarget): void {
  if (target.tenant === undefined) return;
  const claimed = gw.providers.get(target.tenant);
  setRequestContext(req, {
    tenantId: target.tenant,
    tenantClaimed: true,
    ...(claimed === undefined ? {} : { fhirVersion: claimed.fhirVersion }),
  });
}

/** A valid bearer access token, its tenant and client (and the user claim, when configured) recorded. */
async function authenticate(gw: GatewayContext, req: IncomingMessage): Promise<AccessTokenClaims | Refusal> {
  const authorization = req.headers.authorization;
  if (authorization === undefined || !/^bearer /i.test(authorization)) {
    return {
      refuse: new GatewayError('FW_GATEWAY_TOKEN_MISSING', 'a bearer access token is required'),
      headers: BEARER_CHALLENGE,
    };
  }
  const claims = await gw.tokens.verify(authorization.slice(7).trim());
  if (claims === undefined) {
    return {
      refuse: new GatewayError('FW_GATEWAY_TOKEN_INVALID', 'the access token is not valid'),
      headers: INVALID_TOKEN_CHALLENGE,
    };
  }
  setRequestContext(req, { tenantId: claims.tenantId, tenantClaimed: false, clientId: claims.clientId });
  if (gw.userClaim !== undefined) {
    const user = claims.payload[gw.userClaim];
    if (typeof user === 'string' && user !== '') setRequestContext(req, { userId: user });
  }
  return claims;
}

/** The token names the path's tenant (if any), is not revoked, and its client is bound to the tenant. */
function authorizeTenant(gw: GatewayContext, target: FhirTarget, claims: AccessTokenClaims): Refusal | undefined {
  if (target.tenant !== undefined && target.tenant !== claims.tenantId) {
    return { refuse: new GatewayError('FW_GATEWAY_TENANT_MISMATCH', 'the access token is for another tenant') };
  }
  const grant = gw.registry.grantState(claims.clientId, claims.secretId, claims.tenantId);
  if (grant === 'revoked') {
    return {
      refuse: new GatewayError('FW_GATEWAY_TOKEN_REVOKED', 'the access token was revoked'),
      headers: INVALID_TOKEN_CHALLENGE,
    };
  }
  if (grant === 'not-bound') {
    return { refuse: new GatewayError('FW_GATEWAY_TENANT_NOT_BOUND', 'the client is not registered for this tenant') };
  }
  return undefined;
}

/** Only ever the provider of the token's tenant. */
function tenantProvider(gw: GatewayContext, req: IncomingMessage, claims: AccessTokenClaims): Provider | Refusal {
  const provider = gw.providers.get(claims.tenantId);
  if (provider === undefined) {
    return { refuse: new GatewayError('FW_GATEWAY_TENANT_UNKNOWN', 'no provider is configured for this tenant') };
  }
  setRequestContext(req, { routedTenantId: provider.tenantId, fhirVersion: provider.fhirVersion });
  return provider;
}

function rateLimit(gw: GatewayContext, claims: AccessTokenClaims, version: FhirVersion): Refusal | undefined {
  if (gw.limiter === undefined) return undefined;
  const wait = gw.limiter.take(claims.clientId);
  if (wait <= 0) return undefined;
  return {
    refuse: new GatewayError('FW_GATEWAY_RATE_LIMITED', 'too many requests for this client'),
    version,
    headers: { 'retry-after': String(wait) },
  };
}

/**
 * A POST's body, read within the limit and checked for its interaction (batch: a JSON Bundle planned
 * into forwarded and refused entries; `_search`: a well-formed form; an operation: JSON or a form).
 * Any other request's body is drained.
 */
async function readRequest(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: FhirTarget,
  version: FhirVersion,
): Promise<ReadRequest | Refusal> {
  if (req.method !== 'POST') {
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) req.resume();
    return {};
  }
  const type = mediaType(req.headers['content-type']);
  const form = type === FORM_MEDIA_TYPE;
  const unsupported = (message: string): Refusal => ({
    refuse: new GatewayError('FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE', message),
    version,
  });
  if (target.interaction === 'batch' && !JSON_MEDIA_TYPES.has(type))
    return unsupported('a batch is a FHIR JSON Bundle');
  if (target.interaction === 'post-search' && !form) return unsupported(`_search takes ${FORM_MEDIA_TYPE}`);
  if (target.interaction === 'operation' && !form && !JSON_MEDIA_TYPES.has(type) && type !== '') {
    return unsupported('unsupported content type');
  }
  try {
    const body = await readBody(req, res, gw.maxBodyBytes);
    let batch: BatchPlan | undefined;
    if (target.interaction === 'batch') batch = planBatch(body, gw.maxBatchEntries);
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
    return batch === undefined ? { body } : { body, batch };
  } catch (error) {
    if (error instanceof GatewayError) return { refuse: error, version };
    throw error;
  }
}

/** A batch whose every entry the gateway refused: answered here, nothing forwarded. True when answered. */
function answerRefusedBatch(
  res: ServerResponse,
  meta: RequestMeta,
  batch: BatchPlan | undefined,
  version: FhirVersion,
): boolean {
  if (batch === undefined || batch.refused.length === 0 || batch.refused.length !== batch.entries.length) return false;
  meta.code = 'FW_GATEWAY_NOT_READ_ONLY';
  sendJson(
    res,
    200,
    { resourceType: 'Bundle', type: 'batch-response', entry: batch.entries.map(() => refusedEntry(version)) },
    `${FHIR_JSON_MIME[version]}; charset=utf-8`,
  );
  return true;
}

/** Forward to the tenant's provider; a batch's refused entries are put back into its answer. */
async function forwardToProvider(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: FhirTarget,
  meta: RequestMeta,
  provider: Provider,
  { body, batch: plan }: ReadRequest,
): Promise<void> {
  const version = provider.fhirVersion;
  const result = await forward(req, res, provider, {
    segments: target.segments,
    query: target.query,
    body: plan === undefined ? body : plan.forward,
    publicBase: publicBase(gw, target.tenant),
    maxResponseBytes: gw.maxResponseBytes,
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
