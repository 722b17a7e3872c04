/**
 * The synthetic population: a pure function of (fhirVersion, patients, seed). Patients are generated
 * eagerly (patient searches scan them); each patient's clinical record is generated on demand from
 * its own PRNG stream, so it does not depend on which records were generated before.
 * Shapes follow https://www.hl7.org/fhir/DSTU2/ and https://www.hl7.org/fhir/STU3/ per resource.
 */
import { DEFAULT_FHIR_VERSION, FHIR_VERSIONS, type FhirVersion, isFhirVersion } from '@fhirwatch/contract';
import {
  ALLERGENS,
  CITIES,
  CONDITIONS,
  EMPLOYER_GROUPS,
  ENCOUNTER_TYPES,
  FAMILY,
  FEMALE_GIVEN,
  LOCATIONS,
  MALE_GIVEN,
  MANIFESTATIONS,
  MEDICATIONS,
  NEUTRAL_GIVEN,
  PAYORS,
  PRACTITIONERS,
  SEVERITIES,
  STREETS,
  VITALS,
} from './data.ts';
import { MOCK_EHR_ERROR, MockEhrError } from './errors.ts';
import { createRng, permute32, type Rng } from './prng.ts';
import type { FhirResource, PatientRecord, Population, PopulationOptions } from './types.ts';

/** "Now" of the synthetic world: fixed, so the data does not change with the wall clock. */
export const REFERENCE_TIME_MS = Date.UTC(2026, 5, 30, 12, 0, 0);
const REFERENCE_INSTANT = '2026-06-30T12:00:00Z';
const DAY_MS = 86_400_000;
const YEAR_MS = 365.25 * DAY_MS;

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const SNOMED = 'http://snomed.info/sct';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
/** MRN identifier type (v2 table 0203), as the Patients app reads it. */
export const MRN_TYPE_SYSTEM = 'http://hl7.org/fhir/v2/0203';
/** The mock hospital's MRN namespace. */
export const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.3.7418.1.1';

const STREAM_PATIENT = 1;
const STREAM_RECORD = 2;

