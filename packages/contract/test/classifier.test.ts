import { describe, expect, it } from 'vitest';
import {
  AUDIT_EVENT_TYPES,
  type AuditEventType,
  type ClassifierRequest,
  classifyRequest,
  disclosedPatients,
  disclosedPatientsInBatch,
  FHIR_VERSIONS,
  type FhirVersion,
  listViewPatients,
  PATIENTS_APP_RESOURCES,
} from '../src/index.ts';
import { fixture, fixtureText, RESOURCE_FIXTURES, searchset } from './fixtures.ts';

const P1 = 'pat-1001';
const SEVEN = ['pat-1001', 'pat-1002', 'pat-1003', 'pat-1004', 'pat-1005', 'pat-1006', 'pat-1007'];

const SEARCH_EVENT: Record<string, AuditEventType> = {
  Patient: 'PatientSearch',
  Observation: 'VitalSignsView',
  Condition: 'ConditionsView',
  Encounter: 'EncountersView',
  Location: 'LocationView',
  AllergyIntolerance: 'AllergiesView',
  MedicationOrder: 'MedicationsView',
  MedicationRequest: 'MedicationsView',
  MedicationStatement: 'MedicationsView',
  Coverage: 'CoverageView',
};

interface Case {
  name: string;
  req: Omit<ClassifierRequest, 'fhirVersion'>;
  eventType: AuditEventType;
  interaction: string;
  resourceType: string;
  route: string;
  patientRefs: string[];
  query?: string;
  /** Response body and the patients it discloses. */
  response?: unknown;
  disclosed?: string[];
  resultCount?: number;
  total?: number;
}

