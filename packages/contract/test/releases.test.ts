import { describe, expect, it } from 'vitest';
import {
  capabilityStatement,
  FHIR_RELEASES,
  FHIR_VERSIONS,
  isFhirVersion,
  otherFhirVersions,
  parseFhirVersion,
  patientNameSearch,
  searchParameter,
} from '../src/index.ts';

describe('FHIR release profiles', () => {
  it('has one profile per version, naming itself', () => {
    expect(Object.keys(FHIR_RELEASES).sort()).toEqual([...FHIR_VERSIONS].sort());
    for (const v of FHIR_VERSIONS) expect(FHIR_RELEASES[v].version).toBe(v);
  });

  it('parses every alias and version number to its release, and nothing else', () => {
    for (const v of FHIR_VERSIONS) {
      const p = FHIR_RELEASES[v];
      for (const alias of p.aliases) expect(parseFhirVersion(alias.toLowerCase())).toBe(v);
      expect(parseFhirVersion(p.number)).toBe(v);
    }
    expect(parseFhirVersion('R4')).toBeUndefined();
    expect(parseFhirVersion('4.0.1')).toBeUndefined();
  });

  it('isFhirVersion refuses prototype names and other values', () => {
    for (const v of ['constructor', '__proto__', 'toString', 'stu3', '', 3, null]) expect(isFhirVersion(v)).toBe(false);
    for (const v of FHIR_VERSIONS) expect(isFhirVersion(v)).toBe(true);
  });

  it('otherFhirVersions lists every release but the given one', () => {
    for (const v of FHIR_VERSIONS) {
      expect(otherFhirVersions(v)).toEqual(FHIR_VERSIONS.filter((o) => o !== v));
    }
  });

  it('the capability statement is built from the profile', () => {
    for (const v of FHIR_VERSIONS) {
      const p = FHIR_RELEASES[v];
      const cs = capabilityStatement(v);
      expect(cs.resourceType).toBe(p.capabilityType);
      expect(cs.fhirVersion).toBe(p.number);
      expect(cs.format[0]).toBe(p.jsonMime);
      expect(cs.rest[0]?.interaction).toEqual([p.batchInteraction]);
    }
  });

  it('every name-search parameter of a profile is a contract Patient parameter with its modifier', () => {
    for (const v of FHIR_VERSIONS) {
      const search = FHIR_RELEASES[v].nameSearch;
      for (const sent of [search.app, ...Object.values(search.parts)]) {
        const [name, modifier] = sent.split(':');
        const def = searchParameter(v, 'Patient', name as string);
        expect(def, `${v} ${sent}`).toBeDefined();
        if (modifier !== undefined) expect(def?.modifiers).toContain(modifier);
      }
      expect(Object.keys(patientNameSearch(v, 'ab'))).toEqual([search.app, '_count']);
    }
  });
});
