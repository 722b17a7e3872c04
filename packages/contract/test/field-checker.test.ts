import { describe, expect, it } from 'vitest';
import {
  capabilityStatement,
  checkResourceFields,
  contractFields,
  FHIR_VERSIONS,
  type FhirVersion,
} from '../src/index.ts';
import { fixture, RESOURCE_FIXTURES } from './fixtures.ts';

type Json = Record<string, unknown>;

/** Delete a dotted path (`name.0.family`) from a parsed resource. */
function remove(resource: Json, path: string): Json {
  const steps = path.split('.');
  let node: unknown = resource;
  for (const step of steps.slice(0, -1)) node = (node as Json)[step];
  delete (node as Json)[steps.at(-1)!];
  return resource;
}

function missing(resource: unknown, version: FhirVersion): string[] {
  const report = checkResourceFields(resource, version);
  return report.required.filter((c) => !c.present).map((c) => c.path);
}

describe.each(FHIR_VERSIONS)('checkResourceFields (%s)', (version) => {
  it('every contract fixture has every required and optional field', () => {
    for (const names of Object.values(RESOURCE_FIXTURES[version])) {
      for (const name of names) {
        const report = checkResourceFields(fixture(version, name), version);
        expect(report.ok, name).toBe(true);
        expect(
          report.required.filter((c) => !c.present),
          name,
        ).toEqual([]);
        expect(
          report.optional.filter((c) => !c.present),
          name,
        ).toEqual([]);
        expect(report.resourceType).toBe(fixture(version, name).resourceType);
      }
    }
  });

  const dstu2 = version === 'DSTU2';
  const deficient: (readonly [fixtureName: string, removePath: string, expectedMissing: string])[] = [
    ['patient', 'name.0.family', 'name.family'],
    ['patient', 'name.0.given', 'name.given'],
    ['patient', 'gender', 'gender'],
    ['patient', 'birthDate', 'birthDate'],
    ['patient', 'identifier', 'identifier(MR)'],
    ['observation-heart-rate', 'effectiveDateTime', 'effective[x]'],
    ['observation-heart-rate', 'code.coding.0.code', 'code.coding.code'],
    ['observation-heart-rate', 'valueQuantity.value', 'valueQuantity.value'],
    ['observation-blood-pressure', 'component.1.valueQuantity.value', 'component.valueQuantity.value'],
    ['observation-blood-pressure', 'component.0.code', 'component.code.coding.code'],
    ['condition', 'code.coding.0.display', 'code.coding[0].display'],
    ['encounter', 'status', 'status'],
    ['encounter', 'type.0.coding.0.display', 'type[0].coding[0].display'],
    ...(dstu2
      ? ([
          ['allergy-intolerance', 'substance.text', 'substance.text'],
          ['allergy-intolerance', 'status', 'status'],
          ['medication-order', 'dateWritten', 'dateWritten'],
          ['medication-order', 'prescriber.display', 'prescriber.display'],
          [
            'medication-order',
            'medicationCodeableConcept.text',
            'medicationReference.display | medicationCodeableConcept.text',
          ],
          ['coverage', 'issuer', 'payor (issuer)'],
        ] as const)
      : ([
          ['allergy-intolerance', 'code.text', 'code.text'],
          ['allergy-intolerance', 'code.coding.0.display', 'code.coding[0].display'],
          ['allergy-intolerance', 'clinicalStatus', 'clinicalStatus'],
          ['allergy-intolerance', 'verificationStatus', 'verificationStatus'],
          ['medication-request', 'authoredOn', 'authoredOn'],
          ['medication-request', 'requester.agent.display', 'requester.agent.display'],
          [
            'medication-statement',
            'medicationReference.display',
            'medicationReference.display | medicationCodeableConcept.text',
          ],
          ['coverage', 'grouping.groupDisplay', 'grouping.groupDisplay'],
          ['coverage', 'grouping.planDisplay', 'grouping.planDisplay'],
          ['coverage', 'period', 'period'],
          ['coverage', 'subscriberId', 'subscriberId'],
        ] as const)),
  ];

  it.each(deficient)('%s without %s is missing %s', (name, path, expected) => {
    const resource = remove(fixture(version, name), path);
    const report = checkResourceFields(resource, version);
    expect(report.ok).toBe(false);
    expect(missing(resource, version)).toEqual([expected]);
  });

  it('reports the optional "great user experience" fields separately from the required ones', () => {
    const patient = fixture(version, 'patient');
    const gp = dstu2 ? 'careProvider' : 'generalPractitioner';
    delete patient[gp];
    delete (patient.name as Json[])[0]!.prefix;
    const report = checkResourceFields(patient, version);
    expect(report.ok).toBe(true);
    expect(report.optional.filter((c) => !c.present).map((c) => c.path)).toEqual(['name.prefix', `${gp}.display`]);
    const condition = fixture(version, 'condition');
    delete condition[dstu2 ? 'dateRecorded' : 'assertedDate'];
    expect(
      checkResourceFields(condition, version)
        .optional.filter((c) => !c.present)
        .map((c) => c.path),
    ).toEqual([dstu2 ? 'dateRecorded' : 'assertedDate']);
  });

  it('a blank string or an empty array does not count as present', () => {
    const patient = fixture(version, 'patient');
    patient.gender = '  ';
    patient.birthDate = [];
    expect(missing(patient, version)).toEqual(['gender', 'birthDate']);
  });

  it('the capability statement of the contract passes with tokenUrl and fails without the OAuth extension', () => {
    const withToken = checkResourceFields(
      capabilityStatement(version, {
        tokenUrl: 'https://gw.example.org/token',
        authorizeUrl: 'https://gw.example.org/authorize',
      }),
      version,
    );
    expect(withToken.resourceType).toBe(dstu2 ? 'Conformance' : 'CapabilityStatement');
    expect(withToken.ok).toBe(true);
    expect(withToken.optional.every((c) => c.present)).toBe(true);
    const withoutToken = capabilityStatement(version);
    expect(missing(withoutToken, version)).toEqual([
      'rest.security.extension(oauth-uris).token',
      'rest.security.extension(oauth-uris).authorize',
    ]);
    // Both sub-extensions are 1..1: a token URI alone is not enough.
    const tokenOnly = capabilityStatement(version, { tokenUrl: 'https://gw.example.org/token' });
    expect(missing(tokenOnly, version)).toEqual(['rest.security.extension(oauth-uris).authorize']);
    const otherVersion = capabilityStatement(version === 'DSTU2' ? 'STU3' : 'DSTU2', { tokenUrl: 'https://x/token' });
    // A statement of the other version is not this version's (resourceType or fhirVersion differ).
    expect(checkResourceFields(otherVersion, version).ok).toBe(false);
  });

  it('accepts the MRN by the MR type or a configured MRN system, and warns on a bare identifier', () => {
    const patient = fixture(version, 'patient');
    const identifiers = patient.identifier as Json[];
    const mrn = identifiers.find((id) =>
      ((id.type as Json | undefined)?.coding as Json[] | undefined)?.some((c) => c.code === 'MR'),
    ) as Json;
    expect(mrn).toBeDefined();
    expect(checkResourceFields(patient, version).warnings).toEqual([]);
    delete mrn.type;
    // Bare identifier: passes, with a PHI-free warning.
    const bare = checkResourceFields(patient, version);
    expect(bare.ok).toBe(true);
    expect(bare.warnings).toEqual([
      { path: 'identifier(MR)', code: 'FW_CONTRACT_MRN_UNTYPED', message: expect.any(String) },
    ]);
    expect(JSON.stringify(bare.warnings)).not.toContain(String(mrn.value));
    // The provider's MRN system, configured: no warning.
    const bySystem = checkResourceFields(patient, version, { mrnSystems: [String(mrn.system)] });
    expect(bySystem.ok).toBe(true);
    expect(bySystem.warnings).toEqual([]);
    // Another system configured: still only a warning. No identifier value at all: missing.
    expect(checkResourceFields(patient, version, { mrnSystems: ['urn:other'] }).warnings).toHaveLength(1);
    for (const id of identifiers) delete id.value;
    expect(missing(patient, version)).toEqual(['identifier(MR)']);
  });

  it('checks every component of a component observation (code and value)', () => {
    const bp = fixture(version, 'observation-blood-pressure');
    expect(checkResourceFields(bp, version).ok).toBe(true);
    const components = bp.component as Json[];
    expect(components.length).toBeGreaterThan(1);
    ((components[1]!.code as Json).coding as Json[])[0]!.code = ' ';
    expect(missing(bp, version)).toEqual(['component.code.coding.code']);
    const noUnit = fixture(version, 'observation-blood-pressure');
    delete ((noUnit.component as Json[])[0]!.valueQuantity as Json).unit;
    expect(
      checkResourceFields(noUnit, version)
        .optional.filter((c) => !c.present)
        .map((c) => c.path),
    ).toEqual(['component.valueQuantity.unit']);
  });

  it('types outside the version contract and garbage are ok: false, never a throw', () => {
    const other = dstu2 ? { resourceType: 'MedicationRequest' } : { resourceType: 'MedicationOrder' };
    for (const value of [
      other,
      { resourceType: 'Practitioner' },
      null,
      undefined,
      42,
      'Patient',
      [],
      { resourceType: 7 },
    ]) {
      const report = checkResourceFields(value, version);
      expect(report.ok).toBe(false);
      expect(report.required).toEqual([]);
    }
    // Wrong shapes inside a known type: every field reported, none present, no throw.
    const garbage = {
      resourceType: 'Patient',
      name: 'x',
      identifier: [[[[{ type: 1 }]]]],
      gender: {},
      birthDate: null,
    };
    expect(missing(garbage, version)).toEqual(contractFields(version, 'Patient')!.required);
  });
});

describe('STU3 AllergyIntolerance clinicalStatus', () => {
  it('is not required on an entered-in-error record (ait-1/ait-2), required otherwise', () => {
    const allergy = fixture('STU3', 'allergy-intolerance');
    delete allergy.clinicalStatus;
    expect(missing(allergy, 'STU3')).toEqual(['clinicalStatus']);
    allergy.verificationStatus = 'entered-in-error';
    expect(checkResourceFields(allergy, 'STU3').ok).toBe(true);
    allergy.verificationStatus = 'refuted';
    expect(missing(allergy, 'STU3')).toEqual(['clinicalStatus']);
  });
});
