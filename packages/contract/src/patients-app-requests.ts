/**
 * The requests the Teams Patients app sends, as data. The list refresh is one batch Bundle with 7 GET
 * entries per patient: the patient, vital signs, conditions, the last encounter (last known
 * location), allergies, medications and coverage (seed: "Integrating EHR systems with the Teams
 * Patients app", DSTU2 and STU3 interfaces). Used by the load generators, the demo and the tests.
 *
 * Each entry carries exactly the parameters the seed lists for that resource and version: no
 * `_count` on Observation (the seed lists `patient` and the sort only), `_sort:desc=date` on the
 * Encounter search of both versions (the STU3 section keeps the DSTU2 form there), `_sort=-date` +
 * `category=vital-signs` on the STU3 Observation search.
 */
import { FHIR_RELEASES, type FhirVersion } from './versions.ts';

export const LIST_REFRESH_ENTRIES_PER_PATIENT = 7;

export interface BatchBundle {
  resourceType: 'Bundle';
  type: 'batch';
  entry: { request: { method: 'GET'; url: string } }[];
}

/** The entry URLs of one patient's list refresh, in the app's order. */
export function listRefreshUrls(version: FhirVersion, patientId: string): string[] {
  return LIST_REFRESH_URLS[version](encodeURIComponent(patientId));
}

const LIST_REFRESH_URLS: Record<FhirVersion, (id: string) => string[]> = {
  DSTU2: (id) => [
    `Patient/${id}`,
    `Observation?patient=${id}&_sort:desc=date`,
    `Condition?patient=${id}&_count=10`,
    `Encounter?patient=${id}&_sort:desc=date&_count=1`,
    `AllergyIntolerance?patient=${id}`,
    `MedicationOrder?patient=${id}&_count=10`,
    `Coverage?patient=${id}`,
  ],
  STU3: (id) => [
    `Patient/${id}`,
    `Observation?patient=${id}&category=vital-signs&_sort=-date`,
    `Condition?patient=${id}&_count=10`,
    `Encounter?patient=${id}&_sort:desc=date&_count=1`,
    `AllergyIntolerance?patient=${id}`,
    `MedicationRequest?patient=${id}&_count=10`,
    `Coverage?patient=${id}`,
  ],
};

/**
 * The parameters of the app's name search for a typed fragment, per version (seed: DSTU2 sends
 * `name:contains`, STU3 `family=` whose plain form means "contains" there, see `stringMatch`).
 */
export function patientNameSearch(version: FhirVersion, fragment: string): Record<string, string> {
  return { [FHIR_RELEASES[version].nameSearch.app]: fragment, _count: '10' };
}

/** The list-refresh batch Bundle for these patients (7 entries each). */
export function listRefreshBundle(version: FhirVersion, patientIds: readonly string[]): BatchBundle {
  const entry: BatchBundle['entry'] = [];
  for (const id of patientIds) {
    for (const url of listRefreshUrls(version, id)) entry.push({ request: { method: 'GET', url } });
  }
  return { resourceType: 'Bundle', type: 'batch', entry };
}