function cases(version: FhirVersion): Case[] {
  const dstu2 = version === 'DSTU2';
  const med = dstu2 ? 'MedicationOrder' : 'MedicationRequest';
  const medFixture = dstu2 ? 'medication-order' : 'medication-request';
  const hr = fixture(version, 'observation-heart-rate');
  const bp = fixture(version, 'observation-blood-pressure');
  return [
    {
      name: 'PatientSearch: GET /Patient with name:contains and _count',
      req: { method: 'GET', path: '/Patient?name:contains=s&_count=10' },
      eventType: 'PatientSearch',
      interaction: 'search-type',
      resourceType: 'Patient',
      route: '/Patient',
      patientRefs: [],
      query: 'name:contains=s&_count=10',
      response: fixtureText(version, 'searchset-patients'),
      disclosed: SEVEN,
      resultCount: 7,
      total: 7,
    },
    {
      name: 'PatientSearch: POST /Patient/_search, form body as bytes',
      req: {
        method: 'POST',
        path: '/Patient/_search',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new TextEncoder().encode(
          dstu2
            ? 'family%3Acontains=Smi&given:contains=Jor+dan&birthdate=2001-09-21&_count=5'
            : 'family=Smi&given=Jor+dan&gender=other&birthdate=2001-09-21&_count=5',
        ),
      },
      eventType: 'PatientSearch',
      interaction: 'search-type',
      resourceType: 'Patient',
      route: '/Patient/_search',
      patientRefs: [],
      query: dstu2
        ? 'family:contains=Smi&given:contains=Jor%20dan&birthdate=2001-09-21&_count=5'
        : 'family=Smi&given=Jor%20dan&gender=other&birthdate=2001-09-21&_count=5',
      response: searchset(
        [fixture(version, 'searchset-patients').entry]
          .flat()
          .slice(6, 7)
          .map((e) => (e as { resource: unknown }).resource),
      ),
      disclosed: ['pat-1007'],
      resultCount: 1,
    },
    {
      name: 'PatientSearch: POST /Patient/_search by MRN and id, parsed form object; the _id is not a disclosure',
      req: { method: 'POST', path: '/Patient/_search', body: { identifier: 'MRN-100231', _id: 'pat-9999' } },
      eventType: 'PatientSearch',
      interaction: 'search-type',
      resourceType: 'Patient',
      route: '/Patient/_search',
      patientRefs: ['pat-9999'],
      query: 'identifier=MRN-100231&_id=pat-9999',
      response: searchset([]),
      disclosed: [],
      resultCount: 0,
    },
    {
      name: 'PatientView: GET /Patient/{id}',
      req: { method: 'GET', path: `/Patient/${P1}` },
      eventType: 'PatientView',
      interaction: 'read',
      resourceType: 'Patient',
      route: '/Patient/{id}',
      patientRefs: [P1],
      response: fixture(version, 'patient'),
      disclosed: [P1],
      resultCount: 1,
    },
    {
      name: 'PatientView: a failed read still names the patient',
      req: { method: 'GET', path: '/Patient/pat-404' },
      eventType: 'PatientView',
      interaction: 'read',
      resourceType: 'Patient',
      route: '/Patient/{id}',
      patientRefs: ['pat-404'],
      response: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] },
      disclosed: ['pat-404'],
      resultCount: 0,
    },
    {
      name: 'VitalSignsView: Observation search',
      req: {
        method: 'GET',
        path: dstu2
          ? `/Observation?patient=${P1}&_sort:desc=date`
          : `/Observation?patient=${P1}&category=vital-signs&_sort=-date`,
      },
      eventType: 'VitalSignsView',
      interaction: 'search-type',
      resourceType: 'Observation',
      route: '/Observation',
      patientRefs: [P1],
      query: dstu2 ? `patient=${P1}&_sort:desc=date` : `patient=${P1}&category=vital-signs&_sort=-date`,
      response: searchset([hr, bp]),
      disclosed: [P1],
      resultCount: 2,
    },
    {
      name: 'VitalSignsView: subject=Patient/{id} with the query in a separate record',
      req: { method: 'GET', path: '/Observation', query: { subject: `Patient/${P1}`, category: 'vital-signs' } },
      eventType: 'VitalSignsView',
      interaction: 'search-type',
      resourceType: 'Observation',
      route: '/Observation',
      patientRefs: [P1],
      query: `subject=Patient/${P1}&category=vital-signs`,
      response: searchset([]),
      disclosed: [P1],
      resultCount: 0,
    },
    {
      name: 'ConditionsView: Condition search',
      req: { method: 'GET', path: `/Condition?patient=${P1}&_count=10` },
      eventType: 'ConditionsView',
      interaction: 'search-type',
      resourceType: 'Condition',
      route: '/Condition',
      patientRefs: [P1],
      response: searchset([fixture(version, 'condition')]),
      disclosed: [P1],
      resultCount: 1,
    },
    {
      name: 'EncountersView: Encounter search',
      req: { method: 'GET', path: `/Encounter?patient=${P1}&_sort:desc=date&_count=1` },
      eventType: 'EncountersView',
      interaction: 'search-type',
      resourceType: 'Encounter',
      route: '/Encounter',
      patientRefs: [P1],
      response: searchset([fixture(version, 'encounter')]),
      disclosed: [P1],
      resultCount: 1,
    },
    {
      name: 'LocationView: a Location read alone discloses no patient',
      req: { method: 'GET', path: '/Location/loc-3w' },
      eventType: 'LocationView',
      interaction: 'read',
      resourceType: 'Location',
      route: '/Location/{id}',
      patientRefs: [],
      response: fixture(version, 'location'),
      disclosed: [],
      resultCount: 1,
    },
    {
      name: 'LocationView: Location search',
      req: { method: 'GET', path: '/Location?_id=loc-3w' },
      eventType: 'LocationView',
      interaction: 'search-type',
      resourceType: 'Location',
      route: '/Location',
      patientRefs: [],
      response: searchset([fixture(version, 'location')]),
      disclosed: [],
      resultCount: 1,
    },
    {
      name: 'AllergiesView: AllergyIntolerance search',
      req: { method: 'GET', path: `/AllergyIntolerance?patient=${P1}` },
      eventType: 'AllergiesView',
      interaction: 'search-type',
      resourceType: 'AllergyIntolerance',
      route: '/AllergyIntolerance',
      patientRefs: [P1],
      response: searchset([fixture(version, 'allergy-intolerance')]),
      disclosed: [P1],
      resultCount: 1,
    },
    {
      name: `MedicationsView: ${med} search`,
      req: { method: 'GET', path: `/${med}?patient=${P1}&_count=10` },
      eventType: 'MedicationsView',
      interaction: 'search-type',
      resourceType: med,
      route: `/${med}`,
      patientRefs: [P1],
      response: searchset([fixture(version, medFixture)]),
      disclosed: [P1],
      resultCount: 1,
    },
    ...(dstu2
      ? []
      : [
          {
            name: 'MedicationsView: MedicationStatement search',
            req: { method: 'GET', path: `/MedicationStatement?subject=Patient/${P1}` },
            eventType: 'MedicationsView' as const,
            interaction: 'search-type',
            resourceType: 'MedicationStatement',
            route: '/MedicationStatement',
            patientRefs: [P1],
            response: searchset([fixture(version, 'medication-statement')]),
            disclosed: [P1],
            resultCount: 1,
          },
          {
            name: 'CoverageView: Coverage search by beneficiary',
            req: { method: 'GET', path: `/Coverage?beneficiary=Patient%2F${P1}` },
            eventType: 'CoverageView' as const,
            interaction: 'search-type',
            resourceType: 'Coverage',
            route: '/Coverage',
            patientRefs: [P1],
            response: searchset([fixture(version, 'coverage')]),
            disclosed: [P1],
            resultCount: 1,
          },
        ]),
    {
      name: 'CoverageView: Coverage search by patient',
      req: { method: 'GET', path: `/Coverage?patient=${P1}` },
      eventType: 'CoverageView',
      interaction: 'search-type',
      resourceType: 'Coverage',
      route: '/Coverage',
      patientRefs: [P1],
      response: searchset([fixture(version, 'coverage')]),
      disclosed: [P1],
      resultCount: 1,
    },
    {
      name: 'CoverageView: Coverage search by subscriber',
      req: { method: 'GET', path: `/Coverage?subscriber=${P1}` },
      eventType: 'CoverageView',
      interaction: 'search-type',
      resourceType: 'Coverage',
      route: '/Coverage',
      patientRefs: [P1],
    },
    {
      name: 'ExportInitiation: GET [base]/$export → all patients',
      req: { method: 'GET', path: '/$export?_type=Patient,Observation', headers: { prefer: 'respond-async' } },
      eventType: 'ExportInitiation',
      interaction: 'operation',
      resourceType: '',
      route: '/$export',
      patientRefs: ['*'],
      query: '_type=Patient,Observation',
      response: '',
      disclosed: ['*'],
      resultCount: 0,
    },
    {
      name: 'ExportInitiation: GET /Patient/$export → all patients',
      req: { method: 'GET', path: '/Patient/$export' },
      eventType: 'ExportInitiation',
      interaction: 'operation',
      resourceType: 'Patient',
      route: '/Patient/$export',
      patientRefs: ['*'],
    },
    {
      name: 'ExportInitiation: GET /Group/{id}/$export → the group, no id in the route',
      req: { method: 'GET', path: '/Group/grp-icu-7/$export' },
      eventType: 'ExportInitiation',
      interaction: 'operation',
      resourceType: 'Group',
      route: '/Group/{id}/$export',
      patientRefs: [],
    },
    {
      name: 'ExportInitiation: a search marked by X-Fhirwatch-Export',
      req: { method: 'GET', path: `/Condition?patient=${P1}`, headers: { 'X-Fhirwatch-Export': 'true' } },
      eventType: 'ExportInitiation',
      interaction: 'search-type',
      resourceType: 'Condition',
      route: '/Condition',
      patientRefs: [P1],
      response: searchset([fixture(version, 'condition')]),
      disclosed: [P1],
      resultCount: 1,
    },
  ];
}

