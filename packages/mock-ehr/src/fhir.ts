/**
 * FHIR behaviour as a function from a request to a response over the store; server.ts adapts it to
 * node:http. Interactions: https://www.hl7.org/fhir/STU3/http.html (read, search-type, batch) and
 * https://www.hl7.org/fhir/DSTU2/http.html.
 */
import { STATUS_CODES } from 'node:http';
import {
  capabilityStatement,
  errorOutcome,
  FHIR_RELEASES,
  formatSearchParams,
  parseSearchParams,
} from '@fhirwatch/contract';
import { MOCK_EHR_ERROR, MockEhrError } from './errors.ts';
import { type SearchMode, search } from './search.ts';
import type { Store } from './store.ts';

export interface FhirResponse {
  status: number;
  body: Buffer;
  /** Extra response headers (Allow, ETag …). */
  headers?: Readonly<Record<string, string>>;
}

/** What a route needs before it can run. */
export type RouteKind = 'metadata' | 'read' | 'search' | 'search-post' | 'batch' | 'export';

export interface Route {
  kind: RouteKind;
  type: string;
  id: string;
}

const READ_HEADERS = { etag: 'W/"1"', 'last-modified': 'Tue, 30 Jun 2026 12:00:00 GMT' } as const;

export function outcomeBody(error: MockEhrError): Buffer {
  return Buffer.from(JSON.stringify(errorOutcome(error)));
}

export function errorResponse(error: MockEhrError): FhirResponse {
  const response: FhirResponse = { status: error.status, body: outcomeBody(error) };
  const allow = (error as MockEhrError & { allow?: string }).allow;
  if (allow !== undefined) response.headers = { allow };
  return response;
}

function methodNotAllowed(allow: string): MockEhrError {
  const error = new MockEhrError(MOCK_EHR_ERROR.method, `method not allowed; allowed: ${allow}`);
  return Object.assign(error, { allow });
}

function notFound(message: string, code: typeof MOCK_EHR_ERROR.notFound | typeof MOCK_EHR_ERROR.unknownType) {
  return new MockEhrError(code, message);
}

function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch (cause) {
    throw new MockEhrError(MOCK_EHR_ERROR.badEncoding, 'malformed percent-encoding in the path', { cause });
  }
}

export interface FhirApi {
  /** Resolve a path (relative to the FHIR base, e.g. `/Patient/1`) and method to a route; throws 404/405/400. */
  route(method: string, path: string): Route;
  /**
   * Run a route whose input is complete (`query`: raw query string; `body` for POST routes).
   * `lenient`: the request said `Prefer: handling=lenient` (applies to a batch's entries too).
   */
  run(route: Route, query: string, body?: Buffer, lenient?: boolean): FhirResponse;
}

/** True when a `Prefer` header asks for lenient handling (FHIR search: ignore unknown parameters). */
export function prefersLenient(prefer: string | string[] | undefined): boolean {
  if (prefer === undefined) return false;
  const text = Array.isArray(prefer) ? prefer.join(',') : prefer;
  return text.split(/[,;]/).some((item) => item.trim().toLowerCase().replaceAll(' ', '') === 'handling=lenient');
}

export interface FhirApiOptions {
  software: { name: string; version: string };
  /** OAuth URIs announced in /metadata (the seed requires the extension). */
  oauth: { tokenUrl: string; authorizeUrl: string };
  stringSearch?: 'seed' | 'fhir';
}

