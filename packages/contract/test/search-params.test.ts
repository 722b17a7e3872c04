import { describe, expect, it } from 'vitest';
import {
  capabilityStatement,
  FHIR_VERSION_NUMBER,
  FHIR_VERSIONS,
  formatSearchParams,
  isCanonicalQuery,
  OAUTH_URIS_EXTENSION_URL,
  PATIENTS_APP_RESOURCES,
  parseSearchParams,
  SEARCH_PARAMETERS,
  searchParameter,
  validateSearch,
} from '../src/index.ts';

describe('parseSearchParams', () => {
  it('splits name, modifier and form-decoded value, keeping order and repeats', () => {
    expect(parseSearchParams('?family:contains=O%27Br+ien&_count=10&date=ge2026-01-01&date=le2026-12-31&flag')).toEqual(
      [
        { name: 'family', modifier: 'contains', value: "O'Br ien" },
        { name: '_count', modifier: '', value: '10' },
        { name: 'date', modifier: '', value: 'ge2026-01-01' },
        { name: 'date', modifier: '', value: 'le2026-12-31' },
        { name: 'flag', modifier: '', value: '' },
      ],
    );
  });

  it('keeps a malformed escape as sent and skips empty names', () => {
    expect(parseSearchParams('a=%zz&&=x&:mod=y&b=%E0%A4%A')).toEqual([
      { name: 'a', modifier: '', value: '%zz' },
      { name: 'b', modifier: '', value: '%E0%A4%A' },
    ]);
  });

  it('accepts URLSearchParams and parsed records (arrays = repeats, non-strings ignored)', () => {
    const fromUrl = parseSearchParams(new URLSearchParams('given:contains=jo&_sort:desc=date'));
    expect(fromUrl).toEqual([
      { name: 'given', modifier: 'contains', value: 'jo' },
      { name: '_sort', modifier: 'desc', value: 'date' },
    ]);
    const record = JSON.parse('{"patient":["a","b"],"__proto__":"x","n":3}') as Record<string, string>;
    expect(parseSearchParams(record)).toEqual([
      { name: 'patient', modifier: '', value: 'a' },
      { name: 'patient', modifier: '', value: 'b' },
      { name: '__proto__', modifier: '', value: 'x' },
    ]);
  });

  it.each([
    ['patient=p1&category=vital-signs&_sort=-date', true],
    ['family:contains=smi&_count=10', true],
    ['subject=Patient/p1,Patient/p2&identifier=urn:oid:1.2|MRN-1', true],
    ['', true],
    ['given=Jo+dan', false],
    ['name=%C3%A9', false],
    ['flag', false],
    ['a=b=c', false],
    ['a=1&&b=2', false],
    ['family:=x', false],
    [':contains=x', false],
    ['name=élène', false],
  ])(
    'isCanonicalQuery(%j) is %s (conservative: true only when re-encoding gives the query back)',
    (query, canonical) => {
      expect(isCanonicalQuery(query)).toBe(canonical);
      if (canonical) expect(formatSearchParams(parseSearchParams(query))).toBe(query);
    },
  );

  it('round-trips through formatSearchParams', () => {
    const query = 'name:contains=%C3%A9l%C3%A8ne%20%26%20co&subject=Patient/1&identifier=urn:oid:1.2|MRN-1';
    const parsed = parseSearchParams(query);
    expect(parsed[0]!.value).toBe('élène & co');
    expect(formatSearchParams(parsed)).toBe(query);
    expect(parseSearchParams(formatSearchParams(parsed))).toEqual(parsed);
  });
});

