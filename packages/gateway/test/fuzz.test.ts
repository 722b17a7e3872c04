/**
 * Seeded random requests (bounded: 400) against a real gateway and mock EHR: whatever the method,
 * path, encoding, content type or body, the answer is never a 5xx, every gateway error is an
 * OperationOutcome (or RFC 6749 JSON on /token), and the gateway keeps serving.
 */
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index.ts';
import { getToken, raw, TENANT_A, tempDir } from './helpers.ts';

/** mulberry32: a tiny deterministic PRNG, so a failure replays with the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const data = tempDir('fuzz');
let ehr: MockEhrServer;
let gateway: Gateway;
let token: string;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 20, seed: 77 });
  gateway = await createGateway({
    dataDir: data.path,
    tenants: { [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'STU3', timeoutMs: 10_000 } },
    rateLimit: false,
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
  token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
});
afterAll(async () => {
  await gateway?.close();
  await ehr?.close();
  data.remove();
});

describe('random requests', () => {
  it('never get a 5xx and always a structured error', async () => {
    const random = prng(20261125);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const id = ehr.population.patients[0]?.id as string;
    const segments = [
      'Patient',
      'Observation',
      'Location',
      '_search',
      '$export',
      id,
      '..',
      '.',
      '%2e%2e',
      '%2F',
      '%',
      '%zz',
      '%E0%A4%A',
      'metadata',
      'token',
      'admin',
      TENANT_A,
      'a b',
      '\u00e9',
      '%00',
      '',
      'Patient?x=%',
      '_history',
      '1',
      'patient',
      '\\\\',
      'http:',
      '~',
      '%C0%AF',
    ];
    const types = [
      undefined,
      'application/fhir+json',
      'application/json',
      'application/json+fhir',
      'application/x-www-form-urlencoded',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/fhir+json; charset=latin1',
    ];
    const bodies = [
      undefined,
      '',
      '{',
      '[]',
      'null',
      '{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?_count=1"}}]}',
      '{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"../x"}}]}',
      '{"resourceType":"Bundle","type":"transaction"}',
      'family=%ZZ',
      'family=smi&_count=2',
      'grant_type=client_credentials',
      '\u0000\u0001\u0002',
      'x'.repeat(3000),
      '{"resourceType":"Bundle","type":"batch","entry":[null,1,"x"]}',
    ];
    let serverErrors = 0;
    const statuses = new Set<number>();
    for (let i = 0; i < 400; i += 1) {
      const depth = Math.floor(random() * 4);
      let path = '';
      for (let d = 0; d < depth; d += 1) path += `/${pick(segments)}`;
      if (path === '' || random() < 0.1) path += '/';
      if (random() < 0.3)
        path += `?${pick(['_count=1', 'name=%', 'family=a&family=b', '_format=json', 'x=%E0%A4%A', '='])}`;
      const method = pick(['GET', 'GET', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
      const headers: Record<string, string> = {};
      const auth = random();
      if (auth < 0.6) headers.authorization = `Bearer ${token}`;
      else if (auth < 0.7) headers.authorization = `Bearer ${token.slice(0, -3)}abc`;
      else if (auth < 0.8) headers.authorization = 'Basic Og==';
      const type = pick(types);
      if (type !== undefined) headers['content-type'] = type;
      const body = method === 'GET' || method === 'HEAD' ? undefined : pick(bodies);
      const res = await raw(gateway.url, { method, path: encodeURI(path).replaceAll('%25', '%'), headers, body });
      if (res.status >= 500) serverErrors += 1;
      statuses.add(res.status);
      expect({ i, method, path, status: res.status }).toEqual({ i, method, path, status: expect.any(Number) });
      expect(res.status).toBeLessThan(500);
      if (res.status >= 400 && method !== 'HEAD') {
        const parsed = res.json() as { resourceType?: string; error?: string };
        expect(parsed.resourceType === 'OperationOutcome' || typeof parsed.error === 'string').toBe(true);
      }
    }
    expect(serverErrors).toBe(0);
    // The corpus reaches the provider as well as every refusal path.
    expect(statuses.has(200)).toBe(true);
    expect(statuses.size).toBeGreaterThanOrEqual(6);
    const ok = await raw(gateway.url, { path: `/Patient/${id}`, headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
  }, 120_000);
});
