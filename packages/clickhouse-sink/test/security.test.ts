/**
 * The sink attacked over real HTTP on 127.0.0.1 (real chDB, the query API on its worker thread): every route of
 * the route tables (SINK_ROUTES for ingest and health, queryApiRoutes() for /api/…) is walked with no token, a
 * wrong token, the other kind of token, a foreign Host, a foreign Origin, `..` paths, prototype names as routes
 * and ids, and oversize bodies. A route added to a table without authentication fails here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SINK_ROUTES, type SinkServer, startSink } from '../src/ingest/server.ts';
import { queryApiRoutes } from '../src/query-api/api.ts';
import { openStore } from '../src/store/open.ts';
import { rawRequest } from '../src/testing/http.ts';
import { panelProvider as panels } from './fixtures/security-panels.ts';

import { generateRecords } from './records.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-security-'));
const PANEL_IDS = ['audit-count', 'broken'];
const ALICE = 'alice-officer-token-0001';
const SHARED = 'shared-query-token-0002';
const WRITER = 'gw-1-ingest-token-000003';
const OTHER_WRITER = 'gw-2-ingest-token-000004';
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];
const ndjson = (records: readonly AuditRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n');

// chDB: one store per process, so both sinks share one client (and one store)
const client = openStore({ path: join(dir, 'store') });
let open: SinkServer; // loopback, no credential (the demo's mode)
let closed: SinkServer; // officers' and writers' credentials

const raw = rawRequest;

const hasBody = (method: string): boolean => method === 'POST' || method === 'PUT' || method === 'PATCH';
const hostOf = (server: SinkServer): string => new URL(server.url).host;

/** Every route of both tables as concrete requests (ids filled in), with the credential kind it needs. */
function allRoutes(): { method: string; path: string; auth: 'none' | 'ingest' | 'query' }[] {
  const out: { method: string; path: string; auth: 'none' | 'ingest' | 'query' }[] = [];
  for (const route of SINK_ROUTES)
    for (const method of route.methods) out.push({ method, path: route.path, auth: route.auth });
  for (const route of queryApiRoutes(PANEL_IDS)) {
    for (const method of route.methods) {
      const path = route.path.replace('{name}', 'after-hours').replace('{id}', PANEL_IDS[0] as string);
      out.push({ method, path, auth: 'query' });
    }
  }
  return out;
}

async function ingested(server: SinkServer): Promise<number> {
  const result = await server.client.query({ query: 'SELECT count() AS n FROM audit_events', format: 'JSONEachRow' });
  return Number(((await result.json()) as { n: string }[])[0]?.n);
}

async function lastRead(server: SinkServer): Promise<{ principal: string; actor: string; endpoint: string }> {
  const result = await server.client.query({
    query: 'SELECT principal, actor, endpoint FROM audit_query_log ORDER BY at DESC, query_id LIMIT 1',
    format: 'JSONEachRow',
  });
  return ((await result.json()) as { principal: string; actor: string; endpoint: string }[])[0] as never;
}

