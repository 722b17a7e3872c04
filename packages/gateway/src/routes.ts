/**
 * Request-target parsing: a pure function from (method, raw URL) to what the gateway does with it.
 * It refuses anything that could leave the provider's base (dot segments, encoded slashes or dots,
 * absolute URLs, `//host`, backslashes) and names the route by template (`/Patient/{id}`), never by
 * the raw path, so logs and telemetry carry no ids.
 */
import type { GatewayErrorCode } from './errors.ts';
import { isWellFormedQuery } from './form.ts';
import { normalizeTenantId } from './tenant-id.ts';

export type Target =
  | { kind: 'metadata'; tenant: string | undefined }
  | { kind: 'smart-configuration'; tenant: string | undefined }
  | { kind: 'jwks' }
  | { kind: 'token' }
  | { kind: 'authorize' }
  | { kind: 'admin'; segments: string[] }
  | {
      kind: 'fhir';
      tenant: string | undefined;
      /** Path segments relative to the FHIR base, as sent (validated, still percent-encoded). */
      segments: string[];
      /** Query string without `?` ('' when none), as sent. */
      query: string;
      route: string;
      /** 'batch' (POST [base]), 'search' (POST /{type}/_search), 'read', 'search-type', 'operation', 'history'. */
      interaction: 'batch' | 'post-search' | 'read' | 'search-type' | 'operation' | 'history' | 'system-search';
      resourceType: string;
    }
  | { kind: 'error'; code: GatewayErrorCode; message: string; route: string; allow?: string };

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const OPERATION = /^\$[A-Za-z][A-Za-z0-9-]{0,63}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const FORBIDDEN_IN_SEGMENT = /[/\\\u0000-\u001f\u007f]/;

function error(code: GatewayErrorCode, message: string, route = 'unknown'): Target {
  return { kind: 'error', code, message, route };
}

/** Split and check the path; segments stay encoded. */
function splitPath(path: string): string[] | Target {
  if (path.includes('\\')) return error('FW_GATEWAY_PATH_ESCAPE', 'backslash in path');
  if (path.startsWith('//')) return error('FW_GATEWAY_PATH_ESCAPE', 'network-path reference');
  const segments = path.split('/');
  segments.shift();
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') return error('FW_GATEWAY_PATH_ESCAPE', 'empty path segment');
    let decoded = segment;
    if (segment.includes('%')) {
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        return error('FW_GATEWAY_BAD_ENCODING', 'malformed percent-encoding in path');
      }
    }
    if (decoded === '.' || decoded === '..') return error('FW_GATEWAY_PATH_ESCAPE', 'dot segment in path');
    if (FORBIDDEN_IN_SEGMENT.test(decoded)) return error('FW_GATEWAY_PATH_ESCAPE', 'separator in path segment');
  }
  return segments;
}

function methodError(route: string, allow: string): Target {
  return { kind: 'error', code: 'FW_GATEWAY_METHOD_NOT_ALLOWED', message: 'method not allowed', route, allow };
}

const READ_METHODS = 'GET, HEAD';

/**
 * Read-only by construction: the one operation forwarded is the bulk-export kick-off (`GET $export`
 * at the system, Patient and Group/{id} levels); any other operation, or POST to one, may change
 * state at the provider and is refused with 405.
 */
const EXPORT = '$export';

function notReadOnly(route: string, allow: string): Target {
  return {
    kind: 'error',
    code: 'FW_GATEWAY_NOT_READ_ONLY',
    message: 'the gateway forwards reads, searches, read-only batches and the bulk-export kick-off only',
    route,
    allow,
  };
}

/** An operation route: only the export kick-off by GET/HEAD. */
function operation(method: string, route: string, name: string, allowed: boolean, ok: () => Target): Target {
  if (!allowed || name !== EXPORT) return notReadOnly(route, '');
  return method === 'GET' || method === 'HEAD' ? ok() : notReadOnly(route, READ_METHODS);
}

