/**
 * Read-only by construction: only reads, searches, POST _search, all-GET batches and the export
 * kick-off reach the provider; other methods, operations and batch entries are refused (per entry
 * inside a batch: 405 in entry.response); batch size and provider answer size are capped; the
 * client's forwarding and tenant headers never reach the provider.
 */
import { listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index.ts';
import { getToken, outcomeCode, type Relay, raw, startRelay, TENANT_A, TENANT_B, tempDir } from './helpers.ts';

type Json = Record<string, unknown>;
interface BatchResponse {
  resourceType: string;
  type: string;
  entry: { resource?: Json; response: { status: string; outcome?: Json } }[];
}

const data = tempDir('read-only');
let stu3: MockEhrServer;
let dstu2: MockEhrServer;
let relayStu3: Relay;
let relayDstu2: Relay;
let gateway: Gateway;
let small: Gateway;
const token: Record<string, string> = {};
let smallToken = '';

beforeAll(async () => {
  stu3 = await startMockEhr({ fhirVersion: 'STU3', patients: 30, seed: 3 });
  dstu2 = await startMockEhr({ fhirVersion: 'DSTU2', patients: 30, seed: 3 });
  relayStu3 = await startRelay(stu3.url);
  relayDstu2 = await startRelay(dstu2.url);
  gateway = await createGateway({
    dataDir: `${data.path}/a`,
    rateLimit: false,
    tenants: {
      [TENANT_A]: { baseUrl: relayStu3.url, fhirVersion: 'STU3' },
      [TENANT_B]: { baseUrl: relayDstu2.url, fhirVersion: 'DSTU2' },
    },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT_A, TENANT_B] });
  token[TENANT_A] = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
  token[TENANT_B] = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_B);
  small = await createGateway({
    dataDir: `${data.path}/b`,
    rateLimit: false,
    maxBatchEntries: 14,
    maxResponseBytes: 4096,
    tenants: { [TENANT_A]: { baseUrl: stu3.url, fhirVersion: 'STU3' } },
  });
  const smallClient = await small.registry.createClient({ tenants: [TENANT_A] });
  smallToken = await getToken(small.url, smallClient.clientId, smallClient.clientSecret, TENANT_A);
});
afterAll(async () => {
  await gateway?.close();
  await small?.close();
  await relayStu3?.close();
  await relayDstu2?.close();
  await stu3?.close();
  await dstu2?.close();
  data.remove();
});

const auth = (tenant: string): Record<string, string> => ({ authorization: `Bearer ${token[tenant]}` });

function batch(entries: [method: string, url: string][]): string {
  return JSON.stringify({
    resourceType: 'Bundle',
    type: 'batch',
    entry: entries.map(([method, url]) => ({ request: { method, url } })),
  });
}

describe('methods and operations', () => {
  it('refuses POST/GET operations other than the export kick-off with 405, never reaching the provider', async () => {
    const before = relayStu3.received().length;
    const cases: [string, string][] = [
      ['POST', '/Patient/$everything'],
      ['GET', '/Patient/p1/$everything'],
      ['POST', '/$process-message'],
      ['GET', '/Observation/$lastn'],
      ['POST', '/Patient/$export'],
      ['POST', '/Group/g1/$export'],
      ['GET', '/Observation/o1/$export'],
    ];
    for (const [method, path] of cases) {
      const res = await raw(gateway.url, {
        method,
        path,
        headers: { ...auth(TENANT_A), 'content-type': 'application/fhir+json' },
        body: method === 'POST' ? '{"resourceType":"Parameters"}' : undefined,
      });
      expect({ method, path, status: res.status, code: outcomeCode(res.json()) }).toEqual({
        method,
        path,
        status: 405,
        code: 'FW_GATEWAY_NOT_READ_ONLY',
      });
      expect(res.headers.allow).toBeDefined();
    }
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const res = await raw(gateway.url, { method, path: '/Patient/p1', headers: auth(TENANT_A), body: '{}' });
      expect(res.status).toBe(405);
    }
    expect(relayStu3.received().length).toBe(before);
  });

  it('forwards the export kick-off (GET $export at system, Patient and Group levels)', async () => {
    for (const path of ['/$export', '/Patient/$export', '/Group/g1/$export']) {
      const before = relayStu3.received().length;
      const res = await raw(gateway.url, { path, headers: auth(TENANT_A) });
      // The mock EHR has no export: it answers 404, but the request did reach it.
      expect(res.status).not.toBe(405);
      expect(relayStu3.received().length).toBeGreaterThan(before);
    }
  });
});

