import { describe, expect, it } from 'vitest';
import { patientOfResource, referenceId } from '../src/index.ts';

describe('referenceId', () => {
  it.each([
    ['Patient/123', true, '123'],
    ['Patient/123', false, '123'],
    ['/Patient/123/_history/2', false, '123'],
    ['https://ehr.example.org/fhir/Patient/p%201', false, 'p 1'],
    ['https://ehr.example.org/fhir/Patient/abc?x=1', false, 'abc'],
    ['123', true, '123'],
    ['123', false, undefined],
    ['Group/9', true, undefined],
    ['#contained-1', true, undefined],
    ['urn:uuid:0f3c1b6e-2f0a-4c1e-9a2b-4a8f1f0f3a11', true, undefined],
    ['Patient/', false, undefined],
    ['', true, undefined],
  ])('%s (bare id ok: %s) → %s', (reference, bare, expected) => {
    expect(referenceId(reference, 'Patient', bare)).toBe(expected);
  });
});

describe('patientOfResource', () => {
  it.each([
    [{ resourceType: 'Patient', id: 'p1' }, 'p1'],
    [{ resourceType: 'Observation', subject: { reference: 'Patient/p2' } }, 'p2'],
    [{ resourceType: 'Condition', patient: { reference: 'Patient/p3' } }, 'p3'],
    [
      { resourceType: 'Coverage', beneficiary: { reference: 'Patient/p4' }, subscriber: { reference: 'Patient/p5' } },
      'p4',
    ],
    [{ resourceType: 'Coverage', subscriber: { reference: 'Patient/p5' } }, 'p5'],
    [{ resourceType: 'Observation', subject: { reference: 'Group/g1' } }, undefined],
    [{ resourceType: 'OperationOutcome', id: 'x' }, undefined],
    [{ resourceType: 'Patient', id: '' }, undefined],
    [JSON.parse('{"resourceType":"Observation","__proto__":{"subject":{"reference":"Patient/evil"}}}'), undefined],
  ])('%j → %s', (resource, expected) => {
    expect(patientOfResource(resource)).toBe(expected);
  });
});
