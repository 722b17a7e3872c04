/**
 * The Patients-app flow through the gateway with a FHIR client nobody here wrote (fhir-kit-client),
 * against real mock EHRs: metadata → token → patient search → list-refresh batch, DSTU2 and STU3.
 */
import type { FhirVersion } from '@fhirwatch/contract';
import { listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type IssuedSecret } from '../src/index.ts';
import { TENANT_A, TENANT_B, tempDir } from './helpers.ts';

const data = tempDir('flow');
let dstu2: MockEhrServer;
let stu3: MockEhrServer;
let gateway: Gateway;
const clients: Record<string, IssuedSecret> = {};

beforeAll(async () => {
  dstu2 = await startMockEhr({ fhirVersion: 'DSTU2', patients: 50, seed: 11, basePath: '/fhir' });
  stu3 = await startMockEhr({ fhirVersion: 'STU3', patients: 50, seed: 22 });
  gateway = await createGateway({
    dataDir: data.path,
    tenants: {
      [TENANT_A]: { baseUrl: dstu2.url, fhirVersion: 'DSTU2' },
      [TENANT_B]: { baseUrl: stu3.url, fhirVersion: 'STU3' },
    },
  });
  clients[TENANT_A] = await gateway.registry.createClient({ tenants: [TENANT_A], name: 'patients-app-dstu2' });
  clients[TENANT_B] = await gateway.registry.createClient({ tenants: [TENANT_B], name: 'patients-app-stu3' });
});
afterAll(async () => {
  await gateway?.close();
  await dstu2?.close();
  await stu3?.close();
  data.remove();
});

const cases: [string, string, FhirVersion, () => MockEhrServer][] = [
  ['DSTU2', TENANT_A, 'DSTU2', () => dstu2],
  ['STU3', TENANT_B, 'STU3', () => stu3],
];

describe.each(cases)('Patients-app flow, %s tenant', (_name, tenant, version, provider) => {
  it('metadata → token → POST /Patient/_search → list-refresh batch', async () => {
    const fhir = new Client({ baseUrl: `${gateway.url}/${tenant}` });

    // 1. Metadata without a token, in the tenant's version, with the token URL.
    const statement = (await fhir.capabilityStatement()) as Record<string, unknown>;
    expect(statement.resourceType).toBe(version === 'DSTU2' ? 'Conformance' : 'CapabilityStatement');
    expect(statement.fhirVersion).toBe(version === 'DSTU2' ? '1.0.2' : '3.0.2');
    const auth = await fhir.smartAuthMetadata();
    expect(auth.tokenUrl?.href).toBe(`${gateway.url}/token`);

    // 2. Client credentials, HTTP Basic, tenant in scope.
    const registered = clients[tenant] as IssuedSecret;
    const tokenResponse = await fetch(auth.tokenUrl as URL, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${registered.clientId}:${registered.clientSecret}`).toString('base64')}`,
      },
      body: `grant_type=client_credentials&scope=${tenant}`,
    });
    expect(tokenResponse.status).toBe(200);
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    fhir.bearerToken = token;

    // 3. Patient search by POST, compared with the same search straight at the provider.
    const patient = provider().population.patients[3] as unknown as {
      id: string;
      name: { family: string | string[] }[];
    };
    const family = [patient.name[0]?.family].flat()[0] as string;
    const searchParams = { family: family.slice(0, 4), _count: 5 };
    const viaGateway = (await fhir.search({
      resourceType: 'Patient',
      searchParams,
      options: { postSearch: true },
    })) as { resourceType: string; total: number; entry?: { resource: { id: string }; fullUrl?: string }[] };
    const direct = (await new Client({ baseUrl: provider().url }).search({
      resourceType: 'Patient',
      searchParams,
      options: { postSearch: true },
    })) as typeof viaGateway;
    expect(viaGateway.resourceType).toBe('Bundle');
    expect(viaGateway.total).toBeGreaterThan(0);
    expect(viaGateway.total).toBe(direct.total);
    expect(viaGateway.entry?.map((e) => e.resource.id)).toEqual(direct.entry?.map((e) => e.resource.id));
    expect(viaGateway.entry?.map((e) => e.resource.id)).toContain(patient.id);
    // Provider URLs in the body are rewritten to the gateway's.
    expect(JSON.stringify(viaGateway)).not.toContain(provider().url);

    // 4. List refresh: one batch, 7 entries per patient, each answered 200.
    const ids = provider()
      .population.patients.slice(0, 3)
      .map((p) => p.id);
    const headers: Record<string, string> = version === 'DSTU2' ? { 'content-type': 'application/json+fhir' } : {};
    const response = (await fhir.batch({
      body: listRefreshBundle(version, ids) as { resourceType: string },
      options: { headers },
    })) as { resourceType: string; type: string; entry: { response: { status: string }; resource?: unknown }[] };
    expect(response.resourceType).toBe('Bundle');
    expect(response.type).toBe('batch-response');
    expect(response.entry).toHaveLength(ids.length * 7);
    expect(response.entry.every((e) => e.response.status.startsWith('200'))).toBe(true);
    expect(response.entry[0]?.resource).toMatchObject({ id: ids[0] });
  });

  it('a token of this tenant also works on the shared base URL, routed by the token alone', async () => {
    const registered = clients[tenant] as IssuedSecret;
    const tokenResponse = await fetch(`${gateway.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=${registered.clientId}&client_secret=${registered.clientSecret}&scope=tenant:${tenant}`,
    });
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    const fhir = new Client({ baseUrl: gateway.url, bearerToken: token });
    const id = provider().population.patients[7]?.id as string;
    const read = (await fhir.read({ resourceType: 'Patient', id })) as unknown as { id: string };
    expect(read.id).toBe(id);
  });
});