export function createFhirApi(store: Store, baseUrl: string, options: FhirApiOptions): FhirApi {
  const version = store.fhirVersion;
  const metadata = Buffer.from(
    JSON.stringify(
      capabilityStatement(version, {
        baseUrl,
        software: options.software,
        tokenUrl: options.oauth.tokenUrl,
        authorizeUrl: options.oauth.authorizeUrl,
      }),
    ),
  );
  const strictMode: SearchMode = { stringSearch: options.stringSearch ?? 'seed' };
  const lenientMode: SearchMode = { ...strictMode, lenient: true };

  let exports = 0;
  const route = (method: string, path: string): Route => {
    const get = method === 'GET' || method === 'HEAD';
    if (path === '/' || path === '') {
      if (method === 'POST') return { kind: 'batch', type: '', id: '' };
      throw methodNotAllowed('POST');
    }
    const segments = path.split('/');
    // segments[0] is '' (the path starts with '/'); a trailing '/' is tolerated.
    if (segments[segments.length - 1] === '' && segments.length > 2) segments.pop();
    const type = decodeSegment(segments[1] ?? '');
    if (segments.length === 2 && type === 'metadata') {
      if (get) return { kind: 'metadata', type: '', id: '' };
      throw methodNotAllowed('GET, HEAD');
    }
    // Bulk Data kick-off (`$export`, `Patient/$export`, `Group/{id}/$export`): accepted, never produced
    const last = decodeSegment(segments[segments.length - 1] ?? '');
    if (
      last === '$export' &&
      (segments.length === 2 ||
        (segments.length === 3 && type === 'Patient') ||
        (segments.length === 4 && type === 'Group'))
    ) {
      if (get) return { kind: 'export', type, id: segments.length === 4 ? decodeSegment(segments[2]!) : '' };
      throw methodNotAllowed('GET');
    }
    if (!store.types.has(type)) throw notFound(`unknown resource type for ${version}`, MOCK_EHR_ERROR.unknownType);
    if (segments.length === 2) {
      if (get) return { kind: 'search', type, id: '' };
      throw methodNotAllowed('GET, HEAD');
    }
    if (segments.length === 3) {
      const id = decodeSegment(segments[2]!);
      if (id === '_search') {
        if (method === 'POST') return { kind: 'search-post', type, id: '' };
        if (get) return { kind: 'search', type, id: '' };
        throw methodNotAllowed('GET, HEAD, POST');
      }
      if (get) return { kind: 'read', type, id };
      throw methodNotAllowed('GET, HEAD');
    }
    throw notFound('unsupported path', MOCK_EHR_ERROR.notFound);
  };

  const read = (type: string, id: string): FhirResponse => {
    const stored = store.read(type, id);
    if (stored === undefined) throw notFound(`${type} not found`, MOCK_EHR_ERROR.notFound);
    return { status: 200, body: stored.body, headers: READ_HEADERS };
  };

  const searchset = (type: string, query: string, lenient: boolean): FhirResponse => {
    const result = search(store, type, parseSearchParams(query), lenient ? lenientMode : strictMode);
    const { total, offset, count, page } = result;
    // Encoded once per search; the links differ only in the trailing offset.
    const prefix = JSON.stringify(`${baseUrl}/${type}?${formatSearchParams(result.linkParams)}&_offset=`).slice(0, -1);
    const link = (relation: string, at: number): string => `{"relation":"${relation}","url":${prefix}${at}"}`;
    const links = [link('self', offset)];
    if (count > 0) {
      const lastOffset = total === 0 ? 0 : Math.floor((total - 1) / count) * count;
      links.push(link('first', 0));
      if (offset > 0) links.push(link('previous', Math.max(0, offset - count)));
      if (offset + count < total) links.push(link('next', offset + count));
      links.push(link('last', lastOffset));
    }
    const head = `{"resourceType":"Bundle","type":"searchset","total":${total},"link":[${links.join(',')}]`;
    if (page.length === 0) return { status: 200, body: Buffer.from(`${head}}`) };
    const parts: Buffer[] = [Buffer.from(`${head},"entry":[`)];
    for (let i = 0; i < page.length; i++) {
      if (i > 0) parts.push(COMMA);
      parts.push(page[i]!.entry);
    }
    parts.push(CLOSE_ENTRIES);
    return { status: 200, body: Buffer.concat(parts) };
  };

  const batch = (body: Buffer | undefined, lenient: boolean): FhirResponse => {
    let bundle: unknown;
    try {
      bundle = JSON.parse((body ?? Buffer.alloc(0)).toString('utf8'));
    } catch (cause) {
      throw new MockEhrError(MOCK_EHR_ERROR.badJson, 'request body is not valid JSON', { cause });
    }
    const b = bundle as Record<string, unknown> | null;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || b.resourceType !== 'Bundle') {
      throw new MockEhrError(MOCK_EHR_ERROR.badBundle, 'POST [base] expects a Bundle');
    }
    if (b.type !== 'batch') {
      throw new MockEhrError(
        MOCK_EHR_ERROR.badBundle,
        'only Bundle.type = batch is processed (transaction and others are not supported)',
        { issue: 'not-supported' },
      );
    }
    if (b.entry !== undefined && !Array.isArray(b.entry)) {
      throw new MockEhrError(MOCK_EHR_ERROR.badBundle, 'Bundle.entry must be an array', { issue: 'structure' });
    }
    const entries = (b.entry ?? []) as unknown[];
    const parts: Buffer[] = [Buffer.from('{"resourceType":"Bundle","type":"batch-response","entry":[')];
    entries.forEach((entry, i) => {
      if (i > 0) parts.push(COMMA);
      const response = batchEntry(entry, lenient);
      const status = `${response.status} ${STATUS_CODES[response.status] ?? ''}`.trim();
      if (response.status < 300) {
        const etag = response.headers?.etag === undefined ? '' : `,"etag":${JSON.stringify(response.headers.etag)}`;
        parts.push(
          Buffer.from('{"resource":'),
          response.body,
          Buffer.from(`,"response":{"status":"${status}"${etag}}}`),
        );
      } else if (FHIR_RELEASES[version].batchEntryOutcome === 'response.outcome') {
        // STU3 carries the OperationOutcome in entry.response.outcome.
        parts.push(Buffer.from(`{"response":{"status":"${status}","outcome":`), response.body, Buffer.from('}}'));
      } else {
        // DSTU2's Bundle.entry.response has no `outcome`: the OperationOutcome is the entry's resource.
        parts.push(Buffer.from('{"resource":'), response.body, Buffer.from(`,"response":{"status":"${status}"}}`));
      }
    });
    parts.push(CLOSE_ENTRIES);
    return { status: 200, body: Buffer.concat(parts) };
  };

  const basePath = new URL(baseUrl).pathname.replace(/\/$/, '');
  /**
   * The path (and query) of a batch entry URL relative to the FHIR base: relative (`Patient/1`),
   * rooted (`/fhir/Patient/1`), or absolute on this server or on a proxy in front of it
   * (`https://gateway/t/x/Patient/1`: everything before the first resource-type segment is dropped).
   */
  const entryPath = (raw: string): string => {
    let url = raw;
    if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch (cause) {
        throw new MockEhrError(MOCK_EHR_ERROR.badBundle, 'malformed batch entry URL', { cause });
      }
      const segments = parsed.pathname.split('/');
      const at = segments.findIndex((segment) => store.types.has(segment) || segment === 'metadata');
      if (at === -1) throw notFound('batch entry URL names no resource type of this server', MOCK_EHR_ERROR.notFound);
      return `/${segments.slice(at).join('/')}${parsed.search}`;
    }
    if (!url.startsWith('/')) url = `/${url}`;
    else if (basePath !== '' && url.startsWith(`${basePath}/`)) url = url.slice(basePath.length);
    return url;
  };

  const batchEntry = (entry: unknown, lenient: boolean): FhirResponse => {
    try {
      const request = (entry as { request?: unknown } | null)?.request as
        | { method?: unknown; url?: unknown }
        | undefined;
      if (request === null || typeof request !== 'object' || typeof request.url !== 'string') {
        throw new MockEhrError(MOCK_EHR_ERROR.badBundle, 'batch entry without request.method and request.url', {
          issue: 'required',
        });
      }
      const method = typeof request.method === 'string' ? request.method : '';
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET');
      const url = entryPath(request.url);
      const q = url.indexOf('?');
      const r = route('GET', q === -1 ? url : url.slice(0, q));
      if (r.kind === 'batch') throw methodNotAllowed('POST');
      return run(r, q === -1 ? '' : url.slice(q + 1), undefined, lenient);
    } catch (error) {
      if (error instanceof MockEhrError) return errorResponse(error);
      throw error;
    }
  };

  const run = (r: Route, query: string, body?: Buffer, lenient = false): FhirResponse => {
    switch (r.kind) {
      case 'metadata':
        return { status: 200, body: metadata };
      case 'read':
        return read(r.type, r.id);
      case 'search':
        return searchset(r.type, query, lenient);
      case 'search-post': {
        const form = body === undefined || body.length === 0 ? '' : body.toString('utf8');
        return searchset(r.type, query === '' ? form : form === '' ? query : `${query}&${form}`, lenient);
      }
      case 'batch':
        return batch(body, lenient);
      case 'export':
        // https://hl7.org/fhir/uv/bulkdata/export.html#response---success: 202 and where to poll (no files are made)
        exports += 1;
        return { status: 202, body: EMPTY, headers: { 'content-location': `${baseUrl}/$export-status/${exports}` } };
    }
  };

  return { route, run };
}

const COMMA = Buffer.from(',');
const EMPTY = Buffer.alloc(0);
const CLOSE_ENTRIES = Buffer.from(']}');
