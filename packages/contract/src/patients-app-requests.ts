/**
 * The requests the Teams Patients app sends, as data. The list refresh is one batch Bundle with 7 GET
 * entries per patient: the patient, vital signs, conditions, the last encounter (last known
 * location), allergies, medications and coverage (seed: "Integrating EHR systems with the Teams
 * Patients app", DSTU2 and STU3 interfaces). Used by the load generators, the demo and the tests.
 */
import type { FhirVersion } from './versions.ts';

export const LIST_REFRESH_ENTRIES_PER_PATIENT = 7;

export interface BatchBundle {
  resourceType: 'Bundle';
  type: 'batch';
  entry: { request: { method: 'GET'; url: string } }[];
}

/** The entry URLs of one patient's list refresh, in the app's order. */
export function listRefreshUrls(version: FhirVersion, patientId: string): string[] {
  const id = encodeURIComponent(patientId);
  return version === 'DSTU2'
    ? [
        `Patient/${id}`,
        `Observation?patient=${id}&_sort:desc=date&_count=10`,
        `Condition?patient=${id}&_count=10`,
        `Encounter?patient=${id}&_sort:desc=date&_count=1`,
        `AllergyIntolerance?patient=${id}`,
        `MedicationOrder?patient=${id}&_count=10`,
        `Coverage?patient=${id}`,
      ]
    : [
        `Patient/${id}`,
        `Observation?patient=${id}&category=vital-signs&_sort=-date&_count=10`,
        `Condition?patient=${id}&_count=10`,
        `Encounter?patient=${id}&_sort=-date&_count=1`,
        `AllergyIntolerance?patient=${id}`,
        `MedicationRequest?patient=${id}&_count=10`,
        `Coverage?patient=${id}`,
      ];
}

/** The list-refresh batch Bundle for these patients (7 entries each). */
export function listRefreshBundle(version: FhirVersion, patientIds: readonly string[]): BatchBundle {
  const entry: BatchBundle['entry'] = [];
  for (const id of patientIds) {
    for (const url of listRefreshUrls(version, id)) entry.push({ request: { method: 'GET', url } });
  }
  return { resourceType: 'Bundle', type: 'batch', entry };
}
