/**
 * Admin HTTP API (`/admin/...`), protected by its own bearer credential (compared in constant time):
 *
 *   GET    /admin/clients                              list clients (no secrets)
 *   POST   /admin/clients            {tenants, name?}  create: 201 {clientId, clientSecret, secretId, tenants}
 *   GET    /admin/clients/{id}                         one client
 *   DELETE /admin/clients/{id}                         delete a client
 *   PUT    /admin/clients/{id}/tenants  {tenants}      replace the client's tenants
 *   POST   /admin/clients/{id}/secrets  {graceSeconds?}  rotate: 201 with the new secret
 *   DELETE /admin/clients/{id}/secrets/{secretId}      revoke a secret
 *   GET    /admin/tenants                              tenant → provider map
 *   PUT    /admin/tenants/{tenant}  {baseUrl, fhirVersion, timeoutMs?}
 *   DELETE /admin/tenants/{tenant}
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_FHIR_VERSION } from '@fhirwatch/contract';
import { setRequestContext } from '@fhirwatch/otel-middleware';
import { validateTenant } from './config.ts';
import { GatewayError } from './errors.ts';
import { JSON_MEDIA_TYPES, mediaType, readBody, sendJson, sendOutcome } from './http.ts';
import type { ClientRegistry } from './registry.ts';
import { normalizeTenantId } from './tenant-id.ts';
import type { TenantProvider } from './types.ts';

export const ADMIN_BODY_LIMIT = 64 * 1024;

/**
 * The admin routes (the list above as data), for the security test that walks them: every one needs the admin
 * credential, which is checked before any of them is looked at.
 */
export const ADMIN_ROUTES = [
  { path: '/admin/clients', methods: ['GET', 'POST'] },
  { path: '/admin/clients/{id}', methods: ['GET', 'DELETE'] },
  { path: '/admin/clients/{id}/tenants', methods: ['PUT'] },
  { path: '/admin/clients/{id}/secrets', methods: ['POST'] },
  { path: '/admin/clients/{id}/secrets/{secretId}', methods: ['DELETE'] },
  { path: '/admin/tenants', methods: ['GET'] },
  { path: '/admin/tenants/{tenant}', methods: ['PUT', 'DELETE'] },
] as const satisfies readonly { path: string; methods: readonly string[] }[];

