/** Upstream behaviour: headers and statuses preserved, hop-by-hop dropped, 504 on timeout, 502 when unreachable, 429. */
import { createServer } from 'node:net';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type IssuedSecret } from '../src/index.ts';
import {
  getToken,
  outcomeCode,
  type Relay,
  raw,
  startRelay,
  TENANT_A,
  TENANT_B,
  TENANT_C,
  tempDir,
} from './helpers.ts';

const TENANT_SLOW = 'd4d4d4d4-d4d4-4d4d-8d4d-d4d4d4d4d4d4';
const TENANT_FAILING = 'e5e5e5e5-e5e5-4e5e-8e5e-e5e5e5e5e5e5';

/** A port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const data = tempDir('proxy');
let ehr: MockEhrServer;
let slow: MockEhrServer;
let failing: MockEhrServer;
let relay: Relay;
let gateway: Gateway;
const tokens: Record<string, string> = {};
let client: IssuedSecret;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 20, seed: 9, basePath: '/r3' });
  slow = await startMockEhr({ fhirVersion: 'STU3', patients: 5, seed: 9, latency: 5_000 });
  failing = await startMockEhr({ fhirVersion: 'DSTU2', patients: 5, seed: 9, errorRate: 1 });
  relay = await startRelay(ehr.url);
  gateway = await createGateway({
    dataDir: data.path,
    rateLimit: false,
    tenants: {
      [TENANT_A]: { baseUrl: relay.url, fhirVersion: 'STU3' },
      [TENANT_B]: { baseUrl: `http://127.0.0.1:${await closedPort()}/fhir`, fhirVersion: 'STU3' },
      [TENANT_SLOW]: { baseUrl: slow.url, fhirVersion: 'STU3', timeoutMs: 300 },
      [TENANT_FAILING]: { baseUrl: failing.url, fhirVersion: 'DSTU2' },
      // The same provider without the relay (the provider writes its own base URL into bodies).
      [TENANT_C]: { baseUrl: ehr.url, fhirVersion: 'STU3' },
    },
  });
  const all = [TENANT_A, TENANT_B, TENANT_C, TENANT_SLOW, TENANT_FAILING];
  client = await gateway.registry.createClient({ tenants: all });
  for (const tenant of all) {
    tokens[tenant] = await getToken(gateway.url, client.clientId, client.clientSecret, tenant);
  }
});
afterAll(async () => {
  await gateway?.close();
  await relay?.close();
  await Promise.all([ehr?.close(), slow?.close(), failing?.close()]);
  data.remove();
});

const auth = (tenant: string): Record<string, string> => ({ authorization: `Bearer ${tokens[tenant]}` });

describe('proxying', () => {
  it('preserves status, content type and relevant headers; drops hop-by-hop headers and credentials', async () => {
    const id = ehr.population.patients[2]?.id as string;
    const res = await raw(gateway.url, {
      path: `/Patient/${id}?_format=json`,
      headers: {
        ...auth(TENANT_A),
        accept: 'application/fhir+json',
        'x-request-id': 'req-123',
        prefer: 'return=representation',
        connection: 'keep-alive, x-hop',
        'x-hop': 'must-not-pass',
        'proxy-authorization': 'Basic c2VjcmV0',
        cookie: 'session=abc',
        te: 'trailers',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect((res.json() as { id: string }).id).toBe(id);
    const seen = relay.received();
    const request = seen.slice(seen.lastIndexOf(`GET /r3/Patient/${id}?_format=json HTTP/1.1`));
    expect(request).toContain(`GET /r3/Patient/${id}?_format=json HTTP/1.1`);
    const head = request.slice(0, request.indexOf('\r\n\r\n')).toLowerCase();
    expect(head).toContain('x-request-id: req-123');
    expect(head).toContain('prefer: return=representation');
    for (const dropped of ['x-hop', 'proxy-authorization', 'cookie', 'authorization', '\r\nte:']) {
      expect(head).not.toContain(dropped);
    }
  });

  it("passes the provider's own errors through with their status", async () => {
    const missing = await raw(gateway.url, { path: '/Patient/does-not-exist', headers: auth(TENANT_A) });
    expect(missing.status).toBe(404);
    expect((missing.json() as { resourceType: string }).resourceType).toBe('OperationOutcome');
    const injected = await raw(gateway.url, { path: '/Patient?_count=1', headers: auth(TENANT_FAILING) });
    expect([500, 503]).toContain(injected.status);
    expect(outcomeCode(injected.json())).not.toMatch(/^FW_GATEWAY_/);
    expect(injected.headers['content-type']).toMatch(/^application\/json\+fhir/);
  });

  it('answers 504 with an OperationOutcome when the provider is too slow', async () => {
    const res = await raw(gateway.url, { path: '/Patient?_count=1', headers: auth(TENANT_SLOW) });
    expect(res.status).toBe(504);
    expect(outcomeCode(res.json())).toBe('FW_GATEWAY_UPSTREAM_TIMEOUT');
  });

  it('answers 502 with an OperationOutcome when the provider is unreachable', async () => {
    const res = await raw(gateway.url, { path: '/Patient?_count=1', headers: auth(TENANT_B) });
    expect(res.status).toBe(502);
    expect(outcomeCode(res.json())).toBe('FW_GATEWAY_UPSTREAM_UNREACHABLE');
  });

  it('rewrites provider URLs in bodies (paging links) to the gateway and serves HEAD', async () => {
    const res = await raw(gateway.url, { method: 'HEAD', path: '/Patient?_count=1', headers: auth(TENANT_C) });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    const search = await raw(gateway.url, { path: '/Patient?_count=2', headers: auth(TENANT_C) });
    expect(search.text).not.toContain(ehr.url);
    const links = (search.json() as { link: { url: string }[] }).link.map((l) => l.url);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(link.startsWith(`${gateway.url}/Patient?`)).toBe(true);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After once a client has spent its bucket; other clients are not affected', async () => {
    const limitedDir = tempDir('rate');
    const limited = await createGateway({
      dataDir: limitedDir.path,
      rateLimit: { capacity: 3, refillPerSecond: 0.01 },
      tenants: { [TENANT_C]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
    });
    try {
      const one = await limited.registry.createClient({ tenants: [TENANT_C] });
      const two = await limited.registry.createClient({ tenants: [TENANT_C] });
      const tokenOne = await getToken(limited.url, one.clientId, one.clientSecret, TENANT_C);
      const tokenTwo = await getToken(limited.url, two.clientId, two.clientSecret, TENANT_C);
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof raw>> | undefined;
      for (let i = 0; i < 5; i += 1) {
        last = await raw(limited.url, { path: '/Patient?_count=1', headers: { authorization: `Bearer ${tokenOne}` } });
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(Number(last?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(outcomeCode(last?.json())).toBe('FW_GATEWAY_RATE_LIMITED');
      const other = await raw(limited.url, {
        path: '/Patient?_count=1',
        headers: { authorization: `Bearer ${tokenTwo}` },
      });
      expect(other.status).toBe(200);
    } finally {
      await limited.close();
      limitedDir.remove();
    }
  });
});