describe.each(FHIR_VERSIONS)('classifyRequest (%s)', (version) => {
  it.each(cases(version).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = classifyRequest({ ...c.req, fhirVersion: version });
    expect(result.kind).toBe('clinical');
    expect(result.batch).toBe(false);
    expect(result.reason).toBe('');
    expect(result.interactions).toHaveLength(1);
    const [i] = result.interactions;
    expect(i).toMatchObject({
      eventType: c.eventType,
      interaction: c.interaction,
      resourceType: c.resourceType,
      route: c.route,
      patientRefs: c.patientRefs,
      entryIndex: -1,
      isExport: c.eventType === 'ExportInitiation',
    });
    expect(result.route).toBe(c.route);
    if (c.query !== undefined) expect(i!.query).toBe(c.query);
    if (c.response !== undefined) {
      const d = disclosedPatients(i!, c.response);
      expect(d.patientIds).toEqual(c.disclosed);
      expect(d.resultCount).toBe(c.resultCount);
      if (c.total !== undefined) expect(d.total).toBe(c.total);
    }
  });

  it('classifies a direct read of every contract resource and discloses its patient', () => {
    for (const [type, names] of Object.entries(RESOURCE_FIXTURES[version])) {
      for (const name of names) {
        const resource = fixture(version, name);
        const result = classifyRequest({
          method: 'GET',
          path: `/${type}/${resource.id as string}`,
          fhirVersion: version,
        });
        const [i] = result.interactions;
        expect(i, type).toMatchObject({
          eventType: type === 'Patient' ? 'PatientView' : SEARCH_EVENT[type],
          interaction: 'read',
          resourceType: type,
          route: `/${type}/{id}`,
        });
        expect(i!.route).not.toContain(resource.id as string);
        const d = disclosedPatients(i!, resource);
        expect(d.patientIds, type).toEqual(type === 'Location' ? [] : [P1]);
        expect(d.resultCount).toBe(1);
      }
    }
    expect(Object.keys(RESOURCE_FIXTURES[version]).sort()).toEqual([...PATIENTS_APP_RESOURCES[version]].sort());
  });

  it('classifies a vread with a route template', () => {
    const [i] = classifyRequest({
      method: 'GET',
      path: `/Patient/${P1}/_history/3`,
      fhirVersion: version,
    }).interactions;
    expect(i).toMatchObject({ eventType: 'PatientView', route: '/Patient/{id}/_history/{vid}', patientRefs: [P1] });
  });

  it('classifies the list-refresh batch entry by entry, as if each were sent alone', () => {
    const bundle = fixture(version, 'batch-list-refresh');
    const result = classifyRequest({ method: 'POST', path: '/', body: fixtureText(version, 'batch-list-refresh') });
    expect(result).toMatchObject({ kind: 'clinical', batch: true, reason: '', route: '/' });
    const entries = bundle.entry as { request: { method: string; url: string } }[];
    expect(result.interactions).toHaveLength(35);
    entries.forEach((entry, index) => {
      const alone = classifyRequest({ method: entry.request.method, path: entry.request.url, fhirVersion: version });
      expect(result.interactions[index]).toEqual({ ...alone.interactions[0], entryIndex: index });
    });
    const events = result.interactions.slice(0, 7).map((i) => i.eventType);
    expect(events).toEqual([
      'PatientView',
      'VitalSignsView',
      'ConditionsView',
      'EncountersView',
      'AllergiesView',
      'MedicationsView',
      'CoverageView',
    ]);
  });

  it('discloses per entry of the batch-response and lists the patients for PatientListView', () => {
    const classification = classifyRequest({ method: 'POST', path: '/', body: fixture(version, 'batch-list-refresh') });
    const disclosures = disclosedPatientsInBatch(classification, fixtureText(version, 'batch-list-refresh-response'));
    expect(disclosures).toHaveLength(35);
    const five = SEVEN.slice(0, 5);
    for (let p = 0; p < 5; p++) {
      for (let k = 0; k < 7; k++) expect(disclosures[p * 7 + k]!.patientIds, `entry ${p * 7 + k}`).toEqual([five[p]]);
    }
    // Observation searchsets hold 3 vitals; patient 3 has no conditions; the last coverage entry failed (503).
    expect(disclosures[1]!.resultCount).toBe(3);
    // The Encounter searchsets report total 4 for one entry on the page (_count=1); a read has no total.
    expect(disclosures[3]).toMatchObject({ resultCount: 1, total: 4 });
    expect(disclosures[0]!.total).toBeUndefined();
    expect(disclosures[2 * 7 + 2]!.resultCount).toBe(0);
    expect(disclosures[4 * 7 + 6]!.resultCount).toBe(0);
    expect(disclosures[4 * 7 + 6]!.returnedPatientIds).toEqual([]);
    expect(listViewPatients(classification, disclosures)).toEqual(five);
  });

  it('attributes a Location entry to the patient of the encounter that referenced it in the same batch', () => {
    const classification = classifyRequest({ method: 'POST', path: '', body: fixtureText(version, 'batch-location') });
    expect(classification.interactions.map((i) => [i.eventType, i.route, i.locationRefs])).toEqual([
      ['EncountersView', '/Encounter', []],
      ['LocationView', '/Location/{id}', ['loc-3w']],
      ['LocationView', '/Location/{id}', ['loc-unrelated']],
    ]);
    const disclosures = disclosedPatientsInBatch(classification, fixture(version, 'batch-location-response'));
    expect(disclosures.map((d) => d.patientIds)).toEqual([['pat-1002'], ['pat-1002'], []]);
    expect(listViewPatients(classification, disclosures)).toEqual(['pat-1002']);
  });

  it('a garbage batch-response still yields one disclosure per entry, from the request alone', () => {
    const classification = classifyRequest({ method: 'POST', path: '/', body: fixture(version, 'batch-list-refresh') });
    for (const body of [undefined, '{not json', { resourceType: 'Bundle', entry: 'x' }, 42]) {
      const disclosures = disclosedPatientsInBatch(classification, body);
      expect(disclosures).toHaveLength(35);
      expect(disclosures[0]).toEqual({ patientIds: [P1], resultCount: 0, returnedPatientIds: [] });
    }
  });
});

