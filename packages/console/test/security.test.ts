/**
 * The console attacked over real HTTP on 127.0.0.1, in both of its modes: in front of a sink with credentials
 * (`fhirwatch console --sink-url`, the proxy) and over a store with no credential (query API in the console's
 * process). Every route (the console's files and every query API route of `queryApiRoutes`) is walked with no
 * token, a wrong token, a writer's token, a foreign Host, a cross-site Origin, `..` paths, prototype names and
 * oversize bodies. The proxy must never add a credential of its own: the sink decides, and records the caller.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type SinkServer, startSink } from '@fhirwatch/clickhouse-sink';
import { queryApiRoutes } from '@fhirwatch/clickhouse-sink/query-api';
import { generateAuditDataset, rawRequest as raw } from '@fhirwatch/clickhouse-sink/testing';
import type { AuditRecord } from '@fhirwatch/contract';
import { secondRequestAfterIdle } from '@fhirwatch/testkit/keep-alive';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleAssets } from '../src/assets.ts';
import { type ConsoleServer, consolePanels, startConsole } from '../src/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-console-security-'));
const ALICE = 'alice-officer-token-0001';
const SHARED = 'shared-query-token-0002';
const WRITER = 'gw-1-ingest-token-000003';
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
const panels = consolePanels();
const ndjson = (records: readonly AuditRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n');
const hasBody = (method: string): boolean => method === 'POST' || method === 'PUT' || method === 'PATCH';
const hostOf = (server: { url: string }): string => new URL(server.url).host;

// chDB: one store per process; the sink and the store-mode console share one client
const client = openStore({ path: join(dir, 'store') });
let sink: SinkServer;
let proxy: ConsoleServer; // `fhirwatch console --sink-url` with FHIRWATCH_QUERY_TOKEN(S) set, as in the report
let local: ConsoleServer; // `fhirwatch console --store`, loopback, no token

/** The console's files and every query API route, with ids filled in. */
function consoleRoutes(): { method: string; path: string; api: boolean }[] {
  const out: { method: string; path: string; api: boolean }[] = [];
  for (const name of consoleAssets().keys()) out.push({ method: 'GET', path: `/${name}`, api: false });
  out.push({ method: 'GET', path: '/', api: false });
  for (const route of queryApiRoutes(panels.panels.map((p) => p.id))) {
    for (const method of route.methods) {
      const path = route.path.replace('{name}', 'after-hours').replace('{id}', panels.panels[0]?.id ?? 'x');
      out.push({ method, path, api: true });
    }
  }
  return out;
}

async function ingested(): Promise<number> {
  const result = await client.query({ query: 'SELECT count() AS n FROM audit_events', format: 'JSONEachRow' });
  return Number(((await result.json()) as { n: string }[])[0]?.n);
}

async function lastRead(): Promise<{ principal: string; actor: string; surface: string }> {
  const result = await client.query({
    query: 'SELECT principal, actor, surface FROM audit_query_log ORDER BY at DESC, query_id LIMIT 1',
    format: 'JSONEachRow',
  });
  return ((await result.json()) as { principal: string; actor: string; surface: string }[])[0] as never;
}

