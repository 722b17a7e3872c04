/**
 * Forwarding to a tenant's provider FHIR server over a keep-alive undici Pool (one per provider
 * origin). Request and response bodies stay in memory only (no PHI at rest); hop-by-hop headers and
 * the caller's credentials are not forwarded.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { FhirVersion } from '@fhirwatch/contract';
import { recordUpstream } from '@fhirwatch/otel-middleware';
import { type Dispatcher, Pool } from 'undici';
import { GatewayError } from './errors.ts';
import type { TenantProvider } from './types.ts';

/** A tenant's provider, resolved once. */
export interface Provider extends Required<TenantProvider> {
  tenantId: string;
  /** `http://host:port` */
  origin: string;
  /** Path of the FHIR base ('' or '/fhir'), no trailing slash. */
  basePath: string;
  hostname: string;
  port: number;
  pool: Pool;
  /** `baseUrl` as bytes, to find it in response bodies. */
  baseUrlBytes: Buffer;
}

/** RFC 9110 §7.6.1 hop-by-hop headers, plus what the gateway sets or must never pass on. */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'cookie',
  'content-length',
  'expect',
  // Bodies pass through the gateway uncompressed so the audit middleware can read them.
  'accept-encoding',
  // Forwarding facts come from the gateway, never from the client (the gateway sets its own below).
  'forwarded',
  'via',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
]);

/**
 * Client-supplied headers the provider could take for routing or identity facts: `X-Forwarded-*`,
 * `X-Original-*`, anything naming a tenant (`X-Tenant-Id`, `X-MS-Tenant-ID` …), and the gateway's own
 * `x-fhirwatch-*` (user identity for the audit, read here, never passed on).
 */
function isSpoofable(name: string): boolean {
  return (
    name.startsWith('x-forwarded-') ||
    name.startsWith('x-original-') ||
    name.startsWith('x-fhirwatch-') ||
    name.includes('tenant')
  );
}
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'set-cookie',
]);

/**
 * The body to send on: the provider's bytes, with its base URL (Bundle links, `fullUrl`) replaced by
 * the base the client used, so paging goes through the gateway. A body without the provider URL is
 * sent as received. With replacements (or several chunks), the bytes are handled as a latin1 string:
 * byte-for-byte (one char per byte, UTF-8 sequences untouched) and on the V8 heap, where a 100 KB
 * list-refresh answer costs far less than allocating and copying Buffers (measured: Buffer.concat +
 * a Buffer-level replace took ~2.5× the time of latin1 decode + String.replaceAll on a 97 KB batch).
 * Returns a Buffer or a latin1 string; `length` is the byte length in both cases.
 */
export function responseBody(
  chunks: readonly Buffer[],
  provider: Pick<Provider, 'baseUrl' | 'baseUrlBytes'>,
  publicBase: string,
): Buffer | string {
  const rewrite = provider.baseUrl !== publicBase;
  if (chunks.length === 0) return Buffer.alloc(0);
  if (chunks.length === 1) {
    const only = chunks[0] as Buffer;
    if (!rewrite || only.indexOf(provider.baseUrlBytes) === -1) return only;
    return only.toString('latin1').replaceAll(provider.baseUrl, publicBase);
  }
  let text = '';
  for (const chunk of chunks) text += chunk.toString('latin1');
  return rewrite ? text.replaceAll(provider.baseUrl, publicBase) : text;
}

/** Provider pools, one per origin, shared by the tenants that point at it. */
export class ProviderPools {
  readonly #pools = new Map<string, Pool>();
  readonly #connections: number;

  constructor(connections: number) {
    this.#connections = connections;
  }

  resolve(tenantId: string, provider: Required<TenantProvider>): Provider {
    const url = new URL(provider.baseUrl);
    const origin = url.origin;
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.#connections,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connect: { timeout: Math.min(provider.timeoutMs, 10_000) },
      });
      this.#pools.set(origin, pool);
    }
    const baseUrl = provider.baseUrl.replace(/\/+$/, '');
    return {
      ...provider,
      baseUrl,
      baseUrlBytes: Buffer.from(baseUrl),
      tenantId,
      origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      hostname: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      pool,
    };
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

/** `Forwarded` node name of an address (RFC 7239 §6: IPv6 quoted in brackets). */
function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}