beforeAll(async () => {
  const shared = { client, spoolDir: join(dir, 'spool'), exclusiveWriter: false, maxBodyBytes: 256 * 1024 };
  open = await startSink({ ...shared, queryApi: { panels } });
  closed = await startSink({
    ...shared,
    queryApi: { panels, token: SHARED, tokens: [{ name: 'alice', token: ALICE }] },
    ingestTokens: [
      { name: 'gw-1', token: WRITER },
      { name: 'gw-2', token: OTHER_WRITER },
    ],
  });
  const seeded = await raw(open.url, '/v1/audit', {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', host: hostOf(open) },
    body: ndjson(generateRecords({ count: 20 })),
  });
  expect(seeded.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await open?.close();
  await closed?.close();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('credentials, on every route', () => {
  it('the route tables cover ingest, health and every /api route', () => {
    const paths = allRoutes().map((r) => r.path);
    for (const path of ['/v1/audit', '/v1/traces', '/v1/logs', '/v1/metrics', '/healthz', '/api/audit/search']) {
      expect(paths).toContain(path);
    }
    expect(
      allRoutes()
        .filter((r) => r.auth === 'none')
        .map((r) => r.path),
    ).toEqual(expect.arrayContaining(['/healthz']));
  });

  it('no token, a wrong token, or the other kind of token: 401 on every route that needs one', async () => {
    const before = await ingested(closed);
    for (const { method, path, auth } of allRoutes()) {
      if (auth === 'none') continue;
      const other = auth === 'ingest' ? ALICE : WRITER;
      for (const authorization of [undefined, 'Bearer wrong-token-wrong-token', `Bearer ${other}`, other]) {
        const headers: Record<string, string> = { host: hostOf(closed), 'content-type': 'application/json' };
        if (authorization !== undefined) headers.authorization = authorization;
        const answer = await raw(closed.url, path, { method, headers, body: !hasBody(method) ? undefined : '{}' });
        expect({ method, path, authorization, status: answer.status }).toEqual({
          method,
          path,
          authorization,
          status: 401,
        });
      }
    }
    expect(await ingested(closed)).toBe(before);
  });

  it('the right token gets past authentication on every route', async () => {
    for (const { method, path, auth } of allRoutes()) {
      if (auth === 'none') continue;
      const token = auth === 'ingest' ? WRITER : ALICE;
      const answer = await raw(closed.url, path, {
        method,
        headers: { host: hostOf(closed), authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: !hasBody(method) ? undefined : '{}',
      });
      expect({ path, method, status: answer.status }).not.toMatchObject({ status: 401 });
      expect(answer.status).toBeLessThan(500);
    }
  });

  it("a writer's credential carries only its own records (recorded_by): another writer's → 403, nothing stored", async () => {
    const records = generateRecords({ count: 3, offset: 1000 }); // recorded_by gw-1
    const forged = await raw(closed.url, '/v1/audit', {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${OTHER_WRITER}` },
      body: ndjson(records),
    });
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.text)).toMatchObject({ error: { code: 'FW_SINK_FORBIDDEN' } });
    const own = await raw(closed.url, '/v1/audit', {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${WRITER}` },
      body: ndjson(records),
    });
    expect(own.status).toBe(200);
    expect(JSON.parse(own.text)).toMatchObject({ accepted: 3 });
  });

  it('reads are recorded with the officer who asked, never the OS user', async () => {
    const asAlice = await raw(closed.url, '/api/audit/search?since=3650d', {
      headers: { authorization: `Bearer ${ALICE}`, 'x-fhirwatch-actor': 'mallory' },
    });
    expect(asAlice.status).toBe(200);
    expect(await lastRead(closed)).toMatchObject({ principal: 'token:alice', actor: 'alice', endpoint: 'search' });
    const shared = await raw(closed.url, '/api/audit/search?since=3650d', {
      headers: { authorization: `Bearer ${SHARED}`, 'x-fhirwatch-actor': encodeURIComponent('Dr. Žofia Nováková 李') },
    });
    expect(shared.status).toBe(200);
    expect(await lastRead(closed)).toMatchObject({ principal: 'token:query-token', actor: 'Dr. Žofia Nováková 李' });
    const anonymous = await raw(open.url, '/api/audit/search?since=3650d', { headers: { host: hostOf(open) } });
    expect(anonymous.status).toBe(200);
    expect(await lastRead(open)).toMatchObject({ principal: 'loopback', actor: 'anonymous' });
  });
});

describe('the open loopback sink: Host and Origin', () => {
  it('a foreign Host (DNS rebinding) is refused on every route: 421, nothing stored or read', async () => {
    const before = await ingested(open);
    const port = new URL(open.url).port;
    for (const { method, path } of allRoutes()) {
      for (const host of [`attacker.example:${port}`, 'attacker.example', `127.0.0.1:${Number(port) + 1}`]) {
        const answer = await raw(open.url, path, {
          method,
          headers: { host, 'content-type': 'application/x-ndjson' },
          body: !hasBody(method) ? undefined : ndjson(generateRecords({ count: 1, offset: 5000 })),
        });
        expect({ method, path, host, status: answer.status }).toEqual({ method, path, host, status: 421 });
      }
    }
    expect(await ingested(open)).toBe(before);
  });

  it('a cross-site request is refused on every route (Origin, Sec-Fetch-Site): 403', async () => {
    for (const { method, path } of allRoutes()) {
      const crossSite: Record<string, string>[] = [
        { origin: 'http://attacker.example' },
        { origin: 'null' },
        { origin: `http://localhost:${Number(new URL(open.url).port) + 1}` },
        { 'sec-fetch-site': 'cross-site' },
      ];
      for (const headers of crossSite) {
        const answer = await raw(open.url, path, {
          method,
          headers: { host: hostOf(open), 'content-type': 'application/json', ...headers },
          body: !hasBody(method) ? undefined : '{}',
        });
        expect({ method, path, headers, status: answer.status }).toEqual({ method, path, headers, status: 403 });
      }
    }
  });

  it('a text/plain POST (a cross-site form needs no preflight) changes nothing: 415', async () => {
    const vip = await raw(open.url, '/api/audit/vip', {
      method: 'POST',
      headers: { host: hostOf(open), 'content-type': 'text/plain' },
      body: JSON.stringify({ patient: 'p-planted', reason: 'csrf' }),
    });
    expect(vip.status).toBe(415);
    const list = await raw(open.url, '/api/audit/vip', { headers: { host: hostOf(open) } });
    expect(list.text).not.toContain('p-planted');
    const verify = await raw(open.url, '/api/audit/verify', {
      method: 'POST',
      headers: { host: hostOf(open), 'content-type': 'text/plain' },
      body: JSON.stringify({ key: 'k'.repeat(32) }),
    });
    expect(verify.status).toBe(415);
  });

  it('same-origin requests with a loopback Host are served', async () => {
    const port = new URL(open.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const answer = await raw(open.url, '/api/audit/vip', {
        method: 'POST',
        headers: { host, origin: `http://${host}`, 'content-type': 'application/json' },
        body: JSON.stringify({ patient: 'p-same-origin' }),
      });
      expect(answer.status).toBe(200);
    }
  });
});

describe('paths, prototype names, bodies, errors', () => {
  const DOT_PATHS = [
    '/api/../v1/audit',
    '/api/%2e%2e/healthz',
    '/api/%2E%2E/v1/audit',
    '/api/audit/..%2f..%2fv1/audit',
    '/api/audit/search/..',
    '/api/./audit/search',
    '/api//audit/search',
    '/api/audit%2fsearch',
    '/api/audit\\..\\vip',
    '/v1/audit/../../api/audit/search',
    '/v1/%61udit',
  ];

  it('`..`, `.`, `//`, backslashes and percent-escapes in the path: 400 before any route, nothing stored', async () => {
    for (const server of [open, closed]) {
      const before = await ingested(server);
      for (const path of DOT_PATHS) {
        for (const method of ['GET', 'POST']) {
          const answer = await raw(server.url, path, {
            method,
            headers: {
              host: hostOf(server),
              'content-type': 'application/x-ndjson',
              authorization: `Bearer ${WRITER}`,
            },
            body: method === 'POST' ? ndjson(generateRecords({ count: 1, offset: 7000 })) : undefined,
          });
          expect({ path, method, status: answer.status }).toEqual({ path, method, status: 400 });
        }
      }
      expect(await ingested(server)).toBe(before);
    }
  });

  it('prototype names as routes, ids and parameters: 404 or 400, never a crash; ingest keeps working', async () => {
    for (const server of [open, closed]) {
      for (const name of PROTOTYPE_NAMES) {
        for (const path of [
          `/${name}`,
          `/api/${name}`,
          `/api/audit/${name}`,
          `/api/audit/report/${name}`,
          `/api/panels/${name}`,
          `/api/audit/search/${name}`,
          `/v1/${name}`,
        ]) {
          for (const method of ['GET', 'POST', 'DELETE']) {
            const answer = await raw(server.url, path, {
              method,
              headers: { host: hostOf(server), authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
              body: !hasBody(method) ? undefined : '{}',
            });
            const expected = path.startsWith('/v1/') && server === closed ? [401] : [404, 405];
            expect({ path, method, status: answer.status, ok: expected.includes(answer.status) }).toMatchObject({
              ok: true,
            });
          }
        }
        const param = await raw(server.url, `/api/audit/search?since=3650d&${name}=1&${name}=2&format=${name}`, {
          headers: { host: hostOf(server), authorization: `Bearer ${ALICE}` },
        });
        expect(param.status).toBe(400);
      }
      expect((await raw(server.url, '/healthz', { headers: { host: hostOf(server) } })).status).toBe(200);
    }
    const after = await raw(open.url, '/v1/audit', {
      method: 'POST',
      headers: { host: hostOf(open), 'content-type': 'application/x-ndjson' },
      body: ndjson(generateRecords({ count: 2, offset: 9000 })),
    });
    expect(after.status).toBe(200);
  });

  it('oversize bodies: 413 on every route that takes a body', async () => {
    const big = Buffer.alloc(300 * 1024, 0x20);
    for (const { method, path, auth } of allRoutes()) {
      if (!hasBody(method)) continue;
      const token = auth === 'ingest' ? WRITER : ALICE;
      const answer = await raw(closed.url, path, {
        method,
        headers: {
          host: hostOf(closed),
          authorization: `Bearer ${token}`,
          'content-type': path.startsWith('/v1/audit') ? 'application/x-ndjson' : 'application/json',
        },
        body: big,
      });
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 413 });
    }
  });

  it('an error in the answer path is a 500 with a request id and no ClickHouse detail; the sink stays up', async () => {
    const answer = await raw(open.url, '/api/panels/broken', { headers: { host: hostOf(open) } });
    expect(answer.status).toBe(500);
    const body = JSON.parse(answer.text) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('FW_SINK_QUERY_FAILED');
    expect(body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.text).not.toMatch(/SYNTAX|ClickHouse|Syntax|DB::|Exception/);
    expect((await raw(open.url, '/healthz', { headers: { host: hostOf(open) } })).status).toBe(200);
  });
});

describe('bad input gets a clear answer', () => {
  it('malformed or out-of-range parameters: 400, never a 500 or a ClickHouse error name', async () => {
    const host = hostOf(open);
    for (const query of [
      'search?since=3650d&offset=99999999999999999999',
      'search?since=3650d&limit=abc',
      'search?from=2026-02-30T00:00:00Z&to=2026-03-01T00:00:00Z',
      'search?since=3650d&event-type=__proto__',
      'search?since=-1d',
      'search?since=99999999999d',
      'related?event-id=not-a-uuid',
      'related?event-id=01890000-0000-7000-8000-000000000000&session-minutes=99999999999999999',
      'access?patient=p1&since=3650d&format=xml',
      'query-log?limit=-5',
      'report/after-hours?since=3650d&hours=25-99',
    ]) {
      const answer = await raw(open.url, `/api/audit/${query}`, { headers: { host } });
      expect({ query, status: answer.status }).toMatchObject({ query, status: expect.any(Number) });
      expect({ query, clientError: answer.status >= 400 && answer.status < 500 }).toEqual({ query, clientError: true });
      expect(answer.text).not.toMatch(/BAD_QUERY_PARAMETER|CANNOT_PARSE|ClickHouse|DB::/);
    }
  });

  it('verify of an unknown writer is "nothing verified", not "verified, ok"', async () => {
    const answer = await raw(open.url, '/api/audit/verify?writer=nobody-at-all', {
      method: 'POST',
      headers: { host: hostOf(open), 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'ab'.repeat(32) }),
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-fhirwatch-verify-ok']).toBe('false');
    const body = JSON.parse(answer.text) as { parameters: { ok: boolean }; rows: { status: string }[] };
    expect(body.parameters.ok).toBe(false);
    expect(body.rows).toEqual([expect.objectContaining({ recorded_by: 'nobody-at-all', status: 'not-found' })]);
  });

  it('CSV cells a spreadsheet would run as a formula are guarded, full-width and whitespace forms included', async () => {
    const starts = ['=', '+', '-', '@', '\t', '\r', '\n', ' ', '\0', '＝', '＋', '－', '＠'];
    const records = generateRecords({ count: starts.length, offset: 20_000, users: 1 }).map((record, i) => ({
      ...record,
      user_id: 'csv-probe',
      query: `${starts[i]}HYPERLINK("http://attacker.example")`,
    }));
    const stored = await raw(open.url, '/v1/audit', {
      method: 'POST',
      headers: { host: hostOf(open), 'content-type': 'application/x-ndjson' },
      body: ndjson(records),
    });
    expect(stored.status).toBe(200);
    const csv = await raw(open.url, '/api/audit/search?since=3650d&user=csv-probe&format=csv', {
      headers: { host: hostOf(open) },
    });
    expect(csv.status).toBe(200);
    const { parseCsv } = await import('../src/compliance/format/csv.ts');
    const rows = parseCsv(csv.text);
    const column = (rows[0] as string[]).indexOf('query');
    const cells = rows.slice(1).map((row) => row[column] as string);
    expect(cells.length).toBe(starts.length);
    for (const cell of cells) expect(cell.startsWith("'")).toBe(true);
  });
});
