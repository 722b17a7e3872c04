/**
 * The Patients app's minimum required fields and "great user experience" fields per resource and
 * version (seed: ../../../../shared/seeds/patients-app-emr-integration.md), as a checker that reports
 * which are present on a real resource. Never throws: garbage is reported as `ok: false`.
 */
import { OAUTH_URIS_EXTENSION_URL } from './capability.ts';
import { own, ownArray, ownString } from './references.ts';
import { type FhirVersion, parseFhirVersion } from './versions.ts';

export interface FieldCheck {
  /** Field path in the seed's terms (`name.family`, `type[0].coding[0].display`, `effective[x]`). */
  path: string;
  present: boolean;
}

/** Something the app may not read as intended, though the required field is there. */
export interface FieldWarning {
  path: string;
  /** Stable code (`FW_CONTRACT_MRN_UNTYPED`). */
  code: string;
  message: string;
}

export interface FieldReport {
  /** `resourceType` of the checked value ('' when it has none). */
  resourceType: string;
  required: FieldCheck[];
  optional: FieldCheck[];
  /** Fields that pass but may be misread (PHI-free: paths and codes only). */
  warnings: FieldWarning[];
  /** True when the resource type is in the version's contract and every required field is present. */
  ok: boolean;
}

/** Options of `checkResourceFields`. */
export interface FieldCheckOptions {
  /**
   * Identifier systems that name the MRN at this provider. An identifier with one of these systems
   * and a value counts as the MRN even without the v2-0203 `MR` type.
   */
  mrnSystems?: readonly string[];
}

/** A rule's verdict: a boolean, or present with a warning. */
type Verdict = boolean | { present: true; warning: Omit<FieldWarning, 'path'> };
type Test = (resource: unknown, options: FieldCheckOptions) => Verdict;
interface FieldRule {
  path: string;
  test: Test;
}
interface ResourceRules {
  required: readonly FieldRule[];
  optional: readonly FieldRule[];
}

/** A value the app can show: non-blank string, number, boolean, or a non-empty object/array of such. */
function isPresent(value: unknown): boolean {
  if (typeof value === 'string') return value.trim() !== '';
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value === 'boolean') return true;
  if (Array.isArray(value)) return value.some((v) => v !== null && v !== undefined && v !== '');
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return false;
}

type Step = string | number;

/** `type[0].coding[0].display` → ['type', 0, 'coding', 0, 'display']. */
function compile(path: string): Step[] {
  const steps: Step[] = [];
  for (const part of path.split('.')) {
    const bracket = part.indexOf('[');
    if (bracket === -1) {
      steps.push(part);
      continue;
    }
    steps.push(part.slice(0, bracket));
    steps.push(Number(part.slice(bracket + 1, part.indexOf(']'))));
  }
  return steps;
}

/** True when some value along the path is present; an array without an index means "any element". */
function anyAt(value: unknown, steps: readonly Step[], from: number): boolean {
  if (from === steps.length) return isPresent(value);
  if (Array.isArray(value)) {
    const step = steps[from]!;
    if (typeof step === 'number') return anyAt(value[step], steps, from + 1);
    // FHIR has no arrays of arrays: skipping them bounds the recursion by the path length.
    for (const item of value) if (!Array.isArray(item) && anyAt(item, steps, from)) return true;
    return false;
  }
  const step = steps[from]!;
  // A single value where the path indexes [0] (0..1 in one version, 0..* in the other) counts as the element.
  if (typeof step === 'number') return step === 0 && anyAt(value, steps, from + 1);
  return anyAt(own(value, step), steps, from + 1);
}

function at(path: string): FieldRule {
  const steps = compile(path);
  return { path, test: (r) => anyAt(r, steps, 0) };
}

function rule(path: string, test: Test): FieldRule {
  return { path, test };
}

function oneOf(path: string, alternatives: readonly string[]): FieldRule {
  const compiled = alternatives.map(compile);
  return { path, test: (r) => compiled.some((steps) => anyAt(r, steps, 0)) };
}

// --- Resource-specific tests --------------------------------------------------------------------

/**
 * MRN: an identifier with a value whose type has code `MR` (http://hl7.org/fhir/v2/0203), or whose
 * system is one of the configured MRN systems. An identifier with a value but neither passes with a
 * warning (the seed: "we understand this MRN is based on the type of identifier"): the app may show
 * another identifier as the MRN.
 */
