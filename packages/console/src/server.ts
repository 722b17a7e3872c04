/**
 * The console: a small web app (public/) over the query API of @fhirwatch/clickhouse-sink.
 *
 * - `consoleHandler()` serves the app's files; the sink mounts it on its own port (`fhirwatch sink --console`),
 *   next to ingest and the query API, so the process that owns an embedded store serves both.
 * - `startConsole()` runs it on its own: over a store it opens (query API in this process, no ingest), or in
 *   front of a running sink (`sinkUrl`), forwarding `/api/…` to the sink's query API.
 *
 * The panels come from @fhirwatch/dashboards through src/panels.ts: the same definitions generate the Grafana
 * dashboards, so the console and Grafana show the same SQL.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  assertQueryApiBind,
  buildQueryApi,
  migrate,
  openStore,
  type PanelProvider,
  type QueryApiHandler,
  type StoreTarget,
  storeOptionsOf,
} from '@fhirwatch/clickhouse-sink';
import {
  apiError,
  authenticate,
  type Credential,
  drained,
  guardRequest,
  MAX_API_BODY_BYTES,
  queryCredentials,
} from '@fhirwatch/clickhouse-sink/query-api';
import { SERVER_KEEP_ALIVE_MS } from '@fhirwatch/contract';
import { consoleAssets } from './assets.ts';
import { panelProvider } from './panels.ts';

/**
 * What the query API needs to serve the console's panels and selectors (src/panels.ts, the sink's PanelProvider
 * over the @fhirwatch/dashboards definitions). Pass it as startSink's `queryApi.panels` with `--console`.
 */
export function consolePanels(): PanelProvider {
  return panelProvider;
}

/** Headers of every console file: no framing, no sniffing, scripts and styles only from this origin. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

/** Serves the console's files (GET/HEAD `/`, `/app.js`, …); resolves false for any other path. */
export function consoleHandler(): QueryApiHandler {
  const assets = consoleAssets();
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const name =
      path === '/' || path === '/console' || path === '/console/' ? 'index.html' : path.replace(/^\/(console\/)?/, '');
    const asset = assets.get(name);
    if (asset === undefined) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'FW_CONSOLE_METHOD', message: 'use GET' } }));
      return true;
    }
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': name === 'index.html' ? 'no-cache' : 'max-age=300',
      ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  };
}

/** Where the store is (`StoreTarget`: a chDB directory no sink runs on, a server URL, or an open client), or `sinkUrl`. */
export interface ConsoleOptions extends StoreTarget {
  /**
   * A running sink: the console forwards `/api/…` to it with the caller's own credential (never one of its own),
   * so the sink authenticates and records every read under the caller's name.
   */
  sinkUrl?: string;
  port?: number;
  /** Default 127.0.0.1; any other bind needs `token` or `tokens`. */
  host?: string;
  /** The shared bearer token of this console's API (FHIRWATCH_QUERY_TOKEN; required off loopback). */
  token?: string;
  /** Officers' named tokens (FHIRWATCH_QUERY_TOKENS). In `sinkUrl` mode a caller must hold one of these too. */
  tokens?: readonly Credential[];
  hmacKey?: Uint8Array;
  /** Panels and selectors (default: consolePanels()). */
  panels?: PanelProvider;
  /** Run the store's migrations first (default true; the query log table is migration 9). */
  migrate?: boolean;
}

export interface ConsoleServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Request headers forwarded to the sink: the caller's credential and what the query API reads; nothing else. */
const FORWARDED_REQUEST_HEADERS = [
  'authorization',
  'x-fhirwatch-actor',
  'x-fhirwatch-surface',
  'content-type',
  'user-agent',
  'accept',
] as const;
const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'content-disposition',
  'www-authenticate',
  'retry-after',
  'x-fhirwatch-verify-ok',
] as const;

/** Methods fetch refuses to send (Fetch standard, forbidden methods); no sink route takes them. */
const UNSENDABLE_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK']);

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(status === 401 ? { 'www-authenticate': 'Bearer realm="fhirwatch"' } : {}),
  });
  res.end(text);
}

/**
 * `/api/…` → the sink's query API, the answer streamed back with backpressure. The path is the guarded, already
 * normal path (request-guard.ts): the target is built from it and checked to still be under `/api/`. The caller's
 * `Authorization` is forwarded as it came; the console adds none (no token: the sink answers 401 itself).
 */