export function upstreamHeaders(
  req: Pick<IncomingMessage, 'headers' | 'socket'>,
  connectionTokens: Set<string> | undefined,
): Record<string, string | string[]> {
  const headers = req.headers;
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (DROP_REQUEST.has(name) || connectionTokens?.has(name) || isSpoofable(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  // The gateway's own view of the hop: the peer it accepted the connection from.
  const peer = req.socket.remoteAddress;
  const proto = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  if (peer !== undefined) {
    out['x-forwarded-for'] = peer;
    out['x-forwarded-proto'] = proto;
    out.forwarded = `for=${forwardedNode(peer)};proto=${proto}`;
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(text.split(',').map((token) => token.trim().toLowerCase()));
}

/** Raised inside `exchange` when the provider's answer outgrows `maxResponseBytes`. */
class ResponseTooLarge extends Error {}

/** Map an undici failure to the gateway's answer and the telemetry error kind. */
function upstreamFailure(error: unknown): { error: GatewayError; kind: 'timeout' | 'unreachable' | 'aborted' } {
  if (error instanceof ResponseTooLarge) {
    return {
      error: new GatewayError('FW_GATEWAY_UPSTREAM_TOO_LARGE', 'the provider answer exceeds the response size limit'),
      kind: 'aborted',
    };
  }
  const code = (error as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return {
      error: new GatewayError('FW_GATEWAY_UPSTREAM_TIMEOUT', 'the provider FHIR server did not answer in time', {
        cause: error,
      }),
      kind: 'timeout',
    };
  }
  if (code === 'UND_ERR_ABORTED') {
    return { error: new GatewayError('FW_GATEWAY_UPSTREAM_UNREACHABLE', 'upstream call aborted'), kind: 'aborted' };
  }
  return {
    error: new GatewayError('FW_GATEWAY_UPSTREAM_UNREACHABLE', 'the provider FHIR server is unreachable', {
      cause: error,
    }),
    kind: 'unreachable',
  };
}

interface Exchange {
  statusCode: number;
  headers: IncomingHttpHeaders;
  chunks: Buffer[];
}

/**
 * One request/response with the provider through undici's dispatch API: the body chunks are
 * collected as they arrive, without a Readable stream and its async iterator per request (measured:
 * ~15 % of the gateway's CPU per list-refresh batch went to that machinery and its garbage).
 */
function exchange(pool: Pool, options: Dispatcher.DispatchOptions, maxBytes: number): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    const headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    let abort: ((reason: Error) => void) | undefined;
    // undici 7 core dispatchers take the callback handler below (the controller-based one needs a
    // wrapper that costs what this avoids).
    pool.dispatch(options, {
      onConnect(abortRequest: (reason: Error) => void) {
        abort = abortRequest;
      },
      onHeaders(status: number, raw: Buffer[]) {
        if (status < 200) return true; // 1xx informational: the final answer follows
        statusCode = status;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
          const value = (raw[i + 1] as Buffer).toString('latin1');
          const existing = headers[name];
          if (existing === undefined) headers[name] = value;
          else if (Array.isArray(existing)) existing.push(value);
          else headers[name] = [existing, value] as never;
        }
        const declared = Number(headers['content-length'] ?? 0);
        if (declared > maxBytes) abort?.(new ResponseTooLarge());
        return true;
      },
      onData(chunk: Buffer) {
        size += chunk.length;
        if (size > maxBytes) {
          chunks.length = 0;
          abort?.(new ResponseTooLarge());
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        resolve({ statusCode, headers, chunks });
      },
      onError(error: Error) {
        reject(error);
      },
    });
  });
}

export interface ForwardRequest {
  segments: readonly string[];
  query: string;
  body: Buffer | undefined;
  /** Public FHIR base the caller used (to rewrite Location headers). */
  publicBase: string;
  /** Largest provider answer passed on; above it the exchange is aborted (502). */
  maxResponseBytes: number;
  /** Rewrites a 200 answer's body (the gateway's batch merge); gets and returns UTF-8 bytes. */
  mapBody?: (body: Buffer) => Buffer;
}

export interface ForwardResult {
  status: number;
  upstreamMs: number;
  /** Set when the gateway answered for the provider (502/504). */
  error?: GatewayError;
  fhirVersion: FhirVersion;
}

/** Forward one request; answers the client with the provider's status, headers and body. */
export async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  provider: Provider,
  request: ForwardRequest,
): Promise<ForwardResult> {
  let path = provider.basePath;
  for (const segment of request.segments) path += `/${segment}`;
  if (path === '') path = '/';
  if (request.query !== '') path += `?${request.query}`;
  const headers = upstreamHeaders(req, connectionTokens(req.headers.connection));
  const started = performance.now();
  let status = 0;
  try {
    const response = await exchange(
      provider.pool,
      {
        path,
        method: req.method as 'GET',
        headers,
        body: request.body ?? null,
        headersTimeout: provider.timeoutMs,
        bodyTimeout: provider.timeoutMs,
      },
      request.maxResponseBytes,
    );
    status = response.statusCode;
    let body = responseBody(response.chunks, provider, request.publicBase);
    if (request.mapBody !== undefined && status === 200) {
      body = request.mapBody(typeof body === 'string' ? Buffer.from(body, 'latin1') : body);
    }
    const upstreamMs = performance.now() - started;
    recordUpstream(req, {
      durationS: upstreamMs / 1000,
      status,
      serverAddress: provider.hostname,
      serverPort: provider.port,
    });
    const out: Record<string, string | string[]> = {};
    for (const name in response.headers) {
      if (DROP_RESPONSE.has(name)) continue;
      const value = response.headers[name];
      if (value === undefined) continue;
      if ((name === 'location' || name === 'content-location') && typeof value === 'string') {
        out[name] = value.startsWith(provider.baseUrl)
          ? request.publicBase + value.slice(provider.baseUrl.length)
          : value;
      } else {
        out[name] = value;
      }
    }
    out['content-length'] = String(body.length);
    res.writeHead(status, out);
    if (typeof body === 'string') res.end(body, 'latin1');
    else res.end(body);
    return { status, upstreamMs, fhirVersion: provider.fhirVersion };
  } catch (cause) {
    const upstreamMs = performance.now() - started;
    const failure = upstreamFailure(cause);
    recordUpstream(req, {
      durationS: upstreamMs / 1000,
      status,
      error: failure.kind,
      serverAddress: provider.hostname,
      serverPort: provider.port,
    });
    return { status: failure.error.status, upstreamMs, error: failure.error, fhirVersion: provider.fhirVersion };
  }
}