describe('batch entries', () => {
  it('answers non-GET entries 405 in entry.response (STU3: outcome) and forwards only the GET ones', async () => {
    const id = stu3.population.patients[0]!.id;
    const before = relayStu3.received().length;
    const res = await raw(gateway.url, {
      method: 'POST',
      path: '/',
      headers: { ...auth(TENANT_A), 'content-type': 'application/fhir+json' },
      body: batch([
        ['GET', `Patient/${id}`],
        ['DELETE', `Patient/${id}`],
        ['PUT', `Patient/${id}`],
        ['GET', `Condition?patient=${id}`],
        ['POST', 'Patient'],
        ['GET', `Patient/${id}/$everything`],
      ]),
    });
    expect(res.status).toBe(200);
    const bundle = res.json() as BatchResponse;
    expect(bundle.type).toBe('batch-response');
    expect(bundle.entry.map((e) => e.response.status.slice(0, 3))).toEqual(['200', '405', '405', '200', '405', '405']);
    expect(bundle.entry[0]?.resource?.id).toBe(id);
    expect(bundle.entry[3]?.resource?.resourceType).toBe('Bundle');
    expect(outcomeCode(bundle.entry[1]?.response.outcome)).toBe('FW_GATEWAY_NOT_READ_ONLY');
    const sent = relayStu3.received().slice(before);
    expect(sent).not.toContain('"DELETE"');
    expect(sent).not.toContain('"PUT"');
    expect(sent).not.toContain('"POST"');
    expect(sent).not.toContain('$everything');
  });

  it('DSTU2: the refused entry carries its OperationOutcome as entry.resource', async () => {
    const id = dstu2.population.patients[0]!.id;
    const res = await raw(gateway.url, {
      method: 'POST',
      path: `/${TENANT_B}`,
      headers: { ...auth(TENANT_B), 'content-type': 'application/json+fhir' },
      body: batch([
        ['DELETE', `Patient/${id}`],
        ['GET', `Patient/${id}`],
      ]),
    });
    const bundle = res.json() as BatchResponse;
    expect(bundle.entry.map((e) => e.response.status.slice(0, 3))).toEqual(['405', '200']);
    expect(outcomeCode(bundle.entry[0]?.resource)).toBe('FW_GATEWAY_NOT_READ_ONLY');
    expect(bundle.entry[0]?.response.outcome).toBeUndefined();
  });

  it('a batch of only refused entries is answered by the gateway without calling the provider', async () => {
    const before = relayStu3.connections + relayStu3.received().length;
    const res = await raw(gateway.url, {
      method: 'POST',
      path: '/',
      headers: { ...auth(TENANT_A), 'content-type': 'application/fhir+json' },
      body: batch([
        ['DELETE', 'Patient/1'],
        ['POST', 'Observation'],
      ]),
    });
    expect(res.status).toBe(200);
    const bundle = res.json() as BatchResponse;
    expect(bundle.entry.map((e) => e.response.status)).toEqual(['405 Method Not Allowed', '405 Method Not Allowed']);
    expect(relayStu3.connections + relayStu3.received().length).toBe(before);
  });

  it('caps the entries of a batch (413); the default leaves room for a 100-patient list refresh', async () => {
    const ids = stu3.population.patients.slice(0, 3).map((p) => p.id);
    const over = await raw(small.url, {
      method: 'POST',
      path: '/',
      headers: { authorization: `Bearer ${smallToken}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(listRefreshBundle('STU3', ids)),
    });
    expect(over.status).toBe(413);
    expect(outcomeCode(over.json())).toBe('FW_GATEWAY_BATCH_TOO_LARGE');
    const hundred = Array.from({ length: 100 }, (_, i) => stu3.population.patients[i % 30]!.id);
    const full = await raw(gateway.url, {
      method: 'POST',
      path: '/',
      headers: { ...auth(TENANT_A), 'content-type': 'application/fhir+json' },
      body: JSON.stringify(listRefreshBundle('STU3', hundred)),
    });
    expect(full.status).toBe(200);
    expect((full.json() as BatchResponse).entry).toHaveLength(700);
  });

  it('caps the provider answer (502 OperationOutcome)', async () => {
    const big = await raw(small.url, {
      path: '/Patient?_count=30',
      headers: { authorization: `Bearer ${smallToken}` },
    });
    expect(big.status).toBe(502);
    expect(outcomeCode(big.json())).toBe('FW_GATEWAY_UPSTREAM_TOO_LARGE');
    const id = stu3.population.patients[0]!.id;
    const fits = await raw(small.url, {
      path: `/Coverage?patient=${id}`,
      headers: { authorization: `Bearer ${smallToken}` },
    });
    expect(fits.status).toBe(200);
  });
});

describe('forwarding headers', () => {
  it("drops the client's X-Forwarded-*, Forwarded, tenant and x-fhirwatch headers and sets the gateway's own", async () => {
    const before = relayStu3.received().length;
    const res = await raw(gateway.url, {
      path: `/Patient/${stu3.population.patients[1]!.id}`,
      headers: {
        ...auth(TENANT_A),
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
        forwarded: 'for=203.0.113.9;host=evil.example',
        'x-tenant-id': TENANT_B,
        'x-ms-tenant-id': TENANT_B,
        'x-real-ip': '203.0.113.9',
        'x-fhirwatch-user-id': 'someone',
      },
    });
    expect(res.status).toBe(200);
    const sent = relayStu3.received().slice(before).toLowerCase();
    expect(sent).not.toContain('203.0.113.9');
    expect(sent).not.toContain('evil.example');
    expect(sent).not.toContain(TENANT_B);
    expect(sent).not.toContain('x-fhirwatch-user-id');
    expect(sent).toContain('x-forwarded-for: 127.0.0.1\r\n');
    expect(sent).toContain('x-forwarded-proto: http\r\n');
    expect(sent).toContain('forwarded: for=127.0.0.1;proto=http\r\n');
  });
});
