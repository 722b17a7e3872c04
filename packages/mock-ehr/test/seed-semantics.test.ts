/**
 * The seed's exact semantics on the mock EHR: STU3 `family=` / `given=` match any part of the name
 * (FHIR's prefix default on request), `Prefer: handling=lenient` ignores unknown search parameters,
 * and `/metadata` passes the contract's field checker with working OAuth URIs.
 */
import { checkResourceFields, FHIR_VERSIONS, type FhirVersion, listRefreshBundle } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockEhrServer, startMockEhr } from '../src/index.ts';

type Json = Record<string, unknown>;
type Bundle = { total?: number; entry?: { resource?: Json; response?: { status: string } }[] };

const servers: MockEhrServer[] = [];
let stu3: MockEhrServer;
let stu3Fhir: MockEhrServer;
let dstu2: MockEhrServer;

beforeAll(async () => {
  stu3 = await startMockEhr({ fhirVersion: 'STU3', patients: 40, seed: 5 });
  stu3Fhir = await startMockEhr({ fhirVersion: 'STU3', patients: 40, seed: 5, stringSearch: 'fhir' });
  dstu2 = await startMockEhr({ fhirVersion: 'DSTU2', patients: 40, seed: 5, basePath: '/fhir' });
  servers.push(stu3, stu3Fhir, dstu2);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Json };
}

/** A patient whose first family (and given) name has a fragment that is not its start. */
function pickPatient(server: MockEhrServer, part: 'family' | 'given'): { id: string; fragment: string } {
  for (const patient of server.population.patients) {
    const name = (patient.name as Json[])[0]!;
    const value = part === 'family' ? name.family : (name.given as string[])[0];
    const text = Array.isArray(value) ? String(value[0]) : String(value);
    if (text.length >= 5) return { id: patient.id, fragment: text.slice(2, 5).toLowerCase() };
  }
  throw new Error('no patient with a long enough name');
}

function ids(bundle: Json): string[] {
  return ((bundle as Bundle).entry ?? []).map((e) => String(e.resource?.id));
}

describe('STU3 family= and given= match any part of the name (seed)', () => {
  it.each(['family', 'given'] as const)('%s= with a fragment from the middle finds the patient', async (part) => {
    const { id, fragment } = pickPatient(stu3, part);
    const found = await get(`${stu3.url}/Patient?${part}=${encodeURIComponent(fragment)}&_count=1000`);
    expect(found.status).toBe(200);
    expect(ids(found.body)).toContain(id);
    // POST /Patient/_search: the same semantics.
    const posted = await fetch(`${stu3.url}/Patient/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${part}=${encodeURIComponent(fragment.toUpperCase())}&_count=1000`,
    });
    expect(ids((await posted.json()) as Json)).toContain(id);
    // With FHIR's default (stringSearch: 'fhir') the same fragment is a prefix search and misses it.
    const prefix = await get(`${stu3Fhir.url}/Patient?${part}=${encodeURIComponent(fragment)}&_count=1000`);
    expect(ids(prefix.body)).not.toContain(id);
    const explicitContains = await get(
      `${stu3Fhir.url}/Patient?${part}:contains=${encodeURIComponent(fragment)}&_count=1000`,
    );
    expect(ids(explicitContains.body)).toContain(id);
  });

  it('DSTU2 plain family= stays a prefix match (the app sends family:contains there)', async () => {
    const { id, fragment } = pickPatient(dstu2, 'family');
    expect(ids((await get(`${dstu2.url}/Patient?family=${fragment}&_count=1000`)).body)).not.toContain(id);
    expect(ids((await get(`${dstu2.url}/Patient?family:contains=${fragment}&_count=1000`)).body)).toContain(id);
  });

  it('rejects an unknown stringSearch option', async () => {
    await expect(startMockEhr({ stringSearch: 'substring' as 'seed' })).rejects.toMatchObject({
      code: 'FW_MOCKEHR_OPTIONS',
    });
  });
});

describe('Prefer: handling=lenient', () => {
  it('ignores unknown search parameters; strict (the default) refuses them with 400', async () => {
    const id = stu3.population.patients[0]!.id;
    const url = `${stu3.url}/Condition?patient=${id}&unknown-param=1&code:below=x`;
    const strict = await get(url);
    expect(strict.status).toBe(400);
    expect(strict.body.resourceType).toBe('OperationOutcome');
    const lenient = await get(url, { prefer: 'return=representation, handling=lenient' });
    expect(lenient.status).toBe(200);
    const plain = await get(`${stu3.url}/Condition?patient=${id}`);
    expect(lenient.body.total).toBe(plain.body.total);
    expect((await get(url, { prefer: 'handling=strict' })).status).toBe(400);
  });

  it('applies to the entries of a batch', async () => {
    const id = dstu2.population.patients[0]!.id;
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: `Coverage?patient=${id}&bogus=1` } }],
    };
    const send = async (headers: Record<string, string>) =>
      (await (
        await fetch(`${dstu2.url}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json+fhir', ...headers },
          body: JSON.stringify(bundle),
        })
      ).json()) as Bundle;
    expect((await send({})).entry?.[0]?.response?.status).toMatch(/^400/);
    expect((await send({ prefer: 'handling=lenient' })).entry?.[0]?.response?.status).toMatch(/^200/);
  });
});

describe.each(FHIR_VERSIONS)('/metadata and OAuth endpoints (%s)', (version: FhirVersion) => {
  const server = (): MockEhrServer => (version === 'STU3' ? stu3 : dstu2);

  it('passes the contract field checker, OAuth URIs included', async () => {
    const { status, body } = await get(`${server().url}/metadata`);
    expect(status).toBe(200);
    const report = checkResourceFields(body, version);
    expect(report.required.filter((c) => !c.present)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('authorize answers unsupported_response_type; token grants client credentials only', async () => {
    const authorize = await fetch(`${server().url}/authorize?response_type=code&client_id=x`);
    expect(authorize.status).toBe(400);
    expect(await authorize.json()).toMatchObject({ error: 'unsupported_response_type' });
    const token = (grant: string) =>
      fetch(`${server().url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=${grant}&client_id=a&client_secret=b`,
      });
    const granted = await token('client_credentials');
    expect(granted.status).toBe(200);
    expect(await granted.json()).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    const refused = await token('password');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'unsupported_grant_type' });
    expect((await fetch(`${server().url}/token`)).status).toBe(405);
  });

  it('answers the contract list refresh with every entry 200', async () => {
    const ids = server()
      .population.patients.slice(0, 3)
      .map((p) => p.id);
    const res = await fetch(`${server().url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(listRefreshBundle(version, ids)),
    });
    const bundle = (await res.json()) as Bundle;
    expect(bundle.entry).toHaveLength(21);
    expect(bundle.entry?.every((e) => e.response?.status.startsWith('200'))).toBe(true);
  });
});
