/**
 * The population is a pure function of (version, size, seed): same seed → byte-identical data over
 * HTTP, different seed → different data; records do not depend on generation order or cache state;
 * large populations work.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type FhirResource,
  generatePopulation,
  type MockEhrServer,
  REFERENCE_TIME_MS,
  startMockEhr,
} from '../src/index.ts';

const servers: MockEhrServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(options: Parameters<typeof startMockEhr>[0]): Promise<MockEhrServer> {
  const server = await startMockEhr(options);
  servers.push(server);
  return server;
}

async function bytes(url: string): Promise<Buffer> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

function recordJson(population: ReturnType<typeof generatePopulation>, index: number): string {
  return JSON.stringify(population.record(index));
}

describe('determinism', () => {
  it('same seed: byte-identical resources over HTTP, searches identical up to the base URL', async () => {
    for (const fhirVersion of ['DSTU2', 'STU3'] as const) {
      const a = await start({ fhirVersion, patients: 200, seed: 1234 });
      const b = await start({ fhirVersion, patients: 200, seed: 1234, basePath: '/other' });
      const id = a.population.patients[123]!.id;
      expect(b.population.patients[123]!.id).toBe(id);
      expect(await bytes(`${a.url}/Patient/${id}`)).toEqual(await bytes(`${b.url}/Patient/${id}`));
      const obs = a.population.record(123).observations[5]!.id;
      expect(await bytes(`${a.url}/Observation/${obs}`)).toEqual(await bytes(`${b.url}/Observation/${obs}`));
      for (const query of [`Observation?patient=${id}&_sort=-date`, 'Patient?name:contains=an&_count=50', 'Location']) {
        const fromA = (await bytes(`${a.url}/${query}`)).toString().replaceAll(a.url, 'BASE');
        const fromB = (await bytes(`${b.url}/${query}`)).toString().replaceAll(b.url, 'BASE');
        expect(fromA).toBe(fromB);
      }
    }
  });

  it('same seed: generatePopulation gives the same JSON; a different seed gives different data', () => {
    const one = generatePopulation({ fhirVersion: 'STU3', patients: 300, seed: 42 });
    const two = generatePopulation({ fhirVersion: 'STU3', patients: 300, seed: 42 });
    const other = generatePopulation({ fhirVersion: 'STU3', patients: 300, seed: 43 });
    expect(JSON.stringify(two.patients)).toBe(JSON.stringify(one.patients));
    expect(recordJson(two, 299)).toBe(recordJson(one, 299));
    const ids = new Set(one.patients.map((p) => p.id));
    expect(other.patients.filter((p) => ids.has(p.id))).toEqual([]);
    const names = (p: readonly FhirResource[]) => JSON.stringify(p.map((x) => [x.name, x.birthDate, x.gender]));
    expect(names(other.patients)).not.toBe(names(one.patients));
    expect(recordJson(other, 0)).not.toBe(recordJson(one, 0));
  });

  it('a record does not depend on which records were generated before it', () => {
    const inOrder = generatePopulation({ patients: 50, seed: 5 });
    for (let i = 0; i < 50; i++) inOrder.record(i);
    const alone = generatePopulation({ patients: 50, seed: 5 });
    expect(recordJson(alone, 37)).toBe(recordJson(inOrder, 37));
  });

  it('serves the same bytes after a record was evicted from the cache and regenerated', async () => {
    const server = await start({ patients: 30, seed: 8, cachePatients: 1 });
    const id = server.population.record(2).encounters[0]!.id;
    const before = await bytes(`${server.url}/Encounter/${id}`);
    for (let i = 3; i < 30; i++) await bytes(`${server.url}/Condition?patient=${server.population.patients[i]!.id}`);
    expect(await bytes(`${server.url}/Encounter/${id}`)).toEqual(before);
  });
});

describe('shape and scale', () => {
  it('plausible, unique and internally consistent data', () => {
    for (const fhirVersion of ['DSTU2', 'STU3'] as const) {
      const population = generatePopulation({ fhirVersion, patients: 1000, seed: 42 });
      const ids = new Set(population.patients.map((p) => p.id));
      expect(ids.size).toBe(1000);
      const mrns = new Set(population.patients.map((p) => (p.identifier as { value: string }[])[0]!.value));
      expect(mrns.size).toBe(1000);
      const genders = new Set(population.patients.map((p) => p.gender));
      expect(genders).toContain('male');
      expect(genders).toContain('female');
      for (let i = 0; i < 1000; i += 37) {
        const patient = population.patients[i]!;
        expect(Date.parse(patient.birthDate as string)).toBeLessThan(REFERENCE_TIME_MS);
        const record = population.record(i);
        for (const list of Object.values(record)) {
          for (const r of list) {
            expect(r.id.startsWith(`${patient.id}-`)).toBe(true);
            expect(JSON.stringify(r)).toContain(`"Patient/${patient.id}"`);
          }
        }
        const starts = record.encounters.map((e) => (e.period as { start: string }).start);
        expect([...starts].sort()).toEqual(starts);
        for (const e of record.encounters) {
          const period = e.period as { start: string; end?: string };
          if (period.end !== undefined) expect(period.end >= period.start).toBe(true);
          else expect(e.status).toBe('in-progress');
        }
        for (const o of record.observations) {
          const code = (o.code as { coding: { code: string }[] }).coding[0]!.code;
          const value = (o.valueQuantity as { value: number } | undefined)?.value;
          if (code === '8867-4') expect(value).toBeGreaterThan(25);
          if (code === '8867-4') expect(value).toBeLessThan(220);
          if (code === '8310-5') expect(value).toBeGreaterThan(34);
          if (code === '8310-5') expect(value).toBeLessThan(42);
          if (code === '59408-5') expect(value).toBeLessThanOrEqual(100);
          if (code === '29463-7') expect(value).toBeGreaterThan(0);
        }
      }
    }
  });

  it('100,000 patients: unique ids, and the server reads and searches them', async () => {
    const server = await start({ fhirVersion: 'DSTU2', patients: 100_000, seed: 77, cachePatients: 100 });
    const patients = server.population.patients;
    expect(new Set(patients.map((p) => p.id)).size).toBe(100_000);
    const last = patients[99_999]!;
    expect(JSON.parse((await bytes(`${server.url}/Patient/${last.id}`)).toString())).toEqual(last);
    const mrn = (last.identifier as { value: string }[])[0]!.value;
    const found = JSON.parse((await bytes(`${server.url}/Patient?identifier=${mrn}`)).toString());
    expect(found.total).toBe(1);
    expect(found.entry[0].resource.id).toBe(last.id);
    const vitals = JSON.parse(
      (await bytes(`${server.url}/Observation?patient=${last.id}&category=vital-signs`)).toString(),
    );
    expect(vitals.total).toBe(server.population.record(99_999).observations.length);
  });
});
