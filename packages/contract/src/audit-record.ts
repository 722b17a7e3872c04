/**
 * The audit record of ../../../../shared/spec/audit-events.md: one row per (access, patient).
 * Shared by the middleware (writer) and the ClickHouse sink (store, verify). Column names are the
 * ClickHouse column names (snake_case), so a record is inserted as-is with `FORMAT JSONEachRow`.
 */
import type { FhirVersion } from './versions.ts';

/** The 11 clinician read events, in the spec's order. */
export const AUDIT_EVENT_TYPES = [
  'PatientSearch',
  'PatientView',
  'PatientListView',
  'VitalSignsView',
  'ConditionsView',
  'EncountersView',
  'LocationView',
  'AllergiesView',
  'MedicationsView',
  'CoverageView',
  'ExportInitiation',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** FHIR interaction codes recorded in `fhir_interaction`. */
export const FHIR_INTERACTIONS = ['read', 'search-type', 'batch', 'operation', 'unknown'] as const;
export type FhirInteraction = (typeof FHIR_INTERACTIONS)[number];

/** FHIR AuditEvent.outcome: 0 success, 4 minor failure, 8 serious failure, 12 major failure. */
export const AUDIT_OUTCOME = { success: 0, minorFailure: 4, seriousFailure: 8, majorFailure: 12 } as const;
export type AuditOutcome = (typeof AUDIT_OUTCOME)[keyof typeof AUDIT_OUTCOME];

/** Map an HTTP status to the AuditEvent outcome (BALP: 4xx = minor failure, 5xx = serious failure). */
export function outcomeForStatus(status: number): AuditOutcome {
  if (status >= 200 && status < 400) return AUDIT_OUTCOME.success;
  if (status >= 400 && status < 500) return AUDIT_OUTCOME.minorFailure;
  if (status >= 500 && status < 600) return AUDIT_OUTCOME.seriousFailure;
  return AUDIT_OUTCOME.majorFailure;
}

/** Patient id recorded for an access that concerns all patients (bulk export without a group). */
export const ALL_PATIENTS = '*';

export interface AuditRecord {
  /** UUIDv7, the idempotency key. */
  event_id: string;
  /** UTC, millisecond precision, ISO 8601 with `Z` (`2026-11-25T13:11:30.123Z`). */
  event_time: string;
  /** Writer id (gateway / host); the HMAC chain is per `recorded_by`. */
  recorded_by: string;
  /** Monotonic per writer, starting at 1. */
  seq: number;
  /** Hex HMAC-SHA256 of the previous record of this writer ('' for seq 1). */
  prev_hash: string;
  /** Hex HMAC-SHA256 over `prev_hash` and the canonical form of this record. */
  hash: string;
  tenant_id: string;
  /** Tenant of the provider the request was routed to ('' when not routed); differs from tenant_id only on an isolation breach. */
  routed_tenant_id: string;
  client_id: string;
  /** '' when no trusted user context was present. */
  user_id: string;
  user_name: string;
  source_ip: string;
  user_agent: string;
  event_type: AuditEventType;
  fhir_interaction: FhirInteraction;
  resource_type: string;
  fhir_version: FhirVersion;
  /** The search parameters as sent (PHI: audit store only). */
  query: string;
  /** FHIR logical id; '' when the access disclosed no patient, '*' for all. */
  patient_id: string;
  /** '' unless the access was a batch entry. */
  batch_id: string;
  /** -1 unless the access was a batch entry. */
  entry_index: number;
  trace_id: string;
  outcome: AuditOutcome;
  http_status: number;
  duration_ms: number;
  /** Resources the access returned; null when unknown (the response body was over the capture cap). */
  result_count: number | null;
}

/** Column order of the record; also the order of the canonical form that the HMAC chain signs. */
export const AUDIT_RECORD_FIELDS = [
  'event_id',
  'event_time',
  'recorded_by',
  'seq',
  'prev_hash',
  'hash',
  'tenant_id',
  'routed_tenant_id',
  'client_id',
  'user_id',
  'user_name',
  'source_ip',
  'user_agent',
  'event_type',
  'fhir_interaction',
  'resource_type',
  'fhir_version',
  'query',
  'patient_id',
  'batch_id',
  'entry_index',
  'trace_id',
  'outcome',
  'http_status',
  'duration_ms',
  'result_count',
] as const satisfies readonly (keyof AuditRecord)[];

/**
 * Canonical text of a record for the HMAC chain: a JSON array of every field but `hash`, in
 * AUDIT_RECORD_FIELDS order. `duration_ms` is rounded to 3 decimals so it survives a round trip
 * through a Float64 column. Writer and verifier must both use this function.
 */
export function auditRecordCanonical(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const values: unknown[] = [];
  for (const field of AUDIT_RECORD_FIELDS) {
    if (field === 'hash') continue;
    const value = record[field];
    values.push(field === 'duration_ms' ? Math.round((value as number) * 1000) / 1000 : value);
  }
  return JSON.stringify(values);
}