const hasMrn: Test = (r, options) => {
  const withValue = ownArray(r, 'identifier').filter((id) => isPresent(own(id, 'value')));
  const systems = options.mrnSystems ?? [];
  const typed = withValue.some(
    (id) =>
      ownArray(own(id, 'type'), 'coding').some((c) => ownString(c, 'code') === 'MR') ||
      systems.includes(ownString(id, 'system') ?? ''),
  );
  if (typed) return true;
  if (withValue.length === 0) return false;
  return {
    present: true,
    warning: {
      code: 'FW_CONTRACT_MRN_UNTYPED',
      message: 'no identifier has the MR type or a configured MRN system; the app may not find the MRN',
    },
  };
};

const effective = oneOf('effective[x]', ['effectiveDateTime', 'effectivePeriod.start', 'effectivePeriod.end']);

/**
 * `valueQuantity.<field>` on the observation; a component observation (e.g. blood pressure) carries
 * its values on the components instead, checked by `eachComponent`.
 */
function quantity(field: 'value' | 'unit'): FieldRule {
  return rule(
    `valueQuantity.${field}`,
    (r) => isPresent(own(own(r, 'valueQuantity'), field)) || ownArray(r, 'component').length > 0,
  );
}

/**
 * The seed: "If using component observations, the same logic applies for each component
 * observation": every component has `<path>` (true when there are no components).
 */
function eachComponent(path: string): FieldRule {
  const steps = compile(path);
  return rule(`component.${path}`, (r) => ownArray(r, 'component').every((c) => anyAt(c, steps, 0)));
}

/** Medication.Display (if Reference) / Medication.Text (if CodeableConcept). */
const medication = rule('medicationReference.display | medicationCodeableConcept.text', (r) => {
  const ref = own(r, 'medicationReference');
  if (ref !== undefined) return isPresent(own(ref, 'display'));
  return isPresent(own(own(r, 'medicationCodeableConcept'), 'text'));
});

/** The OAuth URIs extension with a `token` / `authorize` URI on some rest.security. */
function oauthUri(name: 'token' | 'authorize'): FieldRule {
  return rule(`rest.security.extension(oauth-uris).${name}`, (r) =>
    ownArray(r, 'rest').some((rest) =>
      ownArray(own(rest, 'security'), 'extension').some(
        (ext) =>
          ownString(ext, 'url') === OAUTH_URIS_EXTENSION_URL &&
          ownArray(ext, 'extension').some((sub) => ownString(sub, 'url') === name && isPresent(own(sub, 'valueUri'))),
      ),
    ),
  );
}

function capabilityRules(version: FhirVersion): ResourceRules {
  return {
    required: [
      rule('fhirVersion', (r) => parseFhirVersion(ownString(r, 'fhirVersion')) === version),
      at('rest.mode'),
      at('rest.interaction.code'),
      at('rest.resource.type'),
      // Both sub-extensions are 1..1 in the extension's definition.
      oauthUri('token'),
      oauthUri('authorize'),
    ],
    optional: [
      at('status'),
      at('date'),
      at('kind'),
      at('format'),
      at('rest.resource.interaction.code'),
      at('rest.resource.searchParam.name'),
      at('rest.security.service.coding.code'),
    ],
  };
}

const PATIENT_REQUIRED = [
  at('name.family'),
  at('name.given'),
  at('gender'),
  at('birthDate'),
  rule('identifier(MR)', hasMrn),
];
const OBSERVATION: ResourceRules = {
  required: [
    effective,
    at('code.coding.code'),
    quantity('value'),
    eachComponent('code.coding.code'),
    eachComponent('valueQuantity.value'),
  ],
  optional: [at('code.coding.display'), quantity('unit'), eachComponent('valueQuantity.unit')],
};
const ENCOUNTER: ResourceRules = {
  required: [at('status'), at('type[0].coding[0].display')],
  optional: [at('period.start'), at('location[0].location.display')],
};
const LOCATION: ResourceRules = { required: [], optional: [at('name'), at('status')] };

/** Rules per version and resource type (precomputed; looked up in a Map, never on a plain object). */
const RULES: ReadonlyMap<FhirVersion, ReadonlyMap<string, ResourceRules>> = new Map<
  FhirVersion,
  ReadonlyMap<string, ResourceRules>
