/**
 * Property tests: random and malformed inputs never make the classifier, the disclosure functions,
 * the field checker or the search parser throw, and PHI-looking input never reaches a route or reason.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Classification,
  type ClassifiedInteraction,
  type ClassifierRequest,
  checkResourceFields,
  classifyRequest,
  disclosedPatients,
  disclosedPatientsInBatch,
  FHIR_VERSIONS,
  type FhirVersion,
  formatSearchParams,
  isCanonicalQuery,
  listViewPatients,
  parseSearchParams,
  validateSearch,
} from '../src/index.ts';
import { fixture } from './fixtures.ts';

const RUNS = { numRuns: 400 };
const MARK = 'PHIMARK';

const types = fc.constantFrom(
  'Patient',
  'Observation',
  'Condition',
  'Encounter',
  'Location',
  'AllergyIntolerance',
  'MedicationOrder',
  'MedicationRequest',
  'MedicationStatement',
  'Coverage',
  'Group',
  'Practitioner',
  'metadata',
  'token',
  '.well-known',
  '$export',
  '_search',
  '_history',
  '',
);
/** Ids that carry a marker, so a leak into a route or reason is detectable. */
const phiId = fc.string({ maxLength: 12 }).map((s) => MARK + encodeURIComponent(s));
const segment = fc.oneof(types, phiId, fc.string({ maxLength: 8 }));
const path = fc.oneof(
  fc.array(segment, { maxLength: 5 }).map((s) => '/' + s.join('/')),
  fc
    .tuple(fc.array(segment, { maxLength: 4 }), fc.string({ maxLength: 40 }))
    .map(([s, q]) => '/' + s.join('/') + '?' + q),
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 60 }),
);
const method = fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'get', 'post', ''), fc.string());
const entry = fc.oneof(
  fc.record({ request: fc.record({ method, url: path }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  fc.anything(),
);
const bundle = fc.record(
  {
    resourceType: fc.oneof(fc.constant('Bundle'), fc.anything()),
    type: fc.oneof(fc.constantFrom('batch', 'transaction', 'searchset', 'batch-response'), fc.anything()),
    entry: fc.oneof(fc.array(entry, { maxLength: 8 }), fc.anything()),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  bundle,
  bundle.map((b) => JSON.stringify(b)),
  fc.string(),
  fc.uint8Array({ maxLength: 200 }),
  fc.jsonValue(),
  fc.anything(),
);
const headers = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(fc.string(), fc.array(fc.string()), fc.anything())),
  fc.constant({ 'x-fhirwatch-export': 'true' }),
  fc.anything(),
);
const query = fc.oneof(
  fc.string(),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string(), fc.array(fc.string()), fc.anything())),
  fc.anything(),
);
const request = fc.record(
  {
    method: fc.oneof(method, fc.anything()),
    path: fc.oneof(path, fc.anything()),
    query,
    headers,
    body,
    fhirVersion: fc.oneof(fc.constantFrom('DSTU2', 'STU3'), fc.anything()),
  },
  { requiredKeys: [] },
);

