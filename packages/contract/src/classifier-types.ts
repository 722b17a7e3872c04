/**
 * Public types of the audit classifier (implemented in classifier.ts).
 * Spec: ../../../../shared/spec/audit-events.md.
 */
import type { AuditEventType, FhirInteraction } from './audit-record.ts';
import type { FhirVersion } from './versions.ts';

/** An HTTP request as any server sees it. Everything is optional or loose: the classifier never throws. */
export interface ClassifierRequest {
  method: string;
  /** Path relative to the FHIR base, with or without the query string (`/Patient?name:contains=ab`). */
  path: string;
  /** Query string (without `?`) or parsed parameters; merged with any query in `path`. */
  query?: string | Readonly<Record<string, string | readonly string[] | undefined>>;
  headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Raw body (string or bytes) or an already parsed JSON value; form bodies as a string. */
  body?: unknown;
  /** The FHIR version of the target, when the caller knows it (affects MedicationOrder vs MedicationRequest). */
  fhirVersion?: FhirVersion;
}

/** What kind of traffic a request is. */
export type TrafficKind =
  /** A clinician read: yields audit records. */
  | 'clinical'
  /** Measured but never audited: `/metadata`, `/token`, well-known endpoints. */
  | 'not-audited'
  /** Anything else (writes, unknown paths, garbage): measured, recorded as unknown by whoever cares. */
  | 'unknown';

/** One classified interaction: the whole request, or one entry of a batch Bundle. */
export interface ClassifiedInteraction {
  eventType: AuditEventType | undefined;
  interaction: FhirInteraction;
  /** FHIR resource type addressed ('' when none). */
  resourceType: string;
  /** Route template, never the raw URL: `/Patient/{id}`, `/Observation`, `/Patient/_search`, `/`. Safe for telemetry. */
  route: string;
  method: string;
  /** The search parameters as sent, form-decoded and re-encoded (`family:contains=smi&_count=10`). PHI. */
  query: string;
  /** Patient logical ids the request names (`patient=`, `/Patient/{id}`, `subject=Patient/x` …). PHI. */
  patientRefs: string[];
  /** Location ids named by a Location read (so a batch can attribute them to the encounter's patient). */
  locationRefs: string[];
  /** Index in the batch Bundle, -1 for a request that is not a batch entry. */
  entryIndex: number;
  /** True when the request marks itself as an export (bulk `$export` kick-off or `X-Fhirwatch-Export: true`). */
  isExport: boolean;
  /** Group logical id of a `Group/{id}/$export` kick-off (PHI-adjacent: audit store only); absent otherwise. */
  groupId?: string;
}

export interface Classification {
  kind: TrafficKind;
  /** True for a batch Bundle (POST [base] with Bundle.type = batch). */
  batch: boolean;
  /** For a batch: one per entry, in order, plus nothing else (the PatientListView records are derived from them). */
  interactions: ClassifiedInteraction[];
  /** Why the request is `unknown` (safe for logs: no PHI), empty otherwise. */
  reason: string;
  /** Route template of the whole request (`/` for a batch), safe for telemetry. Always set by `classifyRequest`. */
  route?: string;
}

/** Patients disclosed by a response: ids from the returned resources, and the total the server reported. */
export interface Disclosure {
  /**
   * The patients to record, in order: those the request named (the `patient` searched, the Patient
   * read, `*` for an export; not the `_id` of a PatientSearch), then every patient found in the
   * returned resources. So a failed read still names its patient, and a search that returned another
   * patient's data records that patient too.
   */
  patientIds: string[];
  /** Number of matching resources returned in the body (Bundle entries with search.mode match, or 1 for a read). */
  resultCount: number;
  /**
   * Patient ids found in the returned resources only (`patientIds` also holds the patients the request
   * named, except for a PatientSearch). Always set by `disclosedPatients`.
   */
  returnedPatientIds?: string[];
  /** `Bundle.total` of a searchset response (all matches, beyond this page), when the server sent one. */
  total?: number;
}
