/**
 * FHIR versions the Patients app speaks, and what differs between them: one `ReleaseProfile` per
 * version in `FHIR_RELEASES`. Every consumer indexes that table (or another `Record<FhirVersion, …>`)
 * instead of comparing a version with a literal, so adding a release (R4) is a list of compile errors:
 * each table that lacks the new key.
 * DSTU2: https://www.hl7.org/fhir/DSTU2/  STU3: https://www.hl7.org/fhir/STU3/
 */
export const FHIR_VERSIONS = ['DSTU2', 'STU3'] as const;
export type FhirVersion = (typeof FHIR_VERSIONS)[number];

/** The version used when neither the request, the tenant nor the configuration names one. */
export const DEFAULT_FHIR_VERSION: FhirVersion = 'STU3';

/** The Patients app's name search for one release. */
export interface NameSearchProfile {
  /** Parameter the app sends for a typed name fragment (seed: DSTU2 `name:contains`, STU3 `family`). */
  readonly app: string;
  /** Per name part, the parameter (with modifier) that matches a substring of that part. */
  readonly parts: Readonly<{ family: string; given: string; name?: string }>;
}

/** What one FHIR release looks like on the wire, as the Patients app and its servers use it. */
export interface ReleaseProfile {
  readonly version: FhirVersion;
  /** The `fhirVersion` a Conformance / CapabilityStatement declares. */
  readonly number: string;
  /** Names a user may type for it (upper case), besides numbers starting with `numberPrefix`. */
  readonly aliases: readonly string[];
  readonly numberPrefix: string;
  /** JSON media type (DSTU2 predates `application/fhir+json`). */
  readonly jsonMime: string;
  /** The resource type `GET /metadata` answers. */
  readonly capabilityType: 'Conformance' | 'CapabilityStatement';
  /**
   * The system interaction a capability statement claims for batch Bundles: DSTU2's code system has no
   * `batch` code (batch and transaction Bundles are both `transaction` there).
   */
  readonly batchInteraction: { readonly code: 'batch' | 'transaction'; readonly documentation: string };
  /** Capability search parameters list their modifiers and reference targets (DSTU2's `modifier`/`target`). */
  readonly capabilitySearchModifiers: boolean;
  /**
   * Where a failed batch-response entry carries its OperationOutcome: `resource` (DSTU2's
   * `Bundle.entry.response` has no `outcome`) or `response.outcome` (STU3).
   */
  readonly batchEntryOutcome: 'resource' | 'response.outcome';
  readonly nameSearch: NameSearchProfile;
  /** Sorting by date, newest first, as the app sends it. */
  readonly sortDescDate: string;
  /** The seed's Patient search lists `gender` for this release. */
  readonly patientGenderSearch: boolean;
}

export const FHIR_RELEASES: Readonly<Record<FhirVersion, ReleaseProfile>> = {
  DSTU2: {
    version: 'DSTU2',
    number: '1.0.2',
    aliases: ['DSTU2', 'R2'],
    numberPrefix: '1.0',
    jsonMime: 'application/json+fhir',
    capabilityType: 'Conformance',
    batchInteraction: {
      code: 'transaction',
      documentation: 'Bundle.type = batch only; transaction Bundles are rejected',
    },
    capabilitySearchModifiers: true,
    batchEntryOutcome: 'resource',
    nameSearch: {
      app: 'name:contains',
      parts: { family: 'family:contains', given: 'given:contains', name: 'name:contains' },
    },
    sortDescDate: '_sort:desc=date',
    patientGenderSearch: false,
  },
  STU3: {
    version: 'STU3',
    number: '3.0.2',
    aliases: ['STU3', 'R3'],
    numberPrefix: '3.0',
    jsonMime: 'application/fhir+json',
    capabilityType: 'CapabilityStatement',
    batchInteraction: { code: 'batch', documentation: 'Bundle.type = batch; each entry answered on its own' },
    capabilitySearchModifiers: false,
    batchEntryOutcome: 'response.outcome',
    nameSearch: { app: 'family', parts: { family: 'family', given: 'given' } },
    sortDescDate: '_sort=-date',
    patientGenderSearch: true,
  },
};

/** The `fhirVersion` a Conformance / CapabilityStatement declares for each release. */
export const FHIR_VERSION_NUMBER: Readonly<Record<FhirVersion, string>> = recordOf((p) => p.number);

/** JSON mime type of each release (DSTU2 predates `application/fhir+json`). */
export const FHIR_JSON_MIME: Readonly<Record<FhirVersion, string>> = recordOf((p) => p.jsonMime);

function recordOf<T>(pick: (profile: ReleaseProfile) => T): Record<FhirVersion, T> {
  const out = {} as Record<FhirVersion, T>;
  for (const v of FHIR_VERSIONS) out[v] = pick(FHIR_RELEASES[v]);
  return out;
}

/** True for a known version name (`DSTU2`, `STU3`); prototype names are not versions. */
export function isFhirVersion(value: unknown): value is FhirVersion {
  return typeof value === 'string' && Object.hasOwn(FHIR_RELEASES, value);
}

/** The other releases than `version`, in `FHIR_VERSIONS` order. */
export function otherFhirVersions(version: FhirVersion): readonly FhirVersion[] {
  return OTHERS[version];
}

const OTHERS = recordOf((p) => FHIR_VERSIONS.filter((v) => v !== p.version));

/** Parse a user-facing version name (`dstu2`, `STU3`, `1.0.2`, `3.0.1` …); undefined when unknown. */
export function parseFhirVersion(value: string | undefined): FhirVersion | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toUpperCase();
  for (const version of FHIR_VERSIONS) {
    const profile = FHIR_RELEASES[version];
    if (profile.aliases.includes(v) || v.startsWith(profile.numberPrefix)) return version;
  }
  return undefined;
}
