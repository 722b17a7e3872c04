/**
 * The mock EHR through a FHIR client nobody here wrote (fhir-kit-client), over real HTTP on
 * 127.0.0.1: every read, search and batch of the Patients-app contract, on DSTU2 and STU3.
 */
import { FHIR_VERSION_NUMBER, type FhirVersion, PATIENTS_APP_RESOURCES } from '@fhirwatch/contract';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockEhrServer, startMockEhr } from '../src/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: FHIR JSON read loosely in assertions
type Json = Record<string, any>;

type PageBundle = Parameters<Client['nextPage']>[0]['bundle'];

const VITAL_CODES = ['8867-4', '85354-9', '8310-5', '9279-1', '59408-5', '29463-7', '8302-2'];

function entries(bundle: Json): Json[] {
  return ((bundle.entry ?? []) as Json[]).map((e) => e.resource as Json);
}

function familyOf(patient: Json, version: FhirVersion): string {
  const family = patient.name[0].family;
  return version === 'DSTU2' ? family[0] : family;
}

function medicationType(version: FhirVersion): string {
  return version === 'DSTU2' ? 'MedicationOrder' : 'MedicationRequest';
}

async function statusOf(promise: Promise<unknown>): Promise<{ status: number; data: Json }> {
  try {
    await promise;
    return { status: 200, data: {} };
  } catch (error) {
    const response = (error as { response?: { status: number; data: Json } }).response;
    if (response === undefined) throw error;
    return response;
  }
}

