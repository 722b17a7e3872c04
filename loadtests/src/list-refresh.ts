/**
 * The Patients app's list refresh: one batch Bundle with 7 GET entries per patient (the patient, vitals,
 * conditions, last encounter, allergies, medications, coverage). The same shape the gateway and mock-ehr tests send.
 */
import type { FhirVersion } from '@fhirwatch/contract';

export function listRefreshBundle(version: FhirVersion, patientIds: readonly string[]): Record<string, unknown> {
  const entry: { request: { method: 'GET'; url: string } }[] = [];
  const get = (url: string): void => {
    entry.push({ request: { method: 'GET', url } });
  };
  for (const id of patientIds) {
    get(`Patient/${id}`);
    get(
      version === 'DSTU2'
        ? `Observation?patient=${id}&_sort:desc=date&_count=10`
        : `Observation?patient=${id}&category=vital-signs&_sort=-date&_count=10`,
    );
    get(`Condition?patient=${id}&_count=10`);
    get(
      version === 'DSTU2'
        ? `Encounter?patient=${id}&_sort:desc=date&_count=1`
        : `Encounter?patient=${id}&_sort=-date&_count=1`,
    );
    get(`AllergyIntolerance?patient=${id}`);
    get(version === 'DSTU2' ? `MedicationOrder?patient=${id}&_count=10` : `MedicationRequest?patient=${id}&_count=10`);
    get(`Coverage?patient=${id}`);
  }
  return { resourceType: 'Bundle', type: 'batch', entry };
}
