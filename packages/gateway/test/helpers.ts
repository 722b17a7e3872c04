/** Test helpers: temporary data directories, raw HTTP requests (paths that fetch would normalise), tokens. */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TENANT_A = '0f5f6b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
export const TENANT_B = '7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d';
export const TENANT_C = 'c3c3c3c3-c3c3-4c3c-8c3c-c3c3c3c3c3c3';

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `fw-gateway-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

/** One HTTP/1.1 request with the path sent byte for byte as given. */
export function raw(
  baseUrl: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path,
        // An explicit length: Node's client sends a DELETE/OPTIONS body with neither length nor chunking.
        headers:
          options.body === undefined
            ? options.headers
            : { 'content-length': String(Buffer.byteLength(options.body)), ...options.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** `POST /token` with body parameters (client_secret_post). */
export async function tokenRequest(
  gatewayUrl: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${gatewayUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

export async function getToken(
  gatewayUrl: string,
  clientId: string,
  clientSecret: string,
  tenant: string,
): Promise<string> {
  const res = await tokenRequest(gatewayUrl, {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
    scope: `tenant:${tenant}`,
  });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** The fhirwatch error code of an OperationOutcome. */
export function outcomeCode(body: unknown): string | undefined {
  const outcome = body as { resourceType?: string; issue?: { details?: { coding?: { code?: string }[] } }[] };
  if (outcome.resourceType !== 'OperationOutcome') return undefined;
  return outcome.issue?.[0]?.details?.coding?.[0]?.code;
}

import { connect, createServer, type Server } from 'node:net';

/**
 * A TCP relay in front of a provider that records what reaches it: the provider-side view of what
 * the gateway sends (connections and the raw request bytes).
 */
export interface Relay {
  url: string;
  connections: number;
  received(): string;
  close(): Promise<void>;
}

export async function startRelay(targetUrl: string): Promise<Relay> {
  const target = new URL(targetUrl);
  const chunks: Buffer[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const relay: Relay = {
    url: '',
    connections: 0,
    received: () => Buffer.concat(chunks).toString('latin1'),
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
  const server: Server = createServer((client) => {
    relay.connections += 1;
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as import('node:net').AddressInfo).port;
  relay.url = `http://127.0.0.1:${port}${target.pathname === '/' ? '' : target.pathname}`;
  return relay;
}
