/**
 * Every search parameter, modifier and sort key the contract names (SEARCH_PARAMETERS) is served
 * (200 with a searchset), on every resource type of both versions; and every parameter the
 * contract does not name is refused with 400.
 */
import { SEARCH_PARAMETERS, type SearchParameterDef } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockEhrServer, startMockEhr } from '../src/index.ts';

describe.each(['DSTU2', 'STU3'] as const)('%s: the whole contract search table', (version) => {
  let server: MockEhrServer;
  let patientId: string;
  let mrn: string;

  beforeAll(async () => {
    server = await startMockEhr({ fhirVersion: version, patients: 40, seed: 11 });
    patientId = server.population.patients[4]!.id;
    mrn = (server.population.patients[4]!.identifier as { value: string }[])[0]!.value;
  });
  afterAll(async () => {
    await server?.close();
  });

  const valueFor = (def: SearchParameterDef): string => {
    switch (def.type) {
      case 'string':
        return 'a';
      case 'date':
        return 'ge2000-01-01';
      case 'reference':
        return `Patient/${patientId}`;
      case 'token':
        if (def.name === 'identifier') return mrn;
        if (def.name === 'gender') return 'female';
        if (def.name === 'category') return 'vital-signs';
        return patientId;
      default:
        return '1';
    }
  };

  async function search(
    type: string,
    query: string,
  ): Promise<{ status: number; body: { resourceType: string; type?: string; total?: number } }> {
    const response = await fetch(`${server.url}/${type}?${query}`);
    return { status: response.status, body: (await response.json()) as { resourceType: string } };
  }

  it('answers every parameter, with and without each modifier, and every sort key', async () => {
    let checked = 0;
    for (const [type, defs] of Object.entries(SEARCH_PARAMETERS[version])) {
      const selecting = defs.filter((d) => !d.result);
      for (const def of selecting) {
        for (const modifier of ['', ...def.modifiers]) {
          const name = modifier === '' ? def.name : `${def.name}:${modifier}`;
          const { status, body } = await search(
            type,
            `${encodeURIComponent(name)}=${encodeURIComponent(valueFor(def))}`,
          );
          expect(status, `${type}?${name}`).toBe(200);
          expect(body.type).toBe('searchset');
          checked++;
        }
        for (const sort of [
          `_sort=${def.name}`,
          `_sort=-${def.name}`,
          `_sort:desc=${def.name}`,
          `_sort:asc=${def.name}`,
        ]) {
          expect((await search(type, `${sort}&_count=2`)).status, `${type}?${sort}`).toBe(200);
        }
      }
      expect((await search(type, '_count=1&_format=json')).status).toBe(200);
      expect((await search(type, `_id=${patientId}`)).status).toBe(200);
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('refuses parameters, modifiers and sort keys outside the table with 400', async () => {
    for (const [type, defs] of Object.entries(SEARCH_PARAMETERS[version])) {
      const { status, body } = await search(type, 'not-a-parameter=1');
      expect(status, type).toBe(400);
      expect(body.resourceType).toBe('OperationOutcome');
      const string = defs.find((d) => d.type === 'string');
      if (string !== undefined) expect((await search(type, `${string.name}:missing=a`)).status).toBe(400);
      expect((await search(type, '_sort=not-a-parameter')).status).toBe(400);
      expect((await search(type, '_sort=_count')).status).toBe(400);
    }
  });
});