describe('classifyRequest: version, traffic kinds and unknown traffic', () => {
  it('MedicationOrder is DSTU2 only, MedicationRequest/MedicationStatement STU3 only, both when the version is unknown', () => {
    const kind = (path: string, fhirVersion?: FhirVersion) =>
      classifyRequest({ method: 'GET', path, fhirVersion }).kind;
    expect(kind('/MedicationOrder?patient=1', 'DSTU2')).toBe('clinical');
    expect(kind('/MedicationOrder?patient=1', 'STU3')).toBe('unknown');
    expect(kind('/MedicationRequest?patient=1', 'DSTU2')).toBe('unknown');
    expect(kind('/MedicationStatement?patient=1', 'STU3')).toBe('clinical');
    expect(kind('/MedicationRequest?patient=1')).toBe('clinical');
    expect(kind('/MedicationOrder?patient=1')).toBe('clinical');
  });

  it.each([
    ['GET', '/metadata', '/metadata'],
    ['GET', '/metadata?_format=json', '/metadata'],
    ['POST', '/token', '/token'],
    ['GET', '/.well-known/smart-configuration', '/.well-known/smart-configuration'],
    ['GET', '/.well-known/some-secret-name', '/.well-known/{name}'],
  ])('%s %s is not audited', (method, path, route) => {
    const result = classifyRequest({ method, path, headers: { 'x-fhirwatch-export': 'true' } });
    expect(result).toMatchObject({ kind: 'not-audited', batch: false, reason: '', route });
    expect(result.interactions[0]!.eventType).toBeUndefined();
  });

  const PHI = 'pat-secret-123';
  it.each([
    ['PUT', `/Patient/${PHI}`, '/Patient/{id}'],
    ['DELETE', `/Observation/${PHI}`, '/Observation/{id}'],
    ['POST', '/Patient', '/Patient'],
    ['PATCH', `/Patient/${PHI}`, '/Patient/{id}'],
    ['GET', `/Practitioner/${PHI}`, '/{unknown}'],
    ['GET', `/Patient/${PHI}/$everything`, '/Patient/{id}/{rest}'],
    ['GET', `/Patient/${PHI}/Observation`, '/Patient/{id}/{rest}'],
    ['GET', '/Patient/_search', '/Patient/{id}'],
    ['GET', '/', '/'],
    ['OPTIONS', '/Patient', '/Patient'],
    ['BREW', `/${PHI}`, '/{unknown}'],
    ['DELETE', '/$export', '/{unknown}'],
    ['GET', `/Observation/$export`, '/Observation/{id}'],
  ])('%s %s is unknown with a PHI-free reason and route', (method, path, route) => {
    const result = classifyRequest({ method, path });
    expect(result.kind).toBe('unknown');
    expect(result.reason).not.toBe('');
    expect(result.reason).not.toContain(PHI);
    expect(result.route).toBe(route);
    expect(result.interactions[0]!.route).toBe(route);
    expect(result.interactions[0]!.eventType).toBeUndefined();
  });

  it.each([
    ['not JSON', '{"resourceType": "Bundle", '],
    [
      'a transaction',
      { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: 'Patient/1' } }] },
    ],
    ['not a Bundle', { resourceType: 'Patient', id: 'x' }],
    ['a batch of garbage entries', { resourceType: 'Bundle', type: 'batch', entry: [1, null, { request: 'x' }] }],
  ])('POST [base] with %s is unknown', (_name, body) => {
    const result = classifyRequest({ method: 'POST', path: '/', body });
    expect(result.kind).toBe('unknown');
    expect(result.reason).not.toBe('');
  });

  it('a batch with some unreadable entries keeps the readable ones and their indexes', () => {
    const body = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient/p1' } },
        { request: { url: 'Patient/p2' } },
        { request: { method: 'POST', url: '' }, resource: { resourceType: 'Bundle', type: 'batch' } },
        { request: { method: 'get', url: '/Coverage?patient=p3' } },
      ],
    };
    const result = classifyRequest({ method: 'POST', path: '/', body: JSON.stringify(body) });
    expect(result.kind).toBe('clinical');
    expect(result.interactions.map((i) => [i.entryIndex, i.eventType, i.interaction])).toEqual([
      [0, 'PatientView', 'read'],
      [1, undefined, 'unknown'],
      [2, undefined, 'unknown'],
      [3, 'CoverageView', 'search-type'],
    ]);
  });

  it('an export header on a batch marks every clinical entry as an export', () => {
    const result = classifyRequest({
      method: 'POST',
      path: '/',
      headers: { 'x-fhirwatch-export': ['true'] },
      body: fixture('STU3', 'batch-location'),
    });
    expect(result.interactions.map((i) => [i.eventType, i.isExport])).toEqual([
      ['ExportInitiation', true],
      ['ExportInitiation', true],
      ['ExportInitiation', true],
    ]);
  });

  it('merges the query of the path with a separate query and keeps repeats', () => {
    const [i] = classifyRequest({
      method: 'GET',
      path: '/Observation?patient=a&date=ge2026-01-01',
      query: 'date=le2026-12-31&patient=b',
    }).interactions;
    expect(i!.query).toBe('patient=a&date=ge2026-01-01&date=le2026-12-31&patient=b');
    expect(i!.patientRefs).toEqual(['a', 'b']);
  });

  it('takes patient ids from comma lists and absolute references, not from chained or typed-other parameters', () => {
    const refs = (query: string) =>
      classifyRequest({ method: 'GET', path: `/Observation?${query}` }).interactions[0]!.patientRefs;
    expect(refs('patient=a,b,a')).toEqual(['a', 'b']);
    expect(refs('subject=https%3A%2F%2Fehr.example.org%2Ffhir%2FPatient%2Fp7')).toEqual(['p7']);
    expect(refs('subject:Patient=p8')).toEqual(['p8']);
    expect(refs('subject=Group/g1')).toEqual([]);
    expect(refs('patient.identifier=MRN-1')).toEqual([]);
  });

  it('every one of the 11 event types is produced by some request', () => {
    const seen = new Set<string>();
    for (const version of FHIR_VERSIONS) for (const c of cases(version)) seen.add(c.eventType);
    const batch = classifyRequest({ method: 'POST', path: '/', body: fixture('DSTU2', 'batch-list-refresh') });
    // PatientListView is derived from a batch: its patients come from listViewPatients.
    if (
      batch.batch &&
      listViewPatients(batch, disclosedPatientsInBatch(batch, fixture('DSTU2', 'batch-list-refresh-response'))).length >
        0
    ) {
      seen.add('PatientListView');
    }
    expect([...seen].sort()).toEqual([...AUDIT_EVENT_TYPES].sort());
  });
});