describe.each(FHIR_VERSIONS)('search contract (%s)', (version) => {
  const dstu2 = version === 'DSTU2';

  it('has a parameter table for every contract resource', () => {
    expect(Object.keys(SEARCH_PARAMETERS[version]).sort()).toEqual([...PATIENTS_APP_RESOURCES[version]].sort());
  });

  it.each([
    ['Patient', 'family:contains=smi&given:contains=jo&name:contains=s&_count=10'],
    ['Patient', 'family=smi&given=jo&birthdate=1974-12-25&gender=male&identifier=MRN-100231&_id=p1&id=p1'],
    ['Observation', 'patient=p1&category=vital-signs&_sort=-date'],
    ['Observation', 'patient=p1&_sort:desc=date&_count=50'],
    ['Observation', 'subject=Patient/p1&date=ge2026-01-01&_format=json'],
    ['Condition', 'patient=p1&_count=10'],
    ['Encounter', 'patient=p1&_sort:desc=date&_count=1'],
    ['AllergyIntolerance', 'patient=p1'],
    [dstu2 ? 'MedicationOrder' : 'MedicationRequest', 'patient=p1&_count=10'],
    ['Coverage', 'patient=p1'],
    ['Coverage', 'subscriber=p1'],
    ['Location', '_id=loc-1'],
  ])('%s?%s is supported', (type, query) => {
    expect(validateSearch(version, type, parseSearchParams(query)).unsupported).toEqual([]);
  });

  it.each([
    ['Patient', 'family:exact=smi&name:missing=true', ['name:missing']],
    ['Patient', 'address=x', ['address']],
    ['Observation', 'patient=p1&_sort=-birthdate', ['_sort']],
    ['Observation', '_sort=_count', ['_sort']],
    ['Condition', 'code=123', ['code']],
    ['Patient', 'constructor=x&__proto__=y&toString=z', ['constructor', '__proto__', 'toString']],
  ])('%s?%s reports the unsupported %j', (type, query, names) => {
    const { unsupported } = validateSearch(version, type, parseSearchParams(query));
    expect(unsupported.map((p) => (p.modifier === '' ? p.name : `${p.name}:${p.modifier}`))).toEqual(names);
  });

  it('an unknown resource type supports nothing', () => {
    expect(validateSearch(version, 'Practitioner', parseSearchParams('_id=1')).unsupported).toHaveLength(1);
    expect(validateSearch(version, 'constructor', parseSearchParams('_id=1')).unsupported).toHaveLength(1);
  });

  it('MedicationOrder belongs to DSTU2 and MedicationRequest/Statement to STU3; beneficiary to STU3 Coverage', () => {
    expect(searchParameter(version, 'MedicationOrder', 'patient') !== undefined).toBe(dstu2);
    expect(searchParameter(version, 'MedicationRequest', 'patient') !== undefined).toBe(!dstu2);
    expect(searchParameter(version, 'MedicationStatement', 'patient') !== undefined).toBe(!dstu2);
    expect(searchParameter(version, 'Coverage', 'beneficiary') !== undefined).toBe(!dstu2);
  });

  it('describes every parameter with a type, modifiers and a description', () => {
    for (const defs of Object.values(SEARCH_PARAMETERS[version])) {
      for (const d of defs) {
        expect(d.description.length).toBeGreaterThan(5);
        expect(['string', 'token', 'date', 'reference', 'number', 'special']).toContain(d.type);
      }
    }
    expect(searchParameter(version, 'Patient', 'family')!.modifiers).toContain('contains');
    expect(searchParameter(version, 'Patient', 'birthdate')!.type).toBe('date');
    expect(searchParameter(version, 'Patient', 'identifier')!.type).toBe('token');
  });
});

describe.each(FHIR_VERSIONS)('capabilityStatement (%s)', (version) => {
  const dstu2 = version === 'DSTU2';

  it('declares the version, server mode, batch, and read + search-type with search parameters per resource', () => {
    const cs = capabilityStatement(version, {
      baseUrl: 'http://127.0.0.1:9/fhir',
      software: { name: 'mock-ehr', version: '1.2.3' },
    });
    expect(cs).toMatchObject({
      resourceType: dstu2 ? 'Conformance' : 'CapabilityStatement',
      fhirVersion: FHIR_VERSION_NUMBER[version],
      status: 'active',
      kind: 'instance',
      software: { name: 'mock-ehr', version: '1.2.3' },
      implementation: { url: 'http://127.0.0.1:9/fhir' },
    });
    expect(cs.format).toContain(dstu2 ? 'application/json+fhir' : 'application/fhir+json');
    expect(cs.date).toMatch(/^\d{4}-\d{2}-\d{2}/);
    const [rest] = cs.rest;
    expect(rest.mode).toBe('server');
    expect(rest.interaction.map((i) => i.code)).toEqual(dstu2 ? ['transaction'] : ['batch']);
    expect(rest.resource.map((r) => r.type)).toEqual([...PATIENTS_APP_RESOURCES[version]]);
    for (const r of rest.resource) {
      expect(r.interaction.map((i) => i.code)).toEqual(['read', 'search-type']);
      expect(r.searchParam.map((p) => p.name)).toContain('_id');
      expect(r.searchParam.map((p) => p.name)).not.toContain('_count');
    }
    const patient = rest.resource.find((r) => r.type === 'Patient')!;
    expect(patient.searchParam.map((p) => p.name)).toEqual(
      expect.arrayContaining(['family', 'given', 'name', 'birthdate', 'gender', 'identifier']),
    );
    const family = patient.searchParam.find((p) => p.name === 'family')!;
    expect(family.modifier).toEqual(dstu2 ? ['contains', 'exact'] : undefined);
  });

  it('carries the SMART service always and the OAuth URIs extension only with tokenUrl', () => {
    const plain = capabilityStatement(version);
    expect(plain.rest[0].security.extension).toBeUndefined();
    expect(plain.rest[0].security.service[0]!.coding[0]!.code).toBe('SMART-on-FHIR');
    const gw = capabilityStatement(version, { tokenUrl: 'https://gw/token', authorizeUrl: 'https://gw/authorize' });
    expect(gw.rest[0].security.extension).toEqual([
      {
        url: OAUTH_URIS_EXTENSION_URL,
        extension: [
          { url: 'token', valueUri: 'https://gw/token' },
          { url: 'authorize', valueUri: 'https://gw/authorize' },
        ],
      },
    ]);
  });

  it('is JSON-serialisable and deterministic', () => {
    expect(JSON.parse(JSON.stringify(capabilityStatement(version)))).toEqual(capabilityStatement(version));
  });
});
