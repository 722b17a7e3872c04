import { describe, expect, it } from 'vitest';
import {
  capabilityStatement,
  classifyRequest,
  FHIR_VERSIONS,
  LIST_REFRESH_ENTRIES_PER_PATIENT,
  listRefreshBundle,
  listRefreshUrls,
  parseSearchParams,
  patientNameSearch,
  stringMatch,
  validateSearch,
} from '../src/index.ts';

describe.each(FHIR_VERSIONS)('listRefreshBundle (%s)', (version) => {
  const bundle = listRefreshBundle(version, ['p1', 'p-2.x']);

  it('has 7 GET entries per patient, each a supported interaction of the contract', () => {
    expect(bundle.entry).toHaveLength(2 * LIST_REFRESH_ENTRIES_PER_PATIENT);
    for (const { request } of bundle.entry) {
      const [type, query = ''] = request.url.split('?') as [string, string?];
      if (query === '') continue;
      expect(validateSearch(version, type, parseSearchParams(query)).unsupported, request.url).toEqual([]);
    }
  });

  it('classifies as a batch of the 7 per-patient event types, naming each patient', () => {
    const classification = classifyRequest({
      method: 'POST',
      path: '/',
      body: JSON.stringify(bundle),
      fhirVersion: version,
    });
    expect(classification.kind).toBe('clinical');
    expect(classification.batch).toBe(true);
    expect(classification.interactions.map((i) => i.eventType).slice(0, 7)).toEqual([
      'PatientView',
      'VitalSignsView',
      'ConditionsView',
      'EncountersView',
      'AllergiesView',
      'MedicationsView',
      'CoverageView',
    ]);
    expect(classification.interactions.slice(7).every((i) => i.patientRefs.includes('p-2.x'))).toBe(true);
  });
});

describe('list refresh requests follow the seed per version', () => {
  const params = (url: string): string[] =>
    parseSearchParams(url.split('?')[1] ?? '').map((p) => (p.modifier === '' ? p.name : `${p.name}:${p.modifier}`));
  const byType = (version: 'DSTU2' | 'STU3'): Record<string, string[]> =>
    Object.fromEntries(listRefreshUrls(version, 'p1').map((url) => [url.split(/[/?]/)[0], params(url)]));

  it('DSTU2: Observation patient + _sort:desc=date, no _count; Encounter _sort:desc=date + _count', () => {
    const dstu2 = byType('DSTU2');
    expect(dstu2.Observation).toEqual(['patient', '_sort:desc']);
    expect(dstu2.Encounter).toEqual(['patient', '_sort:desc', '_count']);
    expect(dstu2.Condition).toEqual(['patient', '_count']);
    expect(dstu2.MedicationOrder).toEqual(['patient', '_count']);
    expect(dstu2.AllergyIntolerance).toEqual(['patient']);
    expect(dstu2.Coverage).toEqual(['patient']);
  });

  it('STU3: Observation category=vital-signs + _sort=-date, no _count; Encounter _sort:desc=date + _count', () => {
    const stu3 = byType('STU3');
    expect(stu3.Observation).toEqual(['patient', 'category', '_sort']);
    expect(listRefreshUrls('STU3', 'p1')[1]).toBe('Observation?patient=p1&category=vital-signs&_sort=-date');
    expect(stu3.Encounter).toEqual(['patient', '_sort:desc', '_count']);
    expect(listRefreshUrls('STU3', 'p1')[3]).toBe('Encounter?patient=p1&_sort:desc=date&_count=1');
    expect(stu3.MedicationRequest).toEqual(['patient', '_count']);
  });
});

describe('name search semantics per version (seed)', () => {
  it('STU3 family= and given= mean "contains"; DSTU2 plain and other parameters keep the FHIR prefix default', () => {
    expect(stringMatch('STU3', 'Patient', 'family', '')).toBe('contains');
    expect(stringMatch('STU3', 'Patient', 'given', '')).toBe('contains');
    expect(stringMatch('STU3', 'Patient', 'name', '')).toBe('prefix');
    expect(stringMatch('STU3', 'Patient', 'family', '', 'fhir')).toBe('prefix');
    expect(stringMatch('STU3', 'Patient', 'family', 'exact')).toBe('exact');
    expect(stringMatch('DSTU2', 'Patient', 'family', '')).toBe('prefix');
    expect(stringMatch('DSTU2', 'Patient', 'family', 'contains')).toBe('contains');
    expect(stringMatch('STU3', 'constructor', 'family', '')).toBe('prefix');
  });

  it('the STU3 CapabilityStatement documents family/given as contains; DSTU2 does not', () => {
    const doc = (version: 'DSTU2' | 'STU3', name: string): string =>
      capabilityStatement(version)
        .rest[0].resource.find((r) => r.type === 'Patient')!
        .searchParam.find((p) => p.name === name)!.documentation ?? '';
    expect(doc('STU3', 'family')).toMatch(/plain `family=` matches any part of the name/);
    expect(doc('STU3', 'given')).toMatch(/plain `given=` matches any part/);
    expect(doc('STU3', 'name')).not.toMatch(/plain/);
    expect(doc('DSTU2', 'family')).not.toMatch(/plain/);
  });

  it.each(FHIR_VERSIONS)('the app name search (%s) is a supported search of the contract', (version) => {
    const search = new URLSearchParams(patientNameSearch(version, 'ar')).toString();
    expect(validateSearch(version, 'Patient', parseSearchParams(search)).unsupported).toEqual([]);
  });
});