/** A response-like value: searchset / batch-response Bundles of FHIR-ish resources, or anything. */
const resource = fc.oneof(
  fc.record(
    {
      resourceType: fc.oneof(types, fc.constantFrom('OperationOutcome', 'Bundle'), fc.anything()),
      id: fc.oneof(phiId, fc.anything()),
      patient: fc.oneof(
        fc.record({
          reference: fc.oneof(
            fc.string(),
            phiId.map((id) => `Patient/${id}`),
          ),
        }),
        fc.anything(),
      ),
      subject: fc.anything(),
      location: fc.array(fc.record({ location: fc.record({ reference: fc.string() }) }), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  ),
  fc.anything(),
);
const responseBody = fc.oneof(
  fc.record(
    {
      resourceType: fc.constantFrom('Bundle', 'Patient', 'OperationOutcome'),
      type: fc.constantFrom('searchset', 'batch-response'),
      entry: fc.array(
        fc.record(
          {
            resource: fc.oneof(
              resource,
              fc.record({ resourceType: fc.constant('Bundle'), entry: fc.array(fc.record({ resource })) }),
            ),
            search: fc.anything(),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 6 },
      ),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 100 }),
  fc.anything(),
);

/** Objects that throw on any access. */
function hostile(): unknown {
  return new Proxy(
    {},
    {
      get() {
        throw new Error('boom');
      },
      has() {
        throw new Error('boom');
      },
      ownKeys() {
        throw new Error('boom');
      },
      getOwnPropertyDescriptor() {
        throw new Error('boom');
      },
      getPrototypeOf() {
        throw new Error('boom');
      },
    },
  );
}

function deepArray(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function deepObject(depth: number): unknown {
  let v: unknown = { resourceType: 'Patient', id: 'x' };
  for (let i = 0; i < depth; i++) v = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: v, request: v }] };
  return v;
}

function checkClassification(result: Classification): void {
  expect(['clinical', 'not-audited', 'unknown']).toContain(result.kind);
  expect(typeof result.reason).toBe('string');
  expect(result.reason).not.toContain(MARK);
  expect(result.route ?? '').not.toContain(MARK);
  if (!result.batch) expect(result.interactions).toHaveLength(1);
  for (const i of result.interactions) {
    expect(i.route.startsWith('/')).toBe(true);
    expect(i.route).not.toContain(MARK);
    expect(i.resourceType).not.toContain(MARK);
    expect(Array.isArray(i.patientRefs)).toBe(true);
  }
}

describe('never throws on random and malformed input', () => {
  it('classifyRequest on random requests', () => {
    fc.assert(
      fc.property(request, (req) => {
        checkClassification(classifyRequest(req as ClassifierRequest));
      }),
      RUNS,
    );
  });

  it('classifyRequest on batches with random entries', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 10 }), fc.boolean(), (entries, asText) => {
        const b = { resourceType: 'Bundle', type: 'batch', entry: entries };
        const result = classifyRequest({ method: 'POST', path: '/', body: asText ? JSON.stringify(b) : b });
        checkClassification(result);
        expect(result.batch).toBe(true);
        expect(result.interactions.map((i) => i.entryIndex)).toEqual(entries.map((_, index) => index));
      }),
      RUNS,
    );
  });

  it('disclosedPatients, disclosedPatientsInBatch and listViewPatients on random responses', () => {
    const batch = classifyRequest({ method: 'POST', path: '/', body: fixture('STU3', 'batch-list-refresh') });
    fc.assert(
      fc.property(request, responseBody, fc.anything(), (req, res, junk) => {
        const c = classifyRequest(req as ClassifierRequest);
        for (const i of c.interactions) {
          const d = disclosedPatients(i, res);
          expect(Array.isArray(d.patientIds)).toBe(true);
          expect(d.resultCount).toBeGreaterThanOrEqual(0);
        }
        const all = disclosedPatientsInBatch(c, res);
        expect(all).toHaveLength(c.batch ? c.interactions.length : Math.min(1, c.interactions.length));
        listViewPatients(c, all);
        expect(disclosedPatientsInBatch(batch, res)).toHaveLength(35);
        disclosedPatients(junk as ClassifiedInteraction, res);
        disclosedPatientsInBatch(junk as Classification, res);
        listViewPatients(junk as Classification, junk as never);
      }),
      RUNS,
    );
  });

  it('checkResourceFields on random values and on mutated real resources', () => {
    const bases = ['patient', 'observation-blood-pressure', 'coverage', 'encounter', 'allergy-intolerance'];
    fc.assert(
      fc.property(
        fc.constantFrom(...FHIR_VERSIONS),
        fc.anything(),
        fc.constantFrom(...bases),
        fc.string({ maxLength: 20 }),
        (version: FhirVersion, value, base, key) => {
          expect(typeof checkResourceFields(value, version).ok).toBe('boolean');
          const resource = fixture(version, base);
          for (const k of Object.keys(resource)) if (k !== 'resourceType') resource[k] = value;
          resource[key] = value;
          expect(typeof checkResourceFields(resource, version).ok).toBe('boolean');
        },
      ),
      RUNS,
    );
  });

  it('parseSearchParams and validateSearch on random queries', () => {
    fc.assert(
      fc.property(
        fc.oneof(query, fc.string({ unit: 'binary' })),
        fc.constantFrom(...FHIR_VERSIONS),
        fc.string(),
        (q, v, t) => {
          const params = parseSearchParams(q as string);
          for (const p of params) {
            expect(typeof p.name).toBe('string');
            expect(typeof p.value).toBe('string');
          }
          validateSearch(v, t, params);
          validateSearch(v, 'Patient', params);
        },
      ),
      RUNS,
    );
  });

  it('isCanonicalQuery(q) implies that re-encoding the parsed query gives q back', () => {
    const safe = fc.string({ unit: fc.constantFrom(...'aZ09-_.~:/,|%+=&? é'.split('')), maxLength: 12 });
    const query = fc.oneof(
      fc.array(fc.tuple(safe, safe), { maxLength: 5 }).map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('&')),
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    let canonical = 0;
    fc.assert(
      fc.property(query, (q) => {
        if (!isCanonicalQuery(q)) return;
        canonical++;
        expect(formatSearchParams(parseSearchParams(q))).toBe(q);
      }),
      { numRuns: 2_000 },
    );
    expect(canonical).toBeGreaterThan(50);
  });

  it('survives hostile objects, deep nesting, huge strings and prototype-pollution keys', () => {
    const huge = 'a/'.repeat(1_000_000) + '?' + 'x=1&'.repeat(100_000);
    const deepText = '['.repeat(200_000) + ']'.repeat(200_000);
    const pollution =
      '{"resourceType":"Bundle","type":"batch","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"entry":[{"request":{"method":"GET","url":"Patient/1?__proto__[polluted]=1&constructor=x"}}]}';
    const inputs: unknown[] = [
      hostile(),
      { method: hostile(), path: hostile(), headers: hostile(), body: hostile(), query: hostile() },
      { method: 'POST', path: '/', body: hostile() },
      {
        method: 'POST',
        path: '/',
        body: { resourceType: 'Bundle', type: 'batch', entry: [hostile(), { request: hostile() }] },
      },
      { method: 'GET', path: huge },
      { method: 'GET', path: '/Patient', query: huge },
      { method: 'POST', path: '/Patient/_search', body: 'a=%'.repeat(100_000) },
      { method: 'POST', path: '/', body: deepText },
      { method: 'POST', path: '/', body: deepArray(100_000) },
      { method: 'POST', path: '/', body: deepObject(10_000) },
      { method: 'POST', path: '/', body: pollution },
      { method: 'POST', path: '/', body: JSON.parse(pollution) },
      { method: 'GET', path: '/Patient?__proto__=1&constructor=2&prototype=3', query: JSON.parse('{"__proto__":"x"}') },
      { method: 'GET', path: '/constructor/__proto__' },
      { method: 'GET', path: '/Patient/%E0%A4%A' },
      { method: 'POST', path: '/', body: new Uint8Array([0xff, 0xfe, 0x00, 0x7b]) },
      { method: 'POST', path: '/', body: new ArrayBuffer(16) },
      null,
      undefined,
      42,
      'GET /Patient',
    ];
    for (const input of inputs) {
      const result = classifyRequest(input as ClassifierRequest);
      checkClassification(result);
      for (const i of result.interactions) {
        disclosedPatients(i, input);
        disclosedPatients(i, deepObject(10_000));
        disclosedPatients(i, deepText);
      }
      disclosedPatientsInBatch(result, input);
      disclosedPatientsInBatch(result, deepObject(10_000));
      listViewPatients(result, input as never);
      for (const v of FHIR_VERSIONS) {
        checkResourceFields(input, v);
        checkResourceFields({ resourceType: 'Patient', name: deepArray(100_000), identifier: deepArray(100_000) }, v);
      }
      parseSearchParams(input as string);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});