const META = { versionId: '1', lastUpdated: REFERENCE_INSTANT } as const;

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
function isoDateTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
function escapeXhtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function narrative(text: string): { status: 'generated'; div: string } {
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${escapeXhtml(text)}</div>` };
}
function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
function concept(system: string, code: string, display: string): Record<string, unknown> {
  return { coding: [{ system, code, display }], text: display };
}

/** Logical id of patient `index`: 8 hex digits, distinct for distinct indexes (a bijection). */
export function patientIdFor(seed: number, index: number): string {
  return permute32(index, seed * 2654435761)
    .toString(16)
    .padStart(8, '0');
}

/** MRN of patient `index`: 8 digits, distinct for index < 10^8 (7,919 is coprime with 10). */
export function mrnFor(seed: number, index: number): string {
  const offset = (seed >>> 0) % 100_000_000;
  return String((index * 7919 + offset) % 100_000_000).padStart(8, '0');
}

interface Demographics {
  id: string;
  gender: 'male' | 'female' | 'other' | 'unknown';
  ageYears: number;
  birthMs: number;
  practitioner: number;
}

function practitionerDisplay(index: number): string {
  const p = PRACTITIONERS[index % PRACTITIONERS.length]!;
  return `${p.prefix} ${p.given} ${p.family}`;
}

function humanName(
  version: FhirVersion,
  use: string,
  family: string,
  given: string[],
  prefix: string[] | undefined,
): Record<string, unknown> {
  const name: Record<string, unknown> = { use, text: [...(prefix ?? []), ...given, family].join(' ') };
  name.family = RECORD_SHAPES[version].family(family);
  name.given = given;
  if (prefix !== undefined && prefix.length > 0) name.prefix = prefix;
  return name;
}

function generatePatient(
  version: FhirVersion,
  seed: number,
  index: number,
): { resource: FhirResource; demo: Demographics } {
  const rng = createRng(seed, STREAM_PATIENT, index);
  const id = patientIdFor(seed, index);
  const g = rng.next();
  const gender = g < 0.49 ? 'female' : g < 0.98 ? 'male' : g < 0.99 ? 'other' : 'unknown';
  const givenList = gender === 'female' ? FEMALE_GIVEN : gender === 'male' ? MALE_GIVEN : NEUTRAL_GIVEN;
  const given = [rng.pick(givenList)];
  if (rng.chance(0.35)) given.push(rng.pick(givenList));
  const family = rng.pick(FAMILY);
  const ageYears = rng.chance(0.1) ? rng.int(0, 17) : rng.int(18, 96);
  const birthMs = REFERENCE_TIME_MS - ageYears * YEAR_MS - rng.int(0, 364) * DAY_MS;
  let prefix: string[] | undefined;
  if (ageYears >= 18) {
    if (rng.chance(0.04)) prefix = ['Dr.'];
    else if (gender === 'male') prefix = ['Mr.'];
    else if (gender === 'female') prefix = [rng.chance(0.55) ? 'Mrs.' : 'Ms.'];
  }
  const names = [humanName(version, 'official', family, given, prefix)];
  if (prefix?.[0] === 'Mrs.' && rng.chance(0.5))
    names.push(humanName(version, 'maiden', rng.pick(FAMILY), given, undefined));
  const practitioner = rng.int(0, PRACTITIONERS.length - 1);
  const city = rng.pick(CITIES);
  const careRef = [{ reference: `Practitioner/prac-${practitioner + 1}`, display: practitionerDisplay(practitioner) }];
  const resource: FhirResource = {
    resourceType: 'Patient',
    id,
    meta: META,
    identifier: [
      {
        use: 'usual',
        type: { coding: [{ system: MRN_TYPE_SYSTEM, code: 'MR', display: 'Medical record number' }], text: 'MRN' },
        system: MRN_SYSTEM,
        value: mrnFor(seed, index),
      },
    ],
    active: true,
    name: names,
    telecom: [{ system: 'phone', value: `555-01${String(rng.int(0, 99)).padStart(2, '0')}`, use: 'home' }],
    gender,
    birthDate: isoDate(birthMs),
    address: [
      {
        use: 'home',
        line: [`${rng.int(1, 9899)} ${rng.pick(STREETS)}`],
        city: city.city,
        state: city.state,
        postalCode: city.postalCode,
        country: 'US',
      },
    ],
    [RECORD_SHAPES[version].careKey]: careRef,
  };
  return { resource, demo: { id, gender, ageYears, birthMs, practitioner } };
}

function generatePractitioners(version: FhirVersion): FhirResource[] {
  return PRACTITIONERS.map((p, i) => {
    const name = humanName(version, 'official', p.family, [p.given], [p.prefix]);
    return {
      resourceType: 'Practitioner',
      id: `prac-${i + 1}`,
      meta: META,
      active: true,
      name: RECORD_SHAPES[version].practitionerName(name),
    };
  });
}

function generateLocations(): FhirResource[] {
  return LOCATIONS.map((l, i) => ({
    resourceType: 'Location',
    id: `loc-${i + 1}`,
    meta: META,
    status: 'active',
    name: l.name,
    mode: 'instance',
    type: concept('http://hl7.org/fhir/v3/RoleCode', l.type, l.typeDisplay),
    physicalType: concept(
      'http://hl7.org/fhir/location-physical-type',
      l.physical,
      l.physical === 'wi' ? 'Wing' : 'Building',
    ),
    address: { line: ['1 Hospital Way'], city: 'Seattle', state: 'WA', postalCode: '98101', country: 'US' },
  }));
}

function generateOrganizations(): FhirResource[] {
  return PAYORS.map((p, i) => ({
    resourceType: 'Organization',
    id: `org-${i + 1}`,
    meta: META,
    active: true,
    type: [concept('http://hl7.org/fhir/organization-type', 'ins', 'Insurance Company')],
    name: p.name,
  }));
}

function locationRef(index: number): { reference: string; display: string } {
  return { reference: `Location/loc-${index + 1}`, display: LOCATIONS[index]!.name };
}

/** Adult-ish baseline body size, by age and gender. */
function bodySize(rng: Rng, demo: Demographics): { heightCm: number; weightKg: number } {
  const female = demo.gender === 'female';
  if (demo.ageYears < 18) {
    const heightCm = 50 + demo.ageYears * 6.2 + rng.normal() * 5;
    return { heightCm, weightKg: Math.max(3, 3.5 + demo.ageYears * 3.1 + rng.normal() * 3) };
  }
  const heightCm = (female ? 163 : 176) + rng.normal() * 7;
  const bmi = 26 + rng.normal() * 4.5;
  return { heightCm, weightKg: bmi * (heightCm / 100) ** 2 };
}

/** What one allergy looks like before the version's shape is applied. */
interface AllergyParts {
  id: string;
  text: { status: 'generated'; div: string };
  patientRef: { reference: string };
  substance: Record<string, unknown>;
  category: string;
  severe: boolean;
  recorded: string;
  noteText: string;
  reaction: Record<string, unknown>;
}

/** What one medication looks like before the version's shape is applied. */
interface MedicationParts {
  pid: string;
  k: number;
  text: { status: 'generated'; div: string };
  patientRef: { reference: string };
  prescriberRef: { reference: string; display: string };
  medication: Record<string, unknown>;
  dosage: string;
  stopped: boolean;
  written: string;
  ended: string;
}

/** What one coverage looks like before the version's shape is applied. */
interface CoverageParts {
  id: string;
  patientRef: { reference: string };
  payorRef: { reference: string; display: string };
  period: { start: string; end: string };
  subscriberId: string;
  groupId: string;
  group: string;
  planId: string;
  plan: string;
  k: number;
}

/**
 * How each release shapes the resources of a synthetic record (the only version-dependent part of
 * generation: the random draws are the same in every release, so a patient's data matches across them).
 */
interface RecordShape {
  /** Encounter and Condition name their patient `patient` (DSTU2) or `subject` (STU3). */
  readonly subjectKey: 'patient' | 'subject';
  /** HumanName.family: 0..* in DSTU2, 0..1 in STU3. */
  readonly family: (family: string) => string | string[];
  /** Patient's primary care reference: `careProvider` (DSTU2) or `generalPractitioner` (STU3). */
  readonly careKey: 'careProvider' | 'generalPractitioner';
  /** Practitioner.name: 0..1 in DSTU2, 0..* in STU3. */
  readonly practitionerName: (name: Record<string, unknown>) => unknown;
  readonly encounterClass: (type: (typeof ENCOUNTER_TYPES)[number]) => unknown;
  /** Observation.category: 0..1 in DSTU2, 0..* in STU3. */
  readonly observationCategory: (category: Record<string, unknown>) => unknown;
  readonly conditionCategory: () => unknown;
  /** The Condition element holding the recorded date. */
  readonly conditionRecordedKey: 'dateRecorded' | 'assertedDate';
  readonly allergy: (a: AllergyParts) => FhirResource;
  /** MedicationOrder (DSTU2) or MedicationRequest + MedicationStatement (STU3). */
  readonly medication: (m: MedicationParts, orders: FhirResource[], statements: FhirResource[]) => void;
  readonly coverage: (c: CoverageParts) => FhirResource;
}

const RECORD_SHAPES: Readonly<Record<FhirVersion, RecordShape>> = {
  DSTU2: {
    subjectKey: 'patient',
    family: (family) => [family],
    careKey: 'careProvider',
    practitionerName: (name) => name,
    encounterClass: (type) => type.classDstu2,
    observationCategory: (category) => category,
    conditionCategory: () => concept('http://hl7.org/fhir/condition-category', 'diagnosis', 'Diagnosis'),
    conditionRecordedKey: 'dateRecorded',
    allergy: (a) => ({
      resourceType: 'AllergyIntolerance',
      id: a.id,
      meta: META,
      text: a.text,
      recordedDate: a.recorded,
      patient: a.patientRef,
      substance: a.substance,
      status: 'confirmed',
      criticality: a.severe ? 'CRITH' : 'CRITL',
      type: 'allergy',
      category: a.category === 'environment' ? 'environment' : a.category,
      note: { text: a.noteText },
      reaction: [a.reaction],
    }),
    medication: (m, orders) => {
      const order: FhirResource = {
        resourceType: 'MedicationOrder',
        id: `${m.pid}-medrx-${m.k + 1}`,
        meta: META,
        text: m.text,
        dateWritten: m.written,
        status: m.stopped ? 'completed' : 'active',
        patient: m.patientRef,
        prescriber: m.prescriberRef,
        medicationCodeableConcept: m.medication,
        dosageInstruction: [{ text: m.dosage }],
      };
      if (m.stopped) order.dateEnded = m.ended;
      orders.push(order);
    },
    coverage: (c) => ({
      resourceType: 'Coverage',
      id: c.id,
      meta: META,
      // DSTU2 names the payor `issuer`; the Patients-app doc calls it "Payor".
      issuer: c.payorRef,
      period: c.period,
      type: { system: 'http://hl7.org/fhir/v3/ActCode', code: 'EHCPOL', display: 'extended healthcare' },
      subscriberId: { system: 'urn:oid:2.16.840.1.113883.3.7418.2', value: c.subscriberId },
      group: c.groupId,
      plan: c.plan,
      subscriber: c.patientRef,
      sequence: c.k + 1,
    }),
  },
  STU3: {
    subjectKey: 'subject',
    family: (family) => family,
    careKey: 'generalPractitioner',
    practitionerName: (name) => [name],
    encounterClass: (type) => ({
      system: 'http://hl7.org/fhir/v3/ActCode',
      code: type.classStu3,
      display: type.classDisplay,
    }),
    observationCategory: (category) => [category],
    conditionCategory: () => [
      concept('http://hl7.org/fhir/condition-category', 'problem-list-item', 'Problem List Item'),
    ],
    conditionRecordedKey: 'assertedDate',
    allergy: (a) => ({
      resourceType: 'AllergyIntolerance',
      id: a.id,
      meta: META,
      text: a.text,
      clinicalStatus: 'active',
      verificationStatus: 'confirmed',
      type: 'allergy',
      category: [a.category],
      criticality: a.severe ? 'high' : 'low',
      code: a.substance,
      patient: a.patientRef,
      assertedDate: a.recorded,
      note: [{ text: a.noteText }],
      reaction: [a.reaction],
    }),
    medication: (m, orders, statements) => {
      orders.push({
        resourceType: 'MedicationRequest',
        id: `${m.pid}-medrx-${m.k + 1}`,
        meta: META,
        text: m.text,
        status: m.stopped ? 'completed' : 'active',
        intent: 'order',
        medicationCodeableConcept: m.medication,
        subject: m.patientRef,
        authoredOn: m.written,
        requester: { agent: m.prescriberRef },
        dosageInstruction: [{ sequence: 1, text: m.dosage }],
      });
      statements.push({
        resourceType: 'MedicationStatement',
        id: `${m.pid}-medst-${m.k + 1}`,
        meta: META,
        text: m.text,
        basedOn: [{ reference: `MedicationRequest/${m.pid}-medrx-${m.k + 1}` }],
        status: m.stopped ? 'completed' : 'active',
        medicationCodeableConcept: m.medication,
        effectivePeriod: m.stopped ? { start: m.written, end: m.ended } : { start: m.written },
        dateAsserted: m.written,
        informationSource: m.prescriberRef,
        subject: m.patientRef,
        taken: 'y',
        dosage: [{ sequence: 1, text: m.dosage }],
      });
    },
    coverage: (c) => ({
      resourceType: 'Coverage',
      id: c.id,
      meta: META,
      status: 'active',
      type: concept('http://hl7.org/fhir/v3/ActCode', 'EHCPOL', 'extended healthcare'),
      subscriber: c.patientRef,
      subscriberId: c.subscriberId,
      beneficiary: c.patientRef,
      relationship: concept('http://hl7.org/fhir/policyholder-relationship', 'self', 'Self'),
      period: c.period,
      payor: [c.payorRef],
      grouping: { group: c.groupId, groupDisplay: c.group, plan: c.planId, planDisplay: c.plan },
      order: c.k + 1,
    }),
  },
};

/** What every step of a record's generation shares: one PRNG stream, drawn from in step order. */
interface RecordContext {
  readonly rng: Rng;
  readonly shape: RecordShape;
  readonly demo: Demographics;
  readonly pid: string;
  readonly patientRef: { reference: string };
  /** Start of the patient's recorded life (at most three years back). */
  readonly lifeStart: number;
}

function generateRecord(version: FhirVersion, seed: number, index: number, demo: Demographics): PatientRecord {
  const pid = demo.id;
  const ctx: RecordContext = {
    rng: createRng(seed, STREAM_RECORD, index),
    shape: RECORD_SHAPES[version],
    demo,
    pid,
    patientRef: { reference: `Patient/${pid}` },
    lifeStart: Math.max(demo.birthMs, REFERENCE_TIME_MS - 3 * YEAR_MS),
  };
  // The steps draw from one stream: their order is part of the data.
  const encounters = generateEncounters(ctx);
  const observations = generateVitalSigns(ctx);
  const conditions = generateConditions(ctx);
  const allergies = generateAllergies(ctx);
  const { medicationOrders, medicationStatements } = generateMedications(ctx);
  const coverage = generateCoverage(ctx);
  return { observations, conditions, encounters, allergies, medicationOrders, medicationStatements, coverage };
}

/** Encounters (oldest first); a third of patients are currently admitted. */
function generateEncounters({ rng, shape, demo, pid, patientRef, lifeStart }: RecordContext): FhirResource[] {
  const encounters: FhirResource[] = [];
  const encounterCount = rng.int(1, 4);
  const admitted = rng.chance(0.33);
  let t = Math.max(lifeStart, REFERENCE_TIME_MS - 2 * YEAR_MS);
  for (let k = 0; k < encounterCount; k++) {
    const last = k === encounterCount - 1;
    const start =
      last && admitted
        ? REFERENCE_TIME_MS - rng.int(1, 96) * 3_600_000
        : t + rng.int(20, 170) * DAY_MS + rng.int(6, 20) * 3_600_000 + rng.int(0, 59) * 60_000;
    t = Math.min(start, REFERENCE_TIME_MS - DAY_MS);
    const type = last && admitted ? ENCOUNTER_TYPES[rng.int(0, 1)]! : rng.pick(ENCOUNTER_TYPES);
    const inpatient = type.classStu3 !== 'AMB';
    const child = demo.ageYears < 18;
    const loc = inpatient ? rng.pick(child ? [2, 4] : [0, 1, 2, 3, 7, 8, 9]) : rng.pick([5, 6]);
    const inProgress = last && admitted;
    const startMs = Math.min(start, REFERENCE_TIME_MS - 3_600_000);
    const endMs = startMs + (inpatient ? rng.int(1, 9) * DAY_MS : rng.int(1, 3) * 1_800_000);
    const period: Record<string, string> = { start: isoDateTime(startMs) };
    if (!inProgress) period.end = isoDateTime(Math.min(endMs, REFERENCE_TIME_MS - 60_000));
    const encounter: FhirResource = {
      resourceType: 'Encounter',
      id: `${pid}-enc-${k + 1}`,
      meta: META,
      status: inProgress ? 'in-progress' : 'finished',
      class: shape.encounterClass(type),
      type: [concept(SNOMED, type.code, type.display)],
      [shape.subjectKey]: patientRef,
      participant: [
        {
          individual: {
            reference: `Practitioner/prac-${demo.practitioner + 1}`,
            display: practitionerDisplay(demo.practitioner),
          },
        },
      ],
      period,
      location: [{ location: locationRef(loc), status: inProgress ? 'active' : 'completed' }],
    };
    encounters.push(encounter);
  }
  return encounters;
}

/** Vital signs: one set of 7 observations per visit, over the last two years. */
function generateVitalSigns({ rng, shape, demo, pid, patientRef, lifeStart }: RecordContext): FhirResource[] {
  const observations: FhirResource[] = [];
  const category = {
    coding: [{ system: 'http://hl7.org/fhir/observation-category', code: 'vital-signs', display: 'Vital Signs' }],
    text: 'Vital Signs',
  };
  const size = bodySize(rng, demo);
  const visits = rng.int(3, 8);
  let obsN = 0;
  const quantity = (v: (typeof VITALS)[keyof typeof VITALS], value: number) => ({
    value: round(value, v.decimals),
    unit: v.unitDisplay,
    system: UCUM,
    code: v.unit,
  });
  const observation = (v: (typeof VITALS)[keyof typeof VITALS], at: string, body: Record<string, unknown>) => {
    obsN++;
    const resource: FhirResource = {
      resourceType: 'Observation',
      id: `${pid}-obs-${obsN}`,
      meta: META,
      status: 'final',
      category: shape.observationCategory(category),
      code: concept(LOINC, v.code, v.display),
      subject: patientRef,
      effectiveDateTime: at,
      ...body,
    };
    observations.push(resource);
  };
  const visitTimes: number[] = [];
  for (let k = 0; k < visits; k++) {
    visitTimes.push(Math.max(lifeStart, REFERENCE_TIME_MS - rng.int(1, 730) * DAY_MS - rng.int(0, 86_399) * 1000));
  }
  visitTimes.sort((a, b) => a - b);
  for (const ms of visitTimes) {
    const at = isoDateTime(ms);
    const sick = rng.chance(0.2);
    observation(VITALS.heartRate, at, {
      valueQuantity: quantity(
        VITALS.heartRate,
        VITALS.heartRate.mean + rng.normal() * VITALS.heartRate.sd + (sick ? 18 : 0),
      ),
    });
    observation(VITALS.bloodPressure, at, {
      component: [
        {
          code: concept(LOINC, VITALS.systolic.code, VITALS.systolic.display),
          valueQuantity: quantity(VITALS.systolic, VITALS.systolic.mean + rng.normal() * VITALS.systolic.sd),
        },
        {
          code: concept(LOINC, VITALS.diastolic.code, VITALS.diastolic.display),
          valueQuantity: quantity(VITALS.diastolic, VITALS.diastolic.mean + rng.normal() * VITALS.diastolic.sd),
        },
      ],
    });
    observation(VITALS.bodyTemperature, at, {
      valueQuantity: quantity(
        VITALS.bodyTemperature,
        VITALS.bodyTemperature.mean + rng.normal() * VITALS.bodyTemperature.sd + (sick ? 1.4 : 0),
      ),
    });
    observation(VITALS.respiratoryRate, at, {
      valueQuantity: quantity(
        VITALS.respiratoryRate,
        VITALS.respiratoryRate.mean + rng.normal() * VITALS.respiratoryRate.sd + (sick ? 5 : 0),
      ),
    });
    observation(VITALS.oxygenSaturation, at, {
      valueQuantity: quantity(
        VITALS.oxygenSaturation,
        Math.min(100, VITALS.oxygenSaturation.mean + rng.normal() * VITALS.oxygenSaturation.sd - (sick ? 4 : 0)),
      ),
    });
    observation(VITALS.bodyWeight, at, {
      valueQuantity: quantity(VITALS.bodyWeight, size.weightKg + rng.normal() * 1.2),
    });
    observation(VITALS.bodyHeight, at, { valueQuantity: quantity(VITALS.bodyHeight, size.heightCm) });
  }
  return observations;
}

function generateConditions({ rng, shape, demo, pid, patientRef }: RecordContext): FhirResource[] {
  const conditions: FhirResource[] = [];
  const conditionCount = rng.int(1, 5);
  const conditionPool = [...CONDITIONS];
  for (let k = 0; k < conditionCount; k++) {
    const c = conditionPool.splice(rng.int(0, conditionPool.length - 1), 1)[0]!;
    const onsetMs = Math.max(demo.birthMs + DAY_MS, REFERENCE_TIME_MS - rng.int(30, 3650) * DAY_MS);
    const recordedMs = Math.min(REFERENCE_TIME_MS - DAY_MS, onsetMs + rng.int(0, 30) * DAY_MS);
    const resolved = rng.chance(0.2);
    const severity = rng.pick(SEVERITIES);
    const resource: FhirResource = {
      resourceType: 'Condition',
      id: `${pid}-cond-${k + 1}`,
      meta: META,
      [shape.subjectKey]: patientRef,
      code: concept(SNOMED, c.code, c.display),
      category: shape.conditionCategory(),
      clinicalStatus: resolved ? 'resolved' : 'active',
      verificationStatus: 'confirmed',
      severity: concept(SNOMED, severity.code, severity.display),
      onsetDateTime: isoDateTime(onsetMs),
    };
    if (resolved)
      resource.abatementDateTime = isoDateTime(Math.min(REFERENCE_TIME_MS - DAY_MS, recordedMs + 60 * DAY_MS));
    resource[shape.conditionRecordedKey] = isoDate(recordedMs);
    conditions.push(resource);
  }
  return conditions;
}

/** Allergies (some patients have none). */
function generateAllergies({ rng, shape, demo, pid, patientRef }: RecordContext): FhirResource[] {
  const allergies: FhirResource[] = [];
  const allergyCount = rng.chance(0.3) ? 0 : rng.int(1, 3);
  const allergenPool = [...ALLERGENS];
  for (let k = 0; k < allergyCount; k++) {
    const a = allergenPool.splice(rng.int(0, allergenPool.length - 1), 1)[0]!;
    const m = rng.pick(MANIFESTATIONS);
    const severity = m.code === '39579001' ? 'severe' : rng.pick(['mild', 'moderate'] as const);
    const recordedMs = Math.max(demo.birthMs + DAY_MS, REFERENCE_TIME_MS - rng.int(60, 4000) * DAY_MS);
    const substance = concept(a.system, a.code, a.display);
    allergies.push(
      shape.allergy({
        id: `${pid}-alg-${k + 1}`,
        text: narrative(`${a.display}: ${m.display} (${severity})`),
        patientRef,
        substance,
        category: a.category,
        severe: severity === 'severe',
        recorded: isoDateTime(recordedMs),
        noteText: `Reported by patient; reaction: ${m.display.toLowerCase()}.`,
        reaction: { substance, manifestation: [concept(SNOMED, m.code, m.display)], severity },
      }),
    );
  }
  return allergies;
}

/** Medications: MedicationOrder (DSTU2) or MedicationRequest + MedicationStatement (STU3). */
function generateMedications({ rng, shape, demo, pid, patientRef }: RecordContext): {
  medicationOrders: FhirResource[];
  medicationStatements: FhirResource[];
} {
  const medicationOrders: FhirResource[] = [];
  const medicationStatements: FhirResource[] = [];
  const medCount = rng.int(1, 5);
  const medPool = [...MEDICATIONS];
  for (let k = 0; k < medCount; k++) {
    const med = medPool.splice(rng.int(0, medPool.length - 1), 1)[0]!;
    const writtenMs = Math.max(demo.birthMs + DAY_MS, REFERENCE_TIME_MS - rng.int(1, 900) * DAY_MS);
    const stopped = rng.chance(0.25);
    const endedMs = Math.min(REFERENCE_TIME_MS - DAY_MS, writtenMs + rng.int(7, 120) * DAY_MS);
    const prescriber = rng.int(0, PRACTITIONERS.length - 1);
    shape.medication(
      {
        pid,
        k,
        text: narrative(`${med.display}: ${med.dosage}`),
        patientRef,
        prescriberRef: { reference: `Practitioner/prac-${prescriber + 1}`, display: practitionerDisplay(prescriber) },
        medication: concept(RXNORM, med.code, med.display),
        dosage: med.dosage,
        stopped,
        written: isoDateTime(writtenMs),
        ended: isoDateTime(endedMs),
      },
      medicationOrders,
      medicationStatements,
    );
  }
  return { medicationOrders, medicationStatements };
}

/** Coverage: one plan, a few patients with a secondary one. */
function generateCoverage({ rng, shape, pid, patientRef }: RecordContext): FhirResource[] {
  const coverage: FhirResource[] = [];
  const coverageCount = rng.chance(0.12) ? 2 : 1;
  for (let k = 0; k < coverageCount; k++) {
    const payorIndex = rng.int(0, PAYORS.length - 1);
    const payor = PAYORS[payorIndex]!;
    const plan = rng.pick(payor.plans);
    const group = rng.pick(EMPLOYER_GROUPS);
    const groupId = `GRP-${rng.int(10000, 99999)}`;
    const planId = `PLN-${rng.int(100, 999)}`;
    const startYear = 2024 + rng.int(0, 2);
    const subscriberId = `${String.fromCharCode(65 + rng.int(0, 25))}${String.fromCharCode(65 + rng.int(0, 25))}${rng.int(10_000_000, 99_999_999)}`;
    coverage.push(
      shape.coverage({
        id: `${pid}-cov-${k + 1}`,
        patientRef,
        payorRef: { reference: `Organization/org-${payorIndex + 1}`, display: payor.name },
        period: { start: `${startYear}-01-01`, end: `${startYear + 2}-12-31` },
        subscriberId,
        groupId,
        group,
        planId,
        plan,
        k,
      }),
    );
  }
  return coverage;
}

function resolveOptions(options: PopulationOptions): { fhirVersion: FhirVersion; patients: number; seed: number } {
  const fhirVersion = options.fhirVersion ?? DEFAULT_FHIR_VERSION;
  const patients = options.patients ?? 1000;
  const seed = options.seed ?? 42;
  if (!isFhirVersion(fhirVersion)) {
    throw new MockEhrError(MOCK_EHR_ERROR.options, `fhirVersion must be ${FHIR_VERSIONS.join(' or ')}`);
  }
  if (!Number.isInteger(patients) || patients < 0 || patients > 10_000_000) {
    throw new MockEhrError(MOCK_EHR_ERROR.options, 'patients must be an integer in [0, 10000000]');
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new MockEhrError(MOCK_EHR_ERROR.options, 'seed must be an integer in [0, 2^32)');
  }
  return { fhirVersion, patients, seed };
}

/** Deterministic population: the same options give byte-identical resources. */
export function generatePopulation(options: PopulationOptions = {}): Population {
  const { fhirVersion, patients: count, seed } = resolveOptions(options);
  const patients: FhirResource[] = new Array(count);
  const demos: Demographics[] = new Array(count);
  const byId = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const { resource, demo } = generatePatient(fhirVersion, seed, i);
    patients[i] = resource;
    demos[i] = demo;
    byId.set(demo.id, i);
  }
  return {
    fhirVersion,
    seed,
    patients,
    locations: generateLocations(),
    practitioners: generatePractitioners(fhirVersion),
    organizations: generateOrganizations(),
    indexOf: (patientId) => byId.get(patientId),
    record: (index) => {
      const demo = demos[index];
      if (demo === undefined) throw new RangeError('patient index out of range');
      return generateRecord(fhirVersion, seed, index, demo);
    },
  };
}