beforeAll(async () => {
  sink = await startSink({
    client,
    spoolDir: join(dir, 'spool'),
    exclusiveWriter: false,
    queryApi: { panels, token: SHARED, tokens: [{ name: 'alice', token: ALICE }] },
    ingestTokens: [{ name: 'gw-1', token: WRITER }],
  });
  const dataset = generateAuditDataset({ days: 2 });
  const stored = await raw(sink.url, '/v1/audit', {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${WRITER}` },
    body: ndjson(dataset.records.filter((r) => r.recorded_by === 'gw-1').slice(0, 200)),
  });
  expect([200, 403]).toContain(stored.status);
  proxy = await startConsole({ sinkUrl: sink.url, token: SHARED, tokens: [{ name: 'alice', token: ALICE }] });
  local = await startConsole({ client, migrate: false });
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await local?.close();
  await sink?.close();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('console in front of a sink (--sink-url)', () => {
  it('adds no credential of its own: no token, a wrong token or a writer token is 401 on every /api route', async () => {
    for (const { method, path, api } of consoleRoutes()) {
      if (!api) continue;
      for (const authorization of [undefined, 'Bearer wrong-token-wrong-token', `Bearer ${WRITER}`]) {
        const headers: Record<string, string> = { host: hostOf(proxy), 'content-type': 'application/json' };
        if (authorization !== undefined) headers.authorization = authorization;
        const answer = await raw(proxy.url, path, { method, headers, body: hasBody(method) ? '{}' : undefined });
        expect({ method, path, authorization, status: answer.status }).toEqual({
          method,
          path,
          authorization,
          status: 401,
        });
      }
    }
  });

  it("forwards the caller's credential: the sink records the caller's name, UTF-8 names included", async () => {
    const asAlice = await raw(proxy.url, '/api/audit/search?since=3650d', {
      headers: { host: hostOf(proxy), authorization: `Bearer ${ALICE}`, 'x-fhirwatch-surface': 'console' },
    });
    expect(asAlice.status).toBe(200);
    expect(await lastRead()).toEqual({ principal: 'token:alice', actor: 'alice', surface: 'console' });
    const name = 'Dr. Žofia Nováková 李娜';
    const shared = await raw(proxy.url, '/api/audit/search?since=3650d&format=csv', {
      headers: {
        host: hostOf(proxy),
        authorization: `Bearer ${SHARED}`,
        'x-fhirwatch-actor': encodeURIComponent(name),
      },
    });
    expect(shared.status).toBe(200);
    expect(shared.headers['content-type']).toMatch(/^text\/csv/);
    expect(await lastRead()).toMatchObject({ principal: 'token:query-token', actor: name });
  });

  it('forwards only plain /api/ paths: `..` and percent-escapes are 400 and never reach ingest', async () => {
    const before = await ingested();
    const forged = ndjson(generateAuditDataset({ days: 1 }).records.slice(0, 1));
    for (const path of [
      '/api/../v1/audit',
      '/api/%2e%2e/v1/audit',
      '/api/%2E%2E/healthz',
      '/api/audit/..%2f..%2fv1/audit',
      '/api/./audit/search',
      '/api//audit/search',
      '/api/audit\\..\\..\\v1\\audit',
    ]) {
      for (const method of ['GET', 'POST']) {
        const answer = await raw(proxy.url, path, {
          method,
          headers: {
            host: hostOf(proxy),
            authorization: `Bearer ${WRITER}`,
            'content-type': 'application/x-ndjson',
          },
          body: method === 'POST' ? forged : undefined,
        });
        expect({ path, method, status: answer.status }).toEqual({ path, method, status: 400 });
      }
    }
    expect(await ingested()).toBe(before);
  });

  it('answers what the sink answers for a GET with a body or a TRACE: never a 502 "the sink did not answer"', async () => {
    for (const { method, path, api } of consoleRoutes()) {
      if (!api || method !== 'GET') continue;
      for (const [verb, body] of [
        ['GET', '{"patient":"p-1"}'],
        ['TRACE', undefined],
      ] as const) {
        const init = {
          method: verb,
          headers: {
            authorization: `Bearer ${ALICE}`,
            'content-type': 'application/json',
            // node frames no GET body on its own
            ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
          },
          body,
        };
        const direct = await raw(sink.url, path, init);
        const proxied = await raw(proxy.url, path, { ...init, headers: { ...init.headers, host: hostOf(proxy) } });
        expect({ verb, path, status: proxied.status }).toEqual({ verb, path, status: direct.status });
      }
    }
  });
});

describe('both modes: Host, Origin, prototype names, bodies', () => {
  it('a foreign Host is 421 and a cross-site request 403 on every route, files included', async () => {
    for (const server of [proxy, local]) {
      const port = Number(new URL(server.url).port);
      for (const { method, path } of consoleRoutes()) {
        for (const headers of [{ host: `attacker.example:${port}` }, { host: `127.0.0.1:${port + 1}` }] as Record<
          string,
          string
        >[]) {
          const answer = await raw(server.url, path, {
            method,
            headers: { ...headers, authorization: `Bearer ${ALICE}` },
          });
          expect({ path, method, headers, status: answer.status }).toEqual({ path, method, headers, status: 421 });
        }
        for (const headers of [{ origin: 'http://attacker.example' }, { 'sec-fetch-site': 'cross-site' }] as Record<
          string,
          string
        >[]) {
          const answer = await raw(server.url, path, {
            method,
            headers: {
              ...headers,
              host: hostOf(server),
              authorization: `Bearer ${ALICE}`,
              'content-type': 'application/json',
            },
            body: hasBody(method) ? '{}' : undefined,
          });
          expect({ path, method, headers, status: answer.status }).toEqual({ path, method, headers, status: 403 });
        }
      }
    }
  });

  it('a text/plain POST changes nothing (the open store-mode console): 415', async () => {
    const answer = await raw(local.url, '/api/audit/vip', {
      method: 'POST',
      headers: { host: hostOf(local), 'content-type': 'text/plain' },
      body: JSON.stringify({ patient: 'p-planted' }),
    });
    expect(answer.status).toBe(415);
  });

  it('prototype names as routes and ids: 404/405, the console keeps serving', async () => {
    for (const server of [proxy, local]) {
      for (const name of PROTOTYPE_NAMES) {
        for (const path of [
          `/${name}`,
          `/console/${name}`,
          `/api/${name}`,
          `/api/audit/${name}`,
          `/api/panels/${name}`,
        ]) {
          for (const method of ['GET', 'POST']) {
            const answer = await raw(server.url, path, {
              method,
              headers: { host: hostOf(server), authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
              body: hasBody(method) ? '{}' : undefined,
            });
            expect({ path, method, ok: [404, 405].includes(answer.status) }).toEqual({ path, method, ok: true });
          }
        }
      }
      expect((await raw(server.url, '/', { headers: { host: hostOf(server) } })).status).toBe(200);
    }
  });

  it('oversize bodies: 413 on every /api route that takes one', async () => {
    const big = Buffer.alloc(300 * 1024, 0x20);
    for (const server of [proxy, local]) {
      for (const { method, path, api } of consoleRoutes()) {
        if (!api || !hasBody(method)) continue;
        const answer = await raw(server.url, path, {
          method,
          headers: { host: hostOf(server), authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
          body: big,
        });
        expect({ path, method, status: answer.status }).toEqual({ path, method, status: 413 });
      }
    }
  });
});

describe('idle connections', () => {
  it('an idle keep-alive connection is still open after 6 s in both modes (Node default: closed after 5 s)', async () => {
    // a client whose event loop was busy wrote on a socket the server had just closed: ECONNRESET (SERVER_KEEP_ALIVE_MS)
    const [proxied, inProcess] = await Promise.all(
      [proxy, local].map((server) => secondRequestAfterIdle(server.url, '/', 6_000)),
    );
    expect({ proxied, inProcess }).toEqual({ proxied: 'HTTP/1.1 200 OK', inProcess: 'HTTP/1.1 200 OK' });
  });
});