>([
  [
    'DSTU2',
    new Map<string, ResourceRules>([
      ['Conformance', capabilityRules('DSTU2')],
      [
        'Patient',
        {
          required: PATIENT_REQUIRED,
          optional: [at('name.use'), at('name.prefix'), at('careProvider.display')],
        },
      ],
      ['Observation', OBSERVATION],
      [
        'Condition',
        { required: [at('code.coding[0].display')], optional: [at('dateRecorded'), at('severity.coding.display')] },
      ],
      ['Encounter', ENCOUNTER],
      [
        'AllergyIntolerance',
        {
          // DSTU2 names the allergen `substance` (STU3 renamed it `code`).
          required: [at('substance.text'), at('substance.coding[0].display'), at('status')],
          optional: [
            at('recordedDate'),
            at('note.text'),
            at('reaction.substance.text'),
            at('reaction.manifestation.text'),
            at('text.div'),
          ],
        },
      ],
      [
        'MedicationOrder',
        {
          required: [at('dateWritten'), at('prescriber.display'), medication],
          optional: [at('dateEnded'), at('dosageInstruction.text'), at('text.div')],
        },
      ],
      // The seed asks for "Payor"; the DSTU2 element is `issuer` (STU3 renamed it `payor`): either counts.
      ['Coverage', { required: [oneOf('payor (issuer)', ['issuer', 'payor'])], optional: [] }],
      ['Location', LOCATION],
    ]),
  ],
  [
    'STU3',
    new Map<string, ResourceRules>([
      ['CapabilityStatement', capabilityRules('STU3')],
      [
        'Patient',
        {
          required: PATIENT_REQUIRED,
          optional: [at('name.use'), at('name.prefix'), at('generalPractitioner.display')],
        },
      ],
      ['Observation', OBSERVATION],
      [
        'Condition',
        { required: [at('code.coding[0].display')], optional: [at('assertedDate'), at('severity.coding.display')] },
      ],
      ['Encounter', ENCOUNTER],
      [
        'AllergyIntolerance',
        {
          // STU3 ait-1/ait-2: clinicalStatus is absent on an entered-in-error record.
          required: [
            at('code.text'),
            at('code.coding[0].display'),
            rule(
              'clinicalStatus',
              (r) => isPresent(own(r, 'clinicalStatus')) || ownString(r, 'verificationStatus') === 'entered-in-error',
            ),
            at('verificationStatus'),
          ],
          optional: [
            at('assertedDate'),
            at('note.text'),
            at('reaction.substance.coding.display'),
            at('reaction.manifestation.coding.display'),
          ],
        },
      ],
      [
        'MedicationRequest',
        {
          required: [medication, at('authoredOn'), at('requester.agent.display')],
          optional: [at('dosageInstruction.text'), at('text.div')],
        },
      ],
      [
        // Not in the seed's lists (it names MedicationStatement as MedicationOrder's replacement):
        // the medication is required, the rest is what the app can show.
        'MedicationStatement',
        {
          required: [medication],
          optional: [effective, at('dateAsserted'), at('dosage.text'), at('informationSource.display'), at('text.div')],
        },
      ],
      [
        'Coverage',
        {
          required: [at('grouping.groupDisplay'), at('grouping.planDisplay'), at('period'), at('subscriberId')],
          optional: [],
        },
      ],
      ['Location', LOCATION],
    ]),
  ],
]);

function run(
  rules: readonly FieldRule[],
  resource: unknown,
  options: FieldCheckOptions,
  warnings: FieldWarning[],
): FieldCheck[] {
  return rules.map((r) => {
    let verdict: Verdict = false;
    try {
      verdict = r.test(resource, options);
    } catch {
      verdict = false;
    }
    if (typeof verdict === 'boolean') return { path: r.path, present: verdict };
    warnings.push({ path: r.path, ...verdict.warning });
    return { path: r.path, present: true };
  });
}

/**
 * Report which of the Patients app's required and optional fields a resource carries, for its type
 * and FHIR version (Conformance for DSTU2, CapabilityStatement for STU3 included). A type outside the
 * version's contract, or anything that is not a resource, is `ok: false` with empty lists.
 */
export function checkResourceFields(
  resource: unknown,
  version: FhirVersion,
  options: FieldCheckOptions = {},
): FieldReport {
  let resourceType = '';
  try {
    resourceType = ownString(resource, 'resourceType') ?? '';
    const rules = RULES.get(version)?.get(resourceType);
    if (rules === undefined) return { resourceType, required: [], optional: [], warnings: [], ok: false };
    const warnings: FieldWarning[] = [];
    const required = run(rules.required, resource, options, warnings);
    const optional = run(rules.optional, resource, options, warnings);
    return { resourceType, required, optional, warnings, ok: required.every((c) => c.present) };
  } catch {
    return { resourceType, required: [], optional: [], warnings: [], ok: false };
  }
}

/** Field paths checked for a resource type and version (required and optional), or undefined. */
export function contractFields(
  version: FhirVersion,
  resourceType: string,
): { required: string[]; optional: string[] } | undefined {
  const rules = RULES.get(version)?.get(resourceType);
  if (rules === undefined) return undefined;
  return { required: rules.required.map((r) => r.path), optional: rules.optional.map((r) => r.path) };
}