describe.each(['DSTU2', 'STU3'] as const)('%s through fhir-kit-client', (version) => {
  let server: MockEhrServer;
  let client: Client;
  let patient: Json;
  let patientId: string;
  const basePath = version === 'DSTU2' ? '/fhir' : '';

  beforeAll(async () => {
    server = await startMockEhr({ fhirVersion: version, patients: 300, seed: 42, basePath });
    client = new Client({ baseUrl: server.url });
    patient = server.population.patients[7] as Json;
    patientId = patient.id;
  });
  afterAll(async () => {
    await server?.close();
  });

  // Both ways the Patients app can search: GET with a query, and POST /Patient/_search with a form body.
  const searchBoth = async (searchParams: Record<string, string>): Promise<Json[]> => {
    const viaGet = (await client.search({ resourceType: 'Patient', searchParams })) as Json;
    const viaPost = (await client.search({
      resourceType: 'Patient',
      searchParams,
      options: { postSearch: true },
    })) as Json;
    expect(viaGet.resourceType).toBe('Bundle');
    expect(viaGet.type).toBe('searchset');
    expect(entries(viaPost).map((p) => p.id)).toEqual(entries(viaGet).map((p) => p.id));
    expect(viaPost.total).toBe(viaGet.total);
    expect(viaGet.total).toBeGreaterThanOrEqual(entries(viaGet).length);
    return entries(viaGet);
  };

  it('serves /metadata as the version’s Conformance / CapabilityStatement', async () => {
    const statement = (await client.capabilityStatement()) as Json;
    expect(statement.resourceType).toBe(version === 'DSTU2' ? 'Conformance' : 'CapabilityStatement');
    expect(statement.fhirVersion).toBe(FHIR_VERSION_NUMBER[version]);
    expect(statement.rest[0].mode).toBe('server');
    const types = (statement.rest[0].resource as Json[]).map((r) => r.type);
    expect(types).toEqual(PATIENTS_APP_RESOURCES[version]);
    for (const r of statement.rest[0].resource as Json[]) {
      expect(r.interaction.map((i: Json) => i.code)).toEqual(['read', 'search-type']);
    }
  });

  it('reads a patient with MRN, names, gender, birth date and care provider display', async () => {
    const read = (await client.read({ resourceType: 'Patient', id: patientId })) as Json;
    expect(read).toEqual(patient);
    const mrn = (read.identifier as Json[]).find((i) => i.type?.coding?.[0]?.code === 'MR');
    expect(mrn?.type.coding[0].system).toBe('http://hl7.org/fhir/v2/0203');
    expect(mrn?.value).toMatch(/^\d{8}$/);
    expect(read.name[0].use).toBe('official');
    expect(read.name[0].given.length).toBeGreaterThan(0);
    expect(['male', 'female', 'other', 'unknown']).toContain(read.gender);
    expect(read.birthDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const care = read[version === 'DSTU2' ? 'careProvider' : 'generalPractitioner'][0];
    expect(care.display).toMatch(/^Dr\. /);
    const practitioner = (await client.read({
      resourceType: 'Practitioner',
      id: care.reference.split('/')[1],
    })) as Json;
    expect(practitioner.resourceType).toBe('Practitioner');
  });

  it('reads every contract resource type directly, identical to the search hit', async () => {
    for (const type of PATIENTS_APP_RESOURCES[version]) {
      if (type === 'Patient' || type === 'Location') continue;
      const bundle = (await client.search({ resourceType: type, searchParams: { patient: patientId } })) as Json;
      const first = entries(bundle)[0];
      expect(first, `${type} of the patient`).toBeDefined();
      const read = (await client.read({ resourceType: type, id: first!.id })) as Json;
      expect(read).toEqual(first);
      expect(bundle.entry[0].fullUrl).toBe(`${server.url}/${type}/${first!.id}`);
      expect(bundle.entry[0].search.mode).toBe('match');
    }
    const locations = entries((await client.search({ resourceType: 'Location', searchParams: {} })) as Json);
    expect(locations.length).toBeGreaterThan(0);
    const location = (await client.read({ resourceType: 'Location', id: locations[0]!.id })) as Json;
    expect(location).toEqual(locations[0]);
  });

  it('searches patients by _id and id', async () => {
    for (const name of ['_id', 'id']) {
      const hits = await searchBoth({ [name]: patientId });
      expect(hits.map((p) => p.id)).toEqual([patientId]);
    }
  });

  it('searches patients by identifier (MRN value, and system|value)', async () => {
    const mrn = (patient.identifier as Json[])[0]!;
    expect((await searchBoth({ identifier: mrn.value })).map((p) => p.id)).toEqual([patientId]);
    expect((await searchBoth({ identifier: `${mrn.system}|${mrn.value}` })).map((p) => p.id)).toEqual([patientId]);
    expect(await searchBoth({ identifier: `urn:other|${mrn.value}` })).toEqual([]);
  });

  it('searches family / given / name with :contains (case-insensitive), :exact and the default', async () => {
    const family = familyOf(patient, version);
    const given = patient.name[0].given[0] as string;
    const inner = family.slice(1, 4).toUpperCase();
    const familyHits = await searchBoth({ 'family:contains': inner });
    expect(familyHits.map((p) => p.id)).toContain(patientId);
    for (const p of familyHits) {
      expect(
        (p.name as Json[]).some((n) =>
          familyOf({ name: [n] }, version)
            .toLowerCase()
            .includes(inner.toLowerCase()),
        ),
      ).toBe(true);
    }
    const exact = await searchBoth({ 'family:exact': family });
    expect(exact.map((p) => p.id)).toContain(patientId);
    expect(
      await searchBoth({
        'family:exact': family.toLowerCase() === family ? family.toUpperCase() : family.toLowerCase(),
      }),
    ).toEqual([]);
    expect((await searchBoth({ family: family.slice(0, 3).toLowerCase() })).map((p) => p.id)).toContain(patientId);
    const givenHits = await searchBoth({ 'given:contains': given.slice(1, 4).toLowerCase() });
    expect(givenHits.map((p) => p.id)).toContain(patientId);
    const nameHits = await searchBoth({ 'name:contains': given.slice(-3) });
    expect(nameHits.map((p) => p.id)).toContain(patientId);
    const both = await searchBoth({ 'name:contains': family.slice(0, 3), given: given });
    expect(both.map((p) => p.id)).toContain(patientId);
    for (const p of both) expect(p.name.some((n: Json) => n.given.includes(given))).toBe(true);
  });

  it('searches birthdate (exact) and gender', async () => {
    const hits = await searchBoth({ birthdate: patient.birthDate });
    expect(hits.map((p) => p.id)).toContain(patientId);
    for (const p of hits) expect(p.birthDate).toBe(patient.birthDate);
    const byGender = await searchBoth({ gender: patient.gender, _count: '1000' });
    expect(byGender.map((p) => p.id)).toContain(patientId);
    for (const p of byGender) expect(p.gender).toBe(patient.gender);
    const expected = server.population.patients.filter((p) => p.gender === patient.gender).length;
    expect(byGender.length).toBe(expected);
  });

  it('pages with _count: total, next links followed to the end, every patient once', async () => {
    const first = (await client.search({ resourceType: 'Patient', searchParams: { _count: '40' } })) as Json;
    expect(first.total).toBe(300);
    expect(entries(first)).toHaveLength(40);
    const ids = entries(first).map((p) => p.id);
    let page: Json | undefined = first;
    let pages = 1;
    while (page !== undefined && pages < 20) {
      page = (await client.nextPage({ bundle: page as PageBundle })) as Json | undefined;
      if (page === undefined) break;
      pages++;
      expect(page.total).toBe(300);
      ids.push(...entries(page).map((p) => p.id));
    }
    expect(pages).toBe(8);
    expect(new Set(ids).size).toBe(300);
    const viaPost = (await client.search({
      resourceType: 'Patient',
      searchParams: { 'name:contains': 'a', _count: '3' },
      options: { postSearch: true },
    })) as Json;
    expect(entries(viaPost)).toHaveLength(3);
    const next = (await client.nextPage({ bundle: viaPost as PageBundle })) as Json;
    expect(next.total).toBe(viaPost.total);
    expect(entries(next).map((p) => p.id)).not.toContain(entries(viaPost)[0]!.id);
  });

  it('returns vital signs by category, newest first with _sort=-date and _sort:desc=date', async () => {
    const minus = (await client.search({
      resourceType: 'Observation',
      searchParams: { patient: patientId, category: 'vital-signs', _sort: '-date' },
    })) as Json;
    const observations = entries(minus);
    expect(observations.length).toBeGreaterThanOrEqual(21);
    expect(minus.total).toBe(observations.length);
    const times = observations.map((o) => o.effectiveDateTime as string);
    expect([...times].sort().reverse()).toEqual(times);
    for (const o of observations) {
      const category = version === 'DSTU2' ? o.category : o.category[0];
      expect(Array.isArray(o.category)).toBe(version === 'STU3');
      expect(category.coding[0].code).toBe('vital-signs');
      expect(o.subject.reference).toBe(`Patient/${patientId}`);
      expect(o.code.coding[0].system).toBe('http://loinc.org');
      expect(VITAL_CODES).toContain(o.code.coding[0].code);
      if (o.code.coding[0].code === '85354-9') {
        expect(o.component.map((c: Json) => c.code.coding[0].code)).toEqual(['8480-6', '8462-4']);
        for (const c of o.component) expect(c.valueQuantity.code).toBe('mm[Hg]');
      } else {
        expect(typeof o.valueQuantity.value).toBe('number');
        expect(o.valueQuantity.system).toBe('http://unitsofmeasure.org');
      }
    }
    expect(new Set(observations.map((o) => o.code.coding[0].code))).toEqual(new Set(VITAL_CODES));
    const desc = (await client.search({
      resourceType: 'Observation',
      searchParams: {
        subject: `Patient/${patientId}`,
        category: 'http://hl7.org/fhir/observation-category|vital-signs',
        '_sort:desc': 'date',
      },
    })) as Json;
    expect(entries(desc).map((o) => o.effectiveDateTime)).toEqual(times);
    const asc = (await client.search({
      resourceType: 'Observation',
      searchParams: { patient: patientId, category: 'vital-signs', _sort: 'date', _count: '7' },
    })) as Json;
    expect(entries(asc).map((o) => o.effectiveDateTime)).toEqual([...times].reverse().slice(0, 7));
    const none = (await client.search({
      resourceType: 'Observation',
      searchParams: { patient: patientId, category: 'laboratory' },
    })) as Json;
    expect(none.total).toBe(0);
    const since = times[3]!;
    const recent = (await client.search({
      resourceType: 'Observation',
      searchParams: { patient: patientId, date: `ge${since}` },
    })) as Json;
    for (const o of entries(recent)) expect(o.effectiveDateTime >= since).toBe(true);
    expect(recent.total).toBe(times.filter((t) => t >= since).length);
  });

  it('returns conditions with code display, severity and recorded / asserted date, limited by _count', async () => {
    const all = entries(
      (await client.search({ resourceType: 'Condition', searchParams: { patient: patientId } })) as Json,
    );
    expect(all.length).toBeGreaterThan(0);
    for (const c of all) {
      expect(c.code.coding[0].display).toEqual(expect.any(String));
      expect(c.severity.coding[0].system).toBe('http://snomed.info/sct');
      expect(c[version === 'DSTU2' ? 'dateRecorded' : 'assertedDate']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(c[version === 'DSTU2' ? 'patient' : 'subject'].reference).toBe(`Patient/${patientId}`);
    }
    const one = (await client.search({
      resourceType: 'Condition',
      searchParams: { patient: patientId, _count: '1' },
    })) as Json;
    expect(entries(one)).toHaveLength(1);
    expect(one.total).toBe(all.length);
  });

  it('returns the last encounter (sorted by date, _count=1) with a location display matching the Location', async () => {
    const all = entries(
      (await client.search({ resourceType: 'Encounter', searchParams: { patient: patientId } })) as Json,
    );
    const latest = (await client.search({
      resourceType: 'Encounter',
      searchParams: { patient: patientId, '_sort:desc': 'date', _count: '1' },
    })) as Json;
    expect(latest.total).toBe(all.length);
    const starts = all.map((e) => e.period.start as string).sort();
    const encounter = entries(latest)[0]!;
    expect(encounter.period.start).toBe(starts[starts.length - 1]);
    expect(['finished', 'in-progress']).toContain(encounter.status);
    expect(encounter.type[0].coding[0].display).toEqual(expect.any(String));
    const ref = encounter.location[0].location;
    const location = (await client.read({ resourceType: 'Location', id: ref.reference.split('/')[1] })) as Json;
    expect(ref.display).toBe(location.name);
    const minus = (await client.search({
      resourceType: 'Encounter',
      searchParams: { patient: patientId, _sort: '-date' },
    })) as Json;
    expect(entries(minus)[0]!.id).toBe(encounter.id);
  });

  it('returns allergies in the version’s shape, with reactions', async () => {
    // Find a patient with allergies (some have none).
    let found: Json[] = [];
    for (const p of server.population.patients.slice(0, 40)) {
      found = entries(
        (await client.search({ resourceType: 'AllergyIntolerance', searchParams: { patient: p.id } })) as Json,
      );
      if (found.length > 0) break;
    }
    expect(found.length).toBeGreaterThan(0);
    for (const a of found) {
      const substance = version === 'DSTU2' ? a.substance : a.code;
      expect(substance.text).toEqual(expect.any(String));
      expect(substance.coding[0].display).toEqual(expect.any(String));
      if (version === 'DSTU2') {
        expect(a.status).toBe('confirmed');
        expect(a.code).toBeUndefined();
        expect(a.recordedDate).toEqual(expect.any(String));
      } else {
        expect(a.clinicalStatus).toBe('active');
        expect(a.verificationStatus).toBe('confirmed');
        expect(a.substance).toBeUndefined();
        expect(a.assertedDate).toEqual(expect.any(String));
      }
      expect(a.reaction[0].substance.text).toBe(substance.text);
      expect(a.reaction[0].manifestation[0].text).toEqual(expect.any(String));
      expect(a.text.div).toContain('<div xmlns="http://www.w3.org/1999/xhtml">');
    }
  });

  it('returns medications as the version names them', async () => {
    const type = medicationType(version);
    const orders = (await client.search({
      resourceType: type,
      searchParams: { patient: patientId, _count: '10' },
    })) as Json;
    expect(entries(orders).length).toBeGreaterThan(0);
    for (const m of entries(orders)) {
      expect(m.resourceType).toBe(type);
      expect(m.medicationCodeableConcept.text).toEqual(expect.any(String));
      expect(m.dosageInstruction[0].text).toEqual(expect.any(String));
      if (version === 'DSTU2') {
        expect(m.dateWritten).toEqual(expect.any(String));
        expect(m.prescriber.display).toMatch(/^Dr\. /);
      } else {
        expect(m.authoredOn).toEqual(expect.any(String));
        expect(m.requester.agent.display).toMatch(/^Dr\. /);
      }
    }
    if (version === 'STU3') {
      const statements = (await client.search({
        resourceType: 'MedicationStatement',
        searchParams: { subject: `Patient/${patientId}` },
      })) as Json;
      expect(statements.total).toBe(orders.total);
      for (const s of entries(statements)) expect(s.dosage[0].text).toEqual(expect.any(String));
      expect(
        (await statusOf(client.search({ resourceType: 'MedicationOrder', searchParams: { patient: patientId } })))
          .status,
      ).toBe(404);
    } else {
      for (const other of ['MedicationRequest', 'MedicationStatement']) {
        expect(
          (await statusOf(client.search({ resourceType: other, searchParams: { patient: patientId } }))).status,
        ).toBe(404);
      }
    }
  });

  it('returns coverage: payor (DSTU2 issuer) or grouping, period, subscriberId and beneficiary (STU3)', async () => {
    const bundle = (await client.search({ resourceType: 'Coverage', searchParams: { patient: patientId } })) as Json;
    const coverage = entries(bundle);
    expect(coverage.length).toBeGreaterThan(0);
    for (const c of coverage) {
      if (version === 'DSTU2') {
        expect(c.issuer.display).toEqual(expect.any(String));
        expect(c.subscriber.reference).toBe(`Patient/${patientId}`);
      } else {
        expect(c.grouping.groupDisplay).toEqual(expect.any(String));
        expect(c.grouping.planDisplay).toEqual(expect.any(String));
        expect(c.period.start).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(c.subscriberId).toEqual(expect.any(String));
        expect(c.beneficiary.reference).toBe(`Patient/${patientId}`);
        expect(c.payor[0].display).toEqual(expect.any(String));
      }
    }
    const other = version === 'DSTU2' ? 'subscriber' : 'beneficiary';
    const again = (await client.search({
      resourceType: 'Coverage',
      searchParams: { [other]: `Patient/${patientId}` },
    })) as Json;
    expect(entries(again)).toEqual(coverage);
  });

  it('answers a list-refresh batch (5 patients × 7 entries) with a batch-response, each entry its own status', async () => {
    const ids = server.population.patients.slice(10, 15).map((p) => p.id);
    const requests = ids.flatMap((id) => [
      `Patient/${id}`,
      `Observation?patient=${id}&category=vital-signs&_sort=-date&_count=7`,
      `Condition?patient=${id}&_count=10`,
      `Encounter?patient=${id}&_sort:desc=date&_count=1`,
      `AllergyIntolerance?patient=${id}`,
      `${medicationType(version)}?patient=${id}&_count=10`,
      `Coverage?patient=${id}`,
    ]);
    const body = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: requests.map((url) => ({ request: { method: 'GET', url } })),
    };
    const response = (await client.batch({ body })) as Json;
    expect(response.resourceType).toBe('Bundle');
    expect(response.type).toBe('batch-response');
    expect(response.entry).toHaveLength(35);
    response.entry.forEach((entry: Json, i: number) => {
      expect(entry.response.status).toBe('200 OK');
      if (i % 7 === 0) {
        expect(entry.resource.resourceType).toBe('Patient');
        expect(entry.resource.id).toBe(ids[i / 7]);
      } else {
        expect(entry.resource.resourceType).toBe('Bundle');
        expect(entry.resource.type).toBe('searchset');
      }
    });
    // Entry 1: the vitals of the first patient, as a search would answer them.
    const alone = (await client.search({
      resourceType: 'Observation',
      searchParams: { patient: ids[0]!, category: 'vital-signs', _sort: '-date', _count: '7' },
    })) as Json;
    expect(response.entry[1].resource.entry).toEqual(alone.entry);
  });

  it('reports failed batch entries with their own status and an OperationOutcome', async () => {
    const body = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${patientId}` } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
        { request: { method: 'GET', url: 'Patient?unknown-param=1' } },
        { request: { method: 'DELETE', url: `Patient/${patientId}` } },
        { request: { method: 'GET', url: `${server.url}/Condition?patient=${patientId}` } },
        {},
        { request: { method: 'GET', url: `${basePath}/Encounter?patient=${patientId}&_count=1` } },
        { request: { method: 'GET', url: `https://gateway.example/tenant-a/Coverage?patient=${patientId}` } },
        { request: { method: 'GET', url: 'https://gateway.example/tenant-a/nothing' } },
      ],
    };
    const response = (await client.batch({ body })) as Json;
    expect(response.type).toBe('batch-response');
    expect(response.entry.map((e: Json) => e.response.status)).toEqual([
      '200 OK',
      '404 Not Found',
      '400 Bad Request',
      '405 Method Not Allowed',
      '200 OK',
      '400 Bad Request',
      '200 OK',
      '200 OK',
      '404 Not Found',
    ]);
    expect(response.entry[7].resource.entry[0].resource.resourceType).toBe('Coverage');
    for (const i of [1, 2, 3, 5, 8]) {
      const entry = response.entry[i];
      const outcome = version === 'STU3' ? entry.response.outcome : entry.resource;
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].details.coding[0].code).toMatch(/^FW_MOCKEHR_/);
    }
  });
});
