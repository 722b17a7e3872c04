/**
 * `Prefer: handling=lenient` reaches the provider through the gateway: unknown search parameters are
 * ignored (FHIR's rule); strict, the default, refuses them. Also STU3 `family=` as "contains" end to end.
 */
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index.ts';
import { getToken, TENANT_A, tempDir } from './helpers.ts';

const data = tempDir('lenient');
let ehr: MockEhrServer;
let gateway: Gateway;
let token = '';

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 30, seed: 12 });
  gateway = await createGateway({
    dataDir: data.path,
    rateLimit: false,
    tenants: { [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
  token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
});
afterAll(async () => {
  await gateway?.close();
  await ehr?.close();
  data.remove();
});

const search = (query: string, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/Patient?${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

describe('through the gateway', () => {
  it('Prefer: handling=lenient ignores unknown parameters; strict (default) answers 400', async () => {
    expect((await search('unknown=1&_count=5')).status).toBe(400);
    const lenient = await search('unknown=1&_count=5', { prefer: 'handling=lenient' });
    expect(lenient.status).toBe(200);
    expect(((await lenient.json()) as { total: number }).total).toBe(30);
  });

  it('STU3 family= finds a patient by a fragment from the middle of the name', async () => {
    const patient = ehr.population.patients.find(
      (p) => String((p.name as { family: string }[])[0]?.family ?? '').length >= 5,
    )!;
    const family = String((patient.name as { family: string }[])[0]!.family);
    const res = await search(`family=${encodeURIComponent(family.slice(2, 5))}&_count=100`);
    const ids = (((await res.json()) as { entry?: { resource: { id: string } }[] }).entry ?? []).map(
      (e) => e.resource.id,
    );
    expect(ids).toContain(patient.id);
  });
});
