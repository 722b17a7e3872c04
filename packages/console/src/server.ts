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
import type { ClickHouseClient } from '@clickhouse/client';
import {
  assertQueryApiBind,
  buildQueryApi,
  migrate,
  openStore,
  type PanelProvider,
  type QueryApiHandler,
} from '@fhirwatch/clickhouse-sink';
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

export interface ConsoleOptions {
  /** chDB data directory (this process must be able to own it: no sink running on it). */
  store?: string;
  /** ClickHouse server URL. */
  clickhouseUrl?: string;
  username?: string;
  password?: string;
  database?: string;
  /** An open client (the caller keeps it). */
  client?: ClickHouseClient;
  /** A running sink: the console forwards `/api/…` to it (its query API records the reads). */
  sinkUrl?: string;
  /** Token the console presents to the sink (`sinkUrl` mode) when the browser sends none. */
  sinkToken?: string;
  port?: number;
  /** Default 127.0.0.1; any other bind needs `token`. */
  host?: string;
  /** Bearer token of this console's API (required off loopback). */
  token?: string;
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

const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

/** `/api/…` → the sink's query API, streaming the answer back (status, type, disposition, body). */
function sinkProxy(sinkUrl: string, sinkToken: string | undefined): QueryApiHandler {
  const base = new URL(sinkUrl);
  return async (req, res) => {
    const path = req.url ?? '/';
    if (!path.startsWith('/api/') && path !== '/api') return false;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_HEADERS.has(name) && typeof value === 'string') headers[name] = value;
    }
    if (headers.authorization === undefined && sinkToken !== undefined) headers.authorization = `Bearer ${sinkToken}`;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const response = await fetch(new URL(path, base), {
        method: req.method ?? 'GET',
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const body = Buffer.from(await response.arrayBuffer());
      const out: Record<string, string | number> = { 'content-length': body.length, 'cache-control': 'no-store' };
      for (const name of ['content-type', 'content-disposition', 'www-authenticate', 'retry-after']) {
        const value = response.headers.get(name);
        if (value !== null) out[name] = value;
      }
      res.writeHead(response.status, out);
      res.end(body);
    } catch {
      const text = JSON.stringify({
        error: { code: 'FW_CONSOLE_SINK_UNREACHABLE', message: 'the sink did not answer' },
      });
      res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }
    return true;
  };
}

/** A console in front of nothing serves only errors: the sink must answer (any status: 401 means it is there). */
async function probeSink(sinkUrl: string, sinkToken: string | undefined): Promise<void> {
  try {
    const response = await fetch(new URL('/api/reports', sinkUrl), {
      headers: sinkToken === undefined ? {} : { authorization: `Bearer ${sinkToken}` },
      signal: AbortSignal.timeout(5000),
    });
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
  assertQueryApiBind(host, options.token);
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
    await probeSink(options.sinkUrl, options.sinkToken);
    handlers.push(sinkProxy(options.sinkUrl, options.sinkToken));
  } else {
    client ??= openStore({
      ...(options.store === undefined ? {} : { path: options.store }),
      ...(options.clickhouseUrl === undefined ? {} : { url: options.clickhouseUrl }),
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.database === undefined ? {} : { database: options.database }),
    });
    if (options.migrate ?? true) {
      await migrate(client, options.database === undefined ? {} : { database: options.database });
    }
    handlers.push(
      buildQueryApi({
        client,
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(options.hmacKey === undefined ? {} : { hmacKey: options.hmacKey }),
        panels: options.panels ?? consolePanels(),
      }),
    );
  }
  handlers.push(consoleHandler());
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    (async () => {
      for (const handler of handlers) if (await handler(req, res)) return;
      const text = JSON.stringify({ error: { code: 'FW_CONSOLE_NOT_FOUND', message: 'no such page' } });
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end();
    });
  });
  server.keepAliveTimeout = 5000;
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
