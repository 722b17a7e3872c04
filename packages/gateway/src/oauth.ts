/**
 * `POST /token`: OAuth 2.0 client credentials grant (RFC 6749 §4.4) with the tenant in `scope`.
 * Client authentication by HTTP Basic or body parameters (§2.3.1); errors exactly as §5.2.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setRequestContext } from '@fhirwatch/otel-middleware';
import type { AuthThrottle } from './auth-throttle.ts';
import type { OAuthErrorCode } from './errors.ts';
import { GatewayError } from './errors.ts';
import { formDecodeComponent, parseForm } from './form.ts';
import { FORM_MEDIA_TYPE, mediaType, readBody, sendJson } from './http.ts';
import type { ClientRegistry } from './registry.ts';
import { normalizeTenantId } from './tenant-id.ts';
import type { TokenService } from './tokens.ts';

export const TOKEN_BODY_LIMIT = 16 * 1024;

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/**
 * The tenant a scope names. Accepted forms, space-separated with other scopes ignored:
 * `<guid>`, `tenant:<guid>`, `<guid>/.default` (Azure AD style). Without a tenant in the scope, a
 * client bound to exactly one tenant gets that one.
 */
export function tenantFromScope(
  scope: string | undefined,
  clientTenants: readonly string[],
): { tenant: string; scope: string } | { error: string } {
  const named = new Set<string>();
  for (const item of (scope ?? '').split(' ')) {
    if (item === '') continue;
    let candidate = item;
    if (candidate.startsWith('tenant:')) candidate = candidate.slice('tenant:'.length);
    else if (candidate.endsWith('/.default')) candidate = candidate.slice(0, -'/.default'.length);
    const tenant = normalizeTenantId(candidate);
    if (tenant !== undefined) named.add(tenant);
    else if (item.startsWith('tenant:')) return { error: 'tenant scope is not a GUID' };
  }
  if (named.size > 1) return { error: 'scope names more than one tenant' };
  const [tenant] = named;
  if (tenant === undefined) {
    if (clientTenants.length === 1) return { tenant: clientTenants[0] as string, scope: `tenant:${clientTenants[0]}` };
    return { error: 'scope must name a tenant (tenant:<guid>)' };
  }
  if (!clientTenants.includes(tenant)) return { error: 'client is not registered for this tenant' };
  return { tenant, scope: `tenant:${tenant}` };
}

interface Credentials {
  clientId: string;
  secret: string;
  basic: boolean;
}

type Parsed = { ok: Credentials } | { fail: OAuthErrorCode; description: string; basic: boolean };

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function basicCredentials(header: string): Credentials | undefined {
  const encoded = header.slice(6).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  const clientId = formDecodeComponent(decoded.slice(0, colon));
  const secret = formDecodeComponent(decoded.slice(colon + 1));
  if (clientId === undefined || secret === undefined) return undefined;
  return { clientId, secret, basic: true };
}

function credentials(authorization: string | undefined, form: Map<string, string[]>): Parsed {
  const bodyId = form.get('client_id')?.[0];
  const bodySecret = form.get('client_secret')?.[0];
  if (authorization !== undefined) {
    if (!/^basic /i.test(authorization)) {
      return { fail: 'invalid_client', description: 'unsupported authentication scheme', basic: true };
    }
    const basic = basicCredentials(authorization);
    if (basic === undefined)
      return { fail: 'invalid_request', description: 'malformed Basic credentials', basic: true };
    if (bodySecret !== undefined) {
      return { fail: 'invalid_request', description: 'more than one client authentication method', basic: true };
    }
    if (bodyId !== undefined && bodyId !== basic.clientId) {
      return { fail: 'invalid_request', description: 'client_id differs from the Basic credentials', basic: true };
    }
    return { ok: basic };
  }
  if (bodyId === undefined || bodySecret === undefined) {
    return { fail: 'invalid_client', description: 'client authentication required', basic: false };
  }
  return { ok: { clientId: bodyId, secret: bodySecret, basic: false } };
}

function oauthError(res: ServerResponse, code: OAuthErrorCode, description: string, basic = false): void {
  const status = code === 'invalid_client' ? 401 : 400;
  const headers: Record<string, string> = { ...NO_STORE };
  if (code === 'invalid_client' && basic) headers['www-authenticate'] = 'Basic realm="fhirwatch", charset="UTF-8"';
  sendJson(res, status, { error: code, error_description: description }, 'application/json; charset=utf-8', headers);
}

