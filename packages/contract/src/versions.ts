/**
 * FHIR versions the Patients app speaks.
 * DSTU2: https://www.hl7.org/fhir/DSTU2/  STU3: https://www.hl7.org/fhir/STU3/
 */
export const FHIR_VERSIONS = ['DSTU2', 'STU3'] as const;
export type FhirVersion = (typeof FHIR_VERSIONS)[number];

/** The `fhirVersion` a Conformance / CapabilityStatement declares for each release. */
export const FHIR_VERSION_NUMBER: Readonly<Record<FhirVersion, string>> = { DSTU2: '1.0.2', STU3: '3.0.2' };

/** JSON mime type of each release (DSTU2 predates `application/fhir+json`). */
export const FHIR_JSON_MIME: Readonly<Record<FhirVersion, string>> = {
  DSTU2: 'application/json+fhir',
  STU3: 'application/fhir+json',
};

/** Parse a user-facing version name (`dstu2`, `STU3`, `1.0.2`, `3.0.1` …); undefined when unknown. */
export function parseFhirVersion(value: string | undefined): FhirVersion | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toUpperCase();
  if (v === 'DSTU2' || v === 'R2' || v.startsWith('1.0')) return 'DSTU2';
  if (v === 'STU3' || v === 'R3' || v.startsWith('3.0')) return 'STU3';
  return undefined;
}
