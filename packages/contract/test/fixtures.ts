/** Loads the JSON fixtures under test/fixtures/{dstu2,stu3} (shaped like the HL7 examples of each version). */
import { readFileSync } from 'node:fs';
import type { FhirVersion } from '../src/index.ts';

const DIR = new URL('./fixtures/', import.meta.url);

/** Raw text of a fixture, e.g. `fixtureText('STU3', 'patient')`. */
export function fixtureText(version: FhirVersion, name: string): string {
  return readFileSync(new URL(`${version.toLowerCase()}/${name}.json`, DIR), 'utf8');
}

/** Parsed fixture (a fresh copy on every call, so tests may mutate it). */
export function fixture(version: FhirVersion, name: string): Record<string, unknown> {
  return JSON.parse(fixtureText(version, name)) as Record<string, unknown>;
}

/** Single-resource fixture per resource type and version. */
export const RESOURCE_FIXTURES: Record<FhirVersion, Record<string, string[]>> = {
  DSTU2: {
    Patient: ['patient'],
    Observation: ['observation-heart-rate', 'observation-blood-pressure'],
    Condition: ['condition'],
    Encounter: ['encounter'],
    Location: ['location'],
    AllergyIntolerance: ['allergy-intolerance'],
    MedicationOrder: ['medication-order'],
    Coverage: ['coverage'],
  },
  STU3: {
    Patient: ['patient'],
    Observation: ['observation-heart-rate', 'observation-blood-pressure'],
    Condition: ['condition'],
    Encounter: ['encounter'],
    Location: ['location'],
    AllergyIntolerance: ['allergy-intolerance'],
    MedicationRequest: ['medication-request'],
    MedicationStatement: ['medication-statement'],
    Coverage: ['coverage'],
  },
};

/** Wrap resources in a searchset Bundle, as a server answers a search. */
export function searchset(resources: unknown[]): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((resource) => ({ resource, search: { mode: 'match' } })),
  };
}