export interface AdminDeps {
  adminToken: string;
  registry: ClientRegistry;
  listTenants(): Record<string, Required<TenantProvider>>;
  putTenant(tenantId: string, provider: Required<TenantProvider>): void;
  deleteTenant(tenantId: string): boolean;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time check of an `Authorization: Bearer <admin token>` header. */
export function adminAuthorized(header: string | undefined, adminToken: string): boolean {
  const presented = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : '';
  return timingSafeEqual(digest(presented), digest(adminToken)) && presented !== '';
}

async function jsonBody(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown>> {
  if (!JSON_MEDIA_TYPES.has(mediaType(req.headers['content-type']))) {
    req.resume();
    throw new GatewayError('FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE', 'content type must be application/json');
  }
  const body = await readBody(req, res, ADMIN_BODY_LIMIT);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new GatewayError('FW_GATEWAY_MALFORMED_JSON', 'request body is not valid JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayError('FW_GATEWAY_INVALID_REQUEST', 'request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function tenantsField(body: Record<string, unknown>): string[] {
  const { tenants } = body;
  if (!Array.isArray(tenants) || tenants.some((t) => typeof t !== 'string')) {
    throw new GatewayError('FW_GATEWAY_INVALID_REQUEST', '"tenants" must be an array of tenant GUIDs');
  }
  return tenants as string[];
}

function routeOf(segments: readonly string[]): string {
  const [a, b, c, d] = segments;
  if (a === 'clients') {
    if (b === undefined) return '/admin/clients';
    if (c === undefined) return '/admin/clients/{id}';
    if (d === undefined) return `/admin/clients/{id}/${c === 'tenants' || c === 'secrets' ? c : '?'}`;
    return '/admin/clients/{id}/secrets/{secretId}';
  }
  if (a === 'tenants') return b === undefined ? '/admin/tenants' : '/admin/tenants/{tenant}';
  return '/admin';
}

/** Handle one admin request. Returns the error code answered ('' on success). */
export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  segments: readonly string[],
  deps: AdminDeps | undefined,
): Promise<string> {
  const route = routeOf(segments);
  setRequestContext(req, { route });
  const fail = (error: GatewayError, headers?: Record<string, string>): string => {
    req.resume();
    sendOutcome(res, error, DEFAULT_FHIR_VERSION, headers);
    return error.code;
  };
  if (deps === undefined) return fail(new GatewayError('FW_GATEWAY_UNKNOWN_ROUTE', 'unknown route'));
  if (!adminAuthorized(req.headers.authorization, deps.adminToken)) {
    return fail(new GatewayError('FW_GATEWAY_ADMIN_UNAUTHORIZED', 'admin credential required'), {
      'www-authenticate': 'Bearer realm="fhirwatch-admin"',
    });
  }
  const { registry } = deps;
  const method = req.method ?? 'GET';
  const [a, b, c, d, e] = segments;
  try {
    if (a === 'clients' && b === undefined) {
      if (method === 'GET') return done(res, 200, { clients: registry.listClients() });
      if (method === 'POST') {
        const body = await jsonBody(req, res);
        const name = typeof body.name === 'string' ? body.name : undefined;
        return done(res, 201, await registry.createClient({ tenants: tenantsField(body), name }));
      }
      return notAllowed(req, res, 'GET, POST');
    }
    if (a === 'clients' && b !== undefined && c === undefined) {
      if (method === 'GET') return done(res, 200, registry.getClient(b));
      if (method === 'DELETE') {
        registry.deleteClient(b);
        return done(res, 204, undefined);
      }
      return notAllowed(req, res, 'GET, DELETE');
    }
    if (a === 'clients' && b !== undefined && c === 'tenants' && d === undefined) {
      if (method !== 'PUT') return notAllowed(req, res, 'PUT');
      return done(res, 200, registry.setClientTenants(b, tenantsField(await jsonBody(req, res))));
    }
    if (a === 'clients' && b !== undefined && c === 'secrets' && d === undefined) {
      if (method !== 'POST') return notAllowed(req, res, 'POST');
      const body = req.headers['content-length'] === '0' ? {} : await jsonBody(req, res);
      const grace = body.graceSeconds;
      if (grace !== undefined && (typeof grace !== 'number' || !(grace >= 0))) {
        throw new GatewayError('FW_GATEWAY_INVALID_REQUEST', '"graceSeconds" must be a number ≥ 0');
      }
      return done(res, 201, await registry.rotateSecret(b, grace === undefined ? {} : { graceSeconds: grace }));
    }
    if (a === 'clients' && b !== undefined && c === 'secrets' && d !== undefined && e === undefined) {
      if (method !== 'DELETE') return notAllowed(req, res, 'DELETE');
      registry.revokeSecret(b, d);
      return done(res, 204, undefined);
    }
    if (a === 'tenants' && b === undefined) {
      if (method !== 'GET') return notAllowed(req, res, 'GET');
      return done(res, 200, { tenants: deps.listTenants() });
    }
    if (a === 'tenants' && b !== undefined && c === undefined) {
      const tenantId = normalizeTenantId(b);
      if (tenantId === undefined) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'tenant ids are GUIDs');
      if (method === 'PUT') {
        const { provider } = validateTenant(tenantId, await jsonBody(req, res));
        deps.putTenant(tenantId, provider);
        return done(res, 200, { tenantId, ...provider });
      }
      if (method === 'DELETE') {
        if (!deps.deleteTenant(tenantId)) throw new GatewayError('FW_GATEWAY_TENANT_UNKNOWN', 'no such tenant');
        return done(res, 204, undefined);
      }
      return notAllowed(req, res, 'PUT, DELETE');
    }
    return fail(new GatewayError('FW_GATEWAY_UNKNOWN_ROUTE', 'unknown route'));
  } catch (error) {
    if (error instanceof GatewayError) return fail(error);
    throw error;
  }
}

function done(res: ServerResponse, status: number, body: unknown): string {
  if (body === undefined) {
    res.statusCode = status;
    res.end();
  } else {
    sendJson(res, status, body, 'application/json; charset=utf-8', { 'cache-control': 'no-store' });
  }
  return '';
}

function notAllowed(req: IncomingMessage, res: ServerResponse, allow: string): string {
  req.resume();
  const error = new GatewayError('FW_GATEWAY_METHOD_NOT_ALLOWED', 'method not allowed');
  sendOutcome(res, error, DEFAULT_FHIR_VERSION, { allow });
  return error.code;
}
