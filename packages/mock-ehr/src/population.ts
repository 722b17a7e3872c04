/**
 * The synthetic population: a pure function of (fhirVersion, patients, seed). Patients are generated
 * eagerly (patient searches scan them); each patient's clinical record is generated on demand from
 * its own PRNG stream, so it does not depend on which records were generated before.
 * Shapes follow https://www.hl7.org/fhir/DSTU2/ and https://www.hl7.org/fhir/STU3/ per resource.
 */
import type { FhirVersion } from '@fhirwatch/contract';
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
  name.family = version === 'DSTU2' ? [family] : family;
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
    [version === 'DSTU2' ? 'careProvider' : 'generalPractitioner']: careRef,
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
      // DSTU2 Practitioner.name is 0..1, STU3 0..*.
      name: version === 'DSTU2' ? name : [name],
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

function generateRecord(version: FhirVersion, seed: number, index: number, demo: Demographics): PatientRecord {
  const rng = createRng(seed, STREAM_RECORD, index);
  const pid = demo.id;
  const stu3 = version === 'STU3';
  const patientRef = { reference: `Patient/${pid}` };
  const subjectKey = stu3 ? 'subject' : 'patient';
  const lifeStart = Math.max(demo.birthMs, REFERENCE_TIME_MS - 3 * YEAR_MS);

  // Encounters (oldest first); a third of patients are currently admitted.
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
      class: stu3
        ? { system: 'http://hl7.org/fhir/v3/ActCode', code: type.classStu3, display: type.classDisplay }
        : type.classDstu2,
      type: [concept(SNOMED, type.code, type.display)],
      [subjectKey]: patientRef,
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

  // Vital signs: one set of 7 observations per visit, over the last two years.
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
      // DSTU2 Observation.category is 0..1, STU3 0..*.
      category: stu3 ? [category] : category,
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

  // Conditions.
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
      [subjectKey]: patientRef,
      code: concept(SNOMED, c.code, c.display),
      category: stu3
        ? [concept('http://hl7.org/fhir/condition-category', 'problem-list-item', 'Problem List Item')]
        : concept('http://hl7.org/fhir/condition-category', 'diagnosis', 'Diagnosis'),
      clinicalStatus: resolved ? 'resolved' : 'active',
      verificationStatus: 'confirmed',
      severity: concept(SNOMED, severity.code, severity.display),
      onsetDateTime: isoDateTime(onsetMs),
    };
    if (resolved)
      resource.abatementDateTime = isoDateTime(Math.min(REFERENCE_TIME_MS - DAY_MS, recordedMs + 60 * DAY_MS));
    if (stu3) resource.assertedDate = isoDate(recordedMs);
    else resource.dateRecorded = isoDate(recordedMs);
    conditions.push(resource);
  }

  // Allergies (some patients have none).
  const allergies: FhirResource[] = [];
  const allergyCount = rng.chance(0.3) ? 0 : rng.int(1, 3);
  const allergenPool = [...ALLERGENS];
  for (let k = 0; k < allergyCount; k++) {
    const a = allergenPool.splice(rng.int(0, allergenPool.length - 1), 1)[0]!;
    const m = rng.pick(MANIFESTATIONS);
    const severity = m.code === '39579001' ? 'severe' : rng.pick(['mild', 'moderate'] as const);
    const recordedMs = Math.max(demo.birthMs + DAY_MS, REFERENCE_TIME_MS - rng.int(60, 4000) * DAY_MS);
    const substance = concept(a.system, a.code, a.display);
    const noteText = `Reported by patient; reaction: ${m.display.toLowerCase()}.`;
    const reaction: Record<string, unknown> = {
      substance,
      manifestation: [concept(SNOMED, m.code, m.display)],
      severity,
    };
    const resource: FhirResource = stu3
      ? {
          resourceType: 'AllergyIntolerance',
          id: `${pid}-alg-${k + 1}`,
          meta: META,
          text: narrative(`${a.display}: ${m.display} (${severity})`),
          clinicalStatus: 'active',
          verificationStatus: 'confirmed',
          type: 'allergy',
          category: [a.category],
          criticality: severity === 'severe' ? 'high' : 'low',
          code: substance,
          patient: patientRef,
          assertedDate: isoDateTime(recordedMs),
          note: [{ text: noteText }],
          reaction: [reaction],
        }
      : {
          resourceType: 'AllergyIntolerance',
          id: `${pid}-alg-${k + 1}`,
          meta: META,
          text: narrative(`${a.display}: ${m.display} (${severity})`),
          recordedDate: isoDateTime(recordedMs),
          patient: patientRef,
          substance,
          status: 'confirmed',
          criticality: severity === 'severe' ? 'CRITH' : 'CRITL',
          type: 'allergy',
          category: a.category === 'environment' ? 'environment' : a.category,
          note: { text: noteText },
          reaction: [reaction],
        };
    allergies.push(resource);
  }

  // Medications: MedicationOrder (DSTU2) or MedicationRequest + MedicationStatement (STU3).
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
    const prescriberRef = {
      reference: `Practitioner/prac-${prescriber + 1}`,
      display: practitionerDisplay(prescriber),
    };
    const medication = concept(RXNORM, med.code, med.display);
    const text = narrative(`${med.display}: ${med.dosage}`);
    if (stu3) {
      medicationOrders.push({
        resourceType: 'MedicationRequest',
        id: `${pid}-medrx-${k + 1}`,
        meta: META,
        text,
        status: stopped ? 'completed' : 'active',
        intent: 'order',
        medicationCodeableConcept: medication,
        subject: patientRef,
        authoredOn: isoDateTime(writtenMs),
        requester: { agent: prescriberRef },
        dosageInstruction: [{ sequence: 1, text: med.dosage }],
      });
      const statement: FhirResource = {
        resourceType: 'MedicationStatement',
        id: `${pid}-medst-${k + 1}`,
        meta: META,
        text,
        basedOn: [{ reference: `MedicationRequest/${pid}-medrx-${k + 1}` }],
        status: stopped ? 'completed' : 'active',
        medicationCodeableConcept: medication,
        effectivePeriod: stopped
          ? { start: isoDateTime(writtenMs), end: isoDateTime(endedMs) }
          : { start: isoDateTime(writtenMs) },
        dateAsserted: isoDateTime(writtenMs),
        informationSource: prescriberRef,
        subject: patientRef,
        taken: 'y',
        dosage: [{ sequence: 1, text: med.dosage }],
      };
      medicationStatements.push(statement);
    } else {
      const order: FhirResource = {
        resourceType: 'MedicationOrder',
        id: `${pid}-medrx-${k + 1}`,
        meta: META,
        text,
        dateWritten: isoDateTime(writtenMs),
        status: stopped ? 'completed' : 'active',
        patient: patientRef,
        prescriber: prescriberRef,
        medicationCodeableConcept: medication,
        dosageInstruction: [{ text: med.dosage }],
      };
      if (stopped) order.dateEnded = isoDateTime(endedMs);
      medicationOrders.push(order);
    }
  }

  // Coverage: one plan, a few patients with a secondary one.
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
    const payorRef = { reference: `Organization/org-${payorIndex + 1}`, display: payor.name };
    const period = { start: `${startYear}-01-01`, end: `${startYear + 2}-12-31` };
    if (stu3) {
      coverage.push({
        resourceType: 'Coverage',
        id: `${pid}-cov-${k + 1}`,
        meta: META,
        status: 'active',
        type: concept('http://hl7.org/fhir/v3/ActCode', 'EHCPOL', 'extended healthcare'),
        subscriber: patientRef,
        subscriberId,
        beneficiary: patientRef,
        relationship: concept('http://hl7.org/fhir/policyholder-relationship', 'self', 'Self'),
        period,
        payor: [payorRef],
        grouping: { group: groupId, groupDisplay: group, plan: planId, planDisplay: plan },
        order: k + 1,
      });
    } else {
      coverage.push({
        resourceType: 'Coverage',
        id: `${pid}-cov-${k + 1}`,
        meta: META,
        // DSTU2 names the payor `issuer`; the Patients-app doc calls it "Payor".
        issuer: payorRef,
        period,
        type: { system: 'http://hl7.org/fhir/v3/ActCode', code: 'EHCPOL', display: 'extended healthcare' },
        subscriberId: { system: 'urn:oid:2.16.840.1.113883.3.7418.2', value: subscriberId },
        group: groupId,
        plan: plan,
        subscriber: patientRef,
        sequence: k + 1,
      });
    }
  }

  return { observations, conditions, encounters, allergies, medicationOrders, medicationStatements, coverage };
}

function resolveOptions(options: PopulationOptions): { fhirVersion: FhirVersion; patients: number; seed: number } {
  const fhirVersion = options.fhirVersion ?? 'STU3';
  const patients = options.patients ?? 1000;
  const seed = options.seed ?? 42;
  if (fhirVersion !== 'DSTU2' && fhirVersion !== 'STU3') {
    throw new MockEhrError(MOCK_EHR_ERROR.options, 500, 'exception', 'fhirVersion must be DSTU2 or STU3');
  }
  if (!Number.isInteger(patients) || patients < 0 || patients > 10_000_000) {
    throw new MockEhrError(MOCK_EHR_ERROR.options, 500, 'exception', 'patients must be an integer in [0, 10000000]');
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new MockEhrError(MOCK_EHR_ERROR.options, 500, 'exception', 'seed must be an integer in [0, 2^32)');
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
