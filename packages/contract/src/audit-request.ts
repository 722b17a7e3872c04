/**
 * The audit REQUEST record: the wire and HMAC-chain unit (one per HTTP request). A request's accesses
 * travel inside it as entries (a batch's entries each with its event type, resource type, status,
 * outcome, result count and disclosed patients; a batch's PatientListView is one more entry), and
 * `expandRequestRecord` turns it into exactly the per-patient rows of audit-events.md (one per patient
 * per access, `AuditRecord`), which is what the audit store's `audit_events` table holds.
 *
 * Two formats share this type:
 * - `v: 2`, written by the middleware: one line per request, canonical form `auditRequestCanonical`;
 * - `v: 1`, a legacy single-record line (the per-patient `AuditRecord` written by earlier versions),
 *   lifted by `requestFromAuditRecord` into a request with one entry and one patient; its canonical
 *   form stays the record's own (`auditRecordCanonical`), so chains written by earlier versions verify.
 *
 * Per-patient `event_id`s are derived from the request's `event_id` (`perPatientEventId`): the row at
 * expansion ordinal k (entries in order, patients in order within an entry, from 0) has the request's
 * id with its last 32 bits XOR k. Ordinal 0 keeps the request's id (a legacy record keeps its own id).
 * The sink's materialized view computes the same ids in SQL.
 */

import { AUDIT_EXPANSION, type ExpansionSource, roundMs, unknownAsNull } from './audit-expansion.ts';
import {
  type AuditEventType,
  type AuditOutcome,
  type AuditRecord,
  auditRecordCanonical,
  type FhirInteraction,
} from './audit-record.ts';
import type { FhirVersion } from './versions.ts';

export interface AuditRequestEntry {
  event_type: AuditEventType;
  fhir_interaction: FhirInteraction;
  resource_type: string;
  /** The search parameters as sent (PHI: audit store only). */
  query: string;
  /** Index of the batch entry; -1 for a request that is not a batch and for a batch's PatientListView. */
  entry_index: number;
  http_status: number;
  outcome: AuditOutcome;
  /** null: unknown (the response body was over the capture cap). A legacy record may carry -1 (same meaning). */
  result_count: number | null;
  /** At least one: '' when the access disclosed no patient, '*' for all. Order is the expansion order. */
  patient_ids: string[];
}

export type AuditRequestFormat = 1 | 2;

export interface AuditRequestRecord {
  /** 2: request record; 1: a legacy single-record line lifted into a request (see module comment). */
  v: AuditRequestFormat;
  /** UUIDv7 of the request; the idempotency key; per-patient ids derive from it. */
  event_id: string;
  event_time: string;
  recorded_by: string;
  seq: number;
  prev_hash: string;
  hash: string;
  tenant_id: string;
  /**
   * true when `tenant_id` is only what the request claimed (the tenant named by the path of an
   * unauthenticated or refused request), not a tenant verified from the caller's token.
   */
  tenant_claimed: boolean;
  routed_tenant_id: string;
  client_id: string;
  user_id: string;
  user_name: string;
  source_ip: string;
  user_agent: string;
  fhir_version: FhirVersion;
  /** '' unless the request was a batch. */
  batch_id: string;
  trace_id: string;
  /** Status of the HTTP request itself (a batch's entries carry their own). */
  http_status: number;
  duration_ms: number;
  entries: AuditRequestEntry[];
}

/** A request record whose chain fields (recorded_by, seq, prev_hash, hash) the writer has yet to assign. */
export type UnchainedAuditRequest = AuditRequestRecord;

/** Request-level fields of a v2 record, in canonical order (then `entries`). */
export const AUDIT_REQUEST_FIELDS = [
  'v',
  'event_id',
  'event_time',
  'recorded_by',
  'seq',
  'prev_hash',
  'hash',
  'tenant_id',
  'tenant_claimed',
  'routed_tenant_id',
  'client_id',
  'user_id',
  'user_name',
  'source_ip',
  'user_agent',
  'fhir_version',
  'batch_id',
  'trace_id',
  'http_status',
  'duration_ms',
  'entries',
] as const satisfies readonly (keyof AuditRequestRecord)[];

/** Entry fields in canonical order. */
export const AUDIT_REQUEST_ENTRY_FIELDS = [
  'event_type',
  'fhir_interaction',
  'resource_type',
  'query',
  'entry_index',
  'http_status',
  'outcome',
  'result_count',
  'patient_ids',
] as const satisfies readonly (keyof AuditRequestEntry)[];

/** The legacy record a v1 request was lifted from (result_count as it was signed, -1 included). */
export function legacyRecordOf(request: Omit<AuditRequestRecord, 'hash'> & { hash?: string }): AuditRecord {
  const e = request.entries[0] as AuditRequestEntry;
  return {
    event_id: request.event_id,
    event_time: request.event_time,
    recorded_by: request.recorded_by,
    seq: request.seq,
    prev_hash: request.prev_hash,
    hash: request.hash ?? '',
    tenant_id: request.tenant_id,
    routed_tenant_id: request.routed_tenant_id,
    client_id: request.client_id,
    user_id: request.user_id,
    user_name: request.user_name,
    source_ip: request.source_ip,
    user_agent: request.user_agent,
    event_type: e.event_type,
    fhir_interaction: e.fhir_interaction,
    resource_type: e.resource_type,
    fhir_version: request.fhir_version,
    query: e.query,
    patient_id: e.patient_ids[0] ?? '',
    batch_id: request.batch_id,
    entry_index: e.entry_index,
    trace_id: request.trace_id,
    outcome: e.outcome,
    http_status: e.http_status,
    duration_ms: request.duration_ms,
    result_count: e.result_count as number,
  };
}

