/**
 * The FHIR resources the Patients app reads, per version.
 * Seed: ../../../../shared/seeds/patients-app-emr-integration.md (DSTU2 and STU3 interface specifications).
 */
import type { FhirVersion } from './versions.ts';

/** Resource types the Patients app reads (direct read `/{type}/{id}` and search), per FHIR version. */
export const PATIENTS_APP_RESOURCES: Readonly<Record<FhirVersion, readonly string[]>> = {
  DSTU2: [
    'Patient',
    'Observation',
    'Condition',
    'Encounter',
    'AllergyIntolerance',
    'Coverage',
    'MedicationOrder',
    'Location',
  ],
  STU3: [
    'Patient',
    'Observation',
    'Condition',
    'Encounter',
    'AllergyIntolerance',
    'Coverage',
    'MedicationRequest',
    'MedicationStatement',
    'Location',
  ],
};

/** True when `resourceType` is one the Patients app reads in `version`. */
export function isPatientsAppResource(version: FhirVersion, resourceType: string): boolean {
  return PATIENTS_APP_RESOURCES[version]?.includes(resourceType) === true;
}