function sinkProxy(sinkUrl: string, credentials: readonly Credential[]): QueryApiHandler {
  const base = new URL(sinkUrl);
  return async (req, res) => {
    const target = req.url ?? '/';
    const query = target.indexOf('?');
    const path = query < 0 ? target : target.slice(0, query);
    if (path !== '/api' && !path.startsWith('/api/')) return false;
    const url = new URL(base);
    url.pathname = path;
    url.search = query < 0 ? '' : target.slice(query);
    if (url.pathname !== path || url.origin !== base.origin) {
      sendJson(res, 400, { error: { code: 'FW_SINK_BAD_PATH', message: 'the path must be plain' } });
      return true;
    }
    // a console with tokens of its own admits only their holders (and still forwards their credential)
    if (credentials.length > 0) authenticate(req.headers.authorization, credentials);
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    const chunks: Buffer[] = [];
    let size = declared > MAX_API_BODY_BYTES ? declared : 0;
    if (size <= MAX_API_BODY_BYTES) {
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size <= MAX_API_BODY_BYTES) chunks.push(chunk as Buffer);
      }
    } else req.resume();
    if (size > MAX_API_BODY_BYTES) {
      sendJson(res, 413, {
        error: { code: 'FW_SINK_TOO_LARGE', message: `request body exceeds ${MAX_API_BODY_BYTES} bytes` },
      });
      return true;
    }
    const method = req.method ?? 'GET';
    // fetch cannot send these (the sink answers them 405 itself), nor a GET/HEAD body (the sink reads none): an
    // unsendable request is not an unreachable sink
    if (UNSENDABLE_METHODS.has(method)) {
      sendJson(res, 405, { error: { code: 'FW_SINK_METHOD', message: `${method} is not served` } });
      return true;
    }
    const body = chunks.length > 0 && method !== 'GET' && method !== 'HEAD' ? { body: Buffer.concat(chunks) } : {};
    let response: Response;
    try {
      response = await fetch(url, { method, headers, redirect: 'manual', ...body });
    } catch {
      sendJson(res, 502, { error: { code: 'FW_CONSOLE_SINK_UNREACHABLE', message: 'the sink did not answer' } });
      return true;
    }
    const out: Record<string, string | number> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) out[name] = value;
    }
    res.writeHead(response.status, out);
    if (response.body === null) {
      res.end();
      return true;
    }
    try {
      for await (const chunk of Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>)) {
        if (res.destroyed) break;
        if (!res.write(chunk)) await drained(res);
      }
      res.end();
    } catch {
      res.destroy();
    }
    return true;
  };
}

/** A console in front of nothing serves only errors: the sink must answer (any status: 401 means it is there). */
async function probeSink(sinkUrl: string): Promise<void> {
  try {
    const response = await fetch(new URL('/api/reports', sinkUrl), { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
  } catch (cause) {
    throw Object.assign(new Error(`no sink answers at ${sinkUrl}`), { code: 'FW_CONSOLE_SINK_UNREACHABLE', cause });
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The console on its own port: over a store (query API here) or in front of a sink (`sinkUrl`). */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  assertQueryApiBind(host, options.token, options.tokens);
  const credentials = queryCredentials(options.token, options.tokens);
  const sources = [options.store, options.clickhouseUrl, options.client, options.sinkUrl].filter(
    (s) => s !== undefined,
  );
  if (sources.length !== 1) {
    throw Object.assign(new Error('startConsole needs exactly one of store, clickhouseUrl, client or sinkUrl'), {
      code: 'FW_CONSOLE_OPTIONS',
    });
  }
  let client: ClickHouseClient | undefined = options.client;
  const ownsClient = client === undefined && options.sinkUrl === undefined;
  const handlers: QueryApiHandler[] = [];
  if (options.sinkUrl !== undefined) {
    await probeSink(options.sinkUrl);
    handlers.push(sinkProxy(options.sinkUrl, credentials));
  } else {
    client ??= openStore(storeOptionsOf(options));
    if (options.migrate ?? true) {
      await migrate(client, options.database === undefined ? {} : { database: options.database });
    }
    handlers.push(
      buildQueryApi({
        client,
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(options.tokens === undefined ? {} : { tokens: options.tokens }),
        ...(options.hmacKey === undefined ? {} : { hmacKey: options.hmacKey }),
        panels: options.panels ?? consolePanels(),
      }),
    );
  }
  handlers.push(consoleHandler());
  const guard = {
    address: () => {
      const bound = server.address();
      return bound === null || typeof bound === 'string' ? undefined : { host: bound.address, port: bound.port };
    },
    // in front of a sink the console cannot know whether the sink is open: it checks Host and Origin anyway
    open: credentials.length === 0 || options.sinkUrl !== undefined,
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    (async () => {
      guardRequest(req, guard);
      for (const handler of handlers) if (await handler(req, res)) return;
      sendJson(res, 404, { error: { code: 'FW_CONSOLE_NOT_FOUND', message: 'no such page' } });
    })().catch((error: unknown) => {
      req.resume();
      const { status, code, message } = apiError(error);
      if (res.headersSent) res.destroy();
      else sendJson(res, status, { error: { code, message } });
    });
  });
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
  await listen(server, options.port ?? 0, host);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        if (ownsClient && client !== undefined) await client.close();
      })();
      return closing;
    },
  };
}