/**
 * Canonical text the HMAC chain signs (every field but `hash`). v2: a JSON array of the request fields
 * in AUDIT_REQUEST_FIELDS order, `entries` as arrays in AUDIT_REQUEST_ENTRY_FIELDS order; it starts
 * with the number 2, so it can never equal a legacy canonical form (which starts with a string). v1:
 * the legacy record's own canonical form. `duration_ms` is rounded to 3 decimals in both.
 */
export function auditRequestCanonical(request: Omit<AuditRequestRecord, 'hash'> & { hash?: string }): string {
  if (request.v === 1) return auditRecordCanonical(legacyRecordOf(request));
  const entries: unknown[] = [];
  for (const e of request.entries) {
    entries.push([
      e.event_type,
      e.fhir_interaction,
      e.resource_type,
      e.query,
      e.entry_index,
      e.http_status,
      e.outcome,
      e.result_count,
      e.patient_ids,
    ]);
  }
  return JSON.stringify([
    2,
    request.event_id,
    request.event_time,
    request.recorded_by,
    request.seq,
    request.prev_hash,
    request.tenant_id,
    request.tenant_claimed,
    request.routed_tenant_id,
    request.client_id,
    request.user_id,
    request.user_name,
    request.source_ip,
    request.user_agent,
    request.fhir_version,
    request.batch_id,
    request.trace_id,
    request.http_status,
    roundMs(request.duration_ms),
    entries,
  ]);
}

/** A legacy per-patient record (an old single-record line) as a v1 request record. */
export function requestFromAuditRecord(record: AuditRecord): AuditRequestRecord {
  return {
    v: 1,
    event_id: record.event_id,
    event_time: record.event_time,
    recorded_by: record.recorded_by,
    seq: record.seq,
    prev_hash: record.prev_hash,
    hash: record.hash,
    tenant_id: record.tenant_id,
    tenant_claimed: false,
    routed_tenant_id: record.routed_tenant_id,
    client_id: record.client_id,
    user_id: record.user_id,
    user_name: record.user_name,
    source_ip: record.source_ip,
    user_agent: record.user_agent,
    fhir_version: record.fhir_version,
    batch_id: record.batch_id,
    trace_id: record.trace_id,
    http_status: record.http_status,
    duration_ms: record.duration_ms,
    entries: [
      {
        event_type: record.event_type,
        fhir_interaction: record.fhir_interaction,
        resource_type: record.resource_type,
        query: record.query,
        entry_index: record.entry_index,
        http_status: record.http_status,
        outcome: record.outcome,
        result_count: record.result_count,
        patient_ids: [record.patient_id],
      },
    ],
  };
}

const HEX8 = /^[0-9a-f]{8}$/;

/**
 * Event id of the per-patient row at expansion `ordinal` (0-based): the request's id with its last 32
 * bits XOR ordinal. Version and variant bits are untouched (still a UUIDv7, still in time order).
 */
export function perPatientEventId(requestEventId: string, ordinal: number): string {
  if (ordinal === 0) return requestEventId;
  const tail = requestEventId.slice(28);
  if (!HEX8.test(tail)) throw new RangeError('event_id must be a lowercase UUID');
  const value = (Number.parseInt(tail, 16) ^ ordinal) >>> 0;
  return requestEventId.slice(0, 28) + value.toString(16).padStart(8, '0');
}

/** Number of per-patient rows a request expands to. */
export function expansionSize(request: Pick<AuditRequestRecord, 'entries'>): number {
  let n = 0;
  for (const e of request.entries) n += e.patient_ids.length;
  return n;
}

/** The expansion definition compiled once: [row field, source] in AUDIT_RECORD_FIELDS order. */
const EXPANSION_STEPS = Object.entries(AUDIT_EXPANSION) as [keyof AuditRecord, ExpansionSource][];

/**
 * The per-patient audit rows of a request (audit-events.md "one record per disclosed patient"): per
 * entry in order, per patient in order, each field as AUDIT_EXPANSION (audit-expansion.ts) defines it.
 */
export function expandRequestRecord(request: AuditRequestRecord): AuditRecord[] {
  const rows: AuditRecord[] = [];
  let ordinal = 0;
  for (const e of request.entries) {
    for (const patient of e.patient_ids) {
      const row: Record<string, unknown> = {};
      for (const [field, source] of EXPANSION_STEPS) {
        switch (source.from) {
          case 'row-id':
            row[field] = perPatientEventId(request.event_id, ordinal);
            break;
          case 'patient':
            row[field] = patient;
            break;
          case 'request':
            row[field] = source.rule === 'round-ms' ? roundMs(request[source.field] as number) : request[source.field];
            break;
          case 'entry':
            row[field] =
              source.rule === 'unknown-null' ? unknownAsNull(e[source.field] as number | null) : e[source.field];
            break;
        }
      }
      rows.push(row as unknown as AuditRecord);
      ordinal++;
    }
  }
  return rows;
}

/** Whether a parsed wire line is a request record (v2) rather than a legacy single record. */
export function isRequestLine(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { v?: unknown }).v === 2;
}