/** Classify a request target. `url` is `req.url` (origin-form expected). */
export function parseTarget(method: string, url: string): Target {
  if (!url.startsWith('/')) return error('FW_GATEWAY_PATH_ESCAPE', 'absolute-form request target');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const split = splitPath(path);
  if (!Array.isArray(split)) return split;
  if (!isWellFormedQuery(query)) return error('FW_GATEWAY_BAD_ENCODING', 'malformed percent-encoding in query');
  let segments = split;
  const read = method === 'GET' || method === 'HEAD';

  const first = segments[0];
  let tenant: string | undefined;
  if (first !== undefined) {
    tenant = normalizeTenantId(first);
    if (tenant !== undefined) segments = segments.slice(1);
  }
  const [s0, s1, s2, s3, ...rest] = segments;

  if (tenant === undefined) {
    if (s0 === 'token' && s1 === undefined) {
      return method === 'POST' ? { kind: 'token' } : methodError('/token', 'POST');
    }
    if (s0 === 'admin') return { kind: 'admin', segments: segments.slice(1) };
    if (s0 === 'authorize' && s1 === undefined) return { kind: 'authorize' };
    if (s0 === '.well-known' && s1 === 'jwks.json' && s2 === undefined) {
      return read ? { kind: 'jwks' } : methodError('/.well-known/jwks.json', READ_METHODS);
    }
  }
  if (s0 === 'metadata' && s1 === undefined) {
    return read ? { kind: 'metadata', tenant } : methodError('/metadata', READ_METHODS);
  }
  if (s0 === '.well-known' && s1 === 'smart-configuration' && s2 === undefined) {
    return read
      ? { kind: 'smart-configuration', tenant }
      : methodError('/.well-known/smart-configuration', READ_METHODS);
  }

  const fhir = (
    route: string,
    interaction: Extract<Target, { kind: 'fhir' }>['interaction'],
    resourceType: string,
  ): Target => ({ kind: 'fhir', tenant, segments, query, route, interaction, resourceType });

  if (s0 === undefined) {
    if (method === 'POST') return fhir('/', 'batch', '');
    if (read) return fhir('/', 'system-search', '');
    return methodError('/', 'GET, HEAD, POST');
  }
  if (OPERATION.test(s0) && s1 === undefined) {
    return operation(method, `/${s0}`, s0, true, () => fhir(`/${s0}`, 'operation', ''));
  }
  if (!RESOURCE_TYPE.test(s0)) return error('FW_GATEWAY_UNKNOWN_ROUTE', 'unknown route');
  if (s1 === undefined) {
    return read ? fhir(`/${s0}`, 'search-type', s0) : methodError(`/${s0}`, READ_METHODS);
  }
  if (s1 === '_search' && s2 === undefined) {
    if (method === 'POST') return fhir(`/${s0}/_search`, 'post-search', s0);
    return read ? fhir(`/${s0}/_search`, 'search-type', s0) : methodError(`/${s0}/_search`, 'GET, HEAD, POST');
  }
  if (OPERATION.test(s1) && s2 === undefined) {
    const route = `/${s0}/${s1}`;
    return operation(method, route, s1, s0 === 'Patient', () => fhir(route, 'operation', s0));
  }
  if (!FHIR_ID.test(s1)) return error('FW_GATEWAY_UNKNOWN_ROUTE', 'unknown route');
  if (s2 === undefined) {
    return read ? fhir(`/${s0}/{id}`, 'read', s0) : methodError(`/${s0}/{id}`, READ_METHODS);
  }
  if (OPERATION.test(s2) && s3 === undefined) {
    const route = `/${s0}/{id}/${s2}`;
    return operation(method, route, s2, s0 === 'Group', () => fhir(route, 'operation', s0));
  }
  if (s2 === '_history' && rest.length === 0) {
    if (s3 === undefined) {
      const route = `/${s0}/{id}/_history`;
      return read ? fhir(route, 'history', s0) : methodError(route, READ_METHODS);
    }
    if (FHIR_ID.test(s3)) {
      const route = `/${s0}/{id}/_history/{vid}`;
      return read ? fhir(route, 'read', s0) : methodError(route, READ_METHODS);
    }
  }
  return error('FW_GATEWAY_UNKNOWN_ROUTE', 'unknown route');
}