/**
 * Refusal for load, not for bad credentials: `temporarily_unavailable` (RFC 6749 §4.1.2.1, the
 * registered OAuth error for an overloaded server) with 429 (RFC 6585, failure throttle) or 503
 * (scrypt queue full), plus `Retry-After`. Not `invalid_client` (the credentials were not checked)
 * and not RFC 8628's `slow_down` (a device-code polling signal).
 */
function unavailable(res: ServerResponse, status: 429 | 503, retryAfterSeconds: number, description: string): void {
  sendJson(
    res,
    status,
    { error: 'temporarily_unavailable', error_description: description },
    'application/json; charset=utf-8',
    { ...NO_STORE, 'retry-after': String(retryAfterSeconds) },
  );
}

export interface TokenEndpointDeps {
  registry: ClientRegistry;
  /** Failed-authentication throttle; absent = none. */
  throttle?: AuthThrottle;
  tokens: TokenService;
  /** Is a provider configured for this tenant? */
  hasTenant(tenantId: string): boolean;
}

/** Handle `POST /token`. Resolves with the error code answered ('' on success), for the log line. */
export async function handleToken(req: IncomingMessage, res: ServerResponse, deps: TokenEndpointDeps): Promise<string> {
  setRequestContext(req, { route: '/token' });
  const fail = (code: OAuthErrorCode, description: string, basic = false): string => {
    oauthError(res, code, description, basic);
    return code;
  };
  if (mediaType(req.headers['content-type']) !== FORM_MEDIA_TYPE) {
    req.resume();
    return fail('invalid_request', `content type must be ${FORM_MEDIA_TYPE}`);
  }
  let body: Buffer;
  try {
    body = await readBody(req, res, TOKEN_BODY_LIMIT);
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'FW_GATEWAY_BODY_TOO_LARGE') {
      sendJson(
        res,
        413,
        { error: 'invalid_request', error_description: error.message },
        'application/json; charset=utf-8',
        NO_STORE,
      );
      return 'invalid_request';
    }
    throw error;
  }
  const form = parseForm(body.toString('utf8'));
  if (form === undefined) return fail('invalid_request', 'malformed form body');
  for (const [name, values] of form) {
    if (values.length > 1) return fail('invalid_request', `parameter ${JSON.stringify(name)} repeated`);
  }
  const grantType = form.get('grant_type')?.[0];
  if (grantType === undefined || grantType === '') return fail('invalid_request', 'grant_type is required');
  if (grantType !== 'client_credentials') return fail('unsupported_grant_type', 'only client_credentials is supported');

  const parsed = credentials(req.headers.authorization, form);
  if ('fail' in parsed) return fail(parsed.fail, parsed.description, parsed.basic);
  const { clientId, secret, basic } = parsed.ok;
  // A secret in the verification cache costs no scrypt, so it is not throttled: failures others
  // cause for this client id cannot lock out a client that keeps presenting its right secret.
  let client = deps.registry.authenticateCached(clientId, secret);
  if (client === undefined) {
    const address = req.socket.remoteAddress ?? '';
    const wait = deps.throttle?.retryAfter(clientId, address) ?? 0;
    if (wait > 0) {
      unavailable(res, 429, wait, 'too many failed client authentications; retry later');
      return 'FW_GATEWAY_AUTH_THROTTLED';
    }
    try {
      client = await deps.registry.authenticate(clientId, secret);
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'FW_GATEWAY_AUTH_BUSY') {
        unavailable(res, 503, 1, 'too many client authentications in progress; retry later');
        return error.code;
      }
      throw error;
    }
    if (client === undefined) {
      deps.throttle?.recordFailure(clientId, address);
      return fail('invalid_client', 'client authentication failed', basic);
    }
  }
  setRequestContext(req, { clientId: client.clientId });
  if (client.tenants.length === 0) return fail('unauthorized_client', 'client is not registered for any tenant');

  const granted = tenantFromScope(form.get('scope')?.[0], client.tenants);
  if ('error' in granted) return fail('invalid_scope', granted.error);
  if (!deps.hasTenant(granted.tenant)) return fail('invalid_scope', 'no provider is configured for this tenant');
  setRequestContext(req, { tenantId: granted.tenant });

  const accessToken = await deps.tokens.issue({
    clientId: client.clientId,
    tenantId: granted.tenant,
    secretId: client.secretId,
    scope: granted.scope,
  });
  sendJson(
    res,
    200,
    { access_token: accessToken, token_type: 'Bearer', expires_in: deps.tokens.ttlSeconds, scope: granted.scope },
    'application/json; charset=utf-8',
    NO_STORE,
  );
  return '';
}
