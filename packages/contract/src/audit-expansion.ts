/**
 * The request → per-patient expansion as ONE definition, as data: for every field of the per-patient row
 * (`AuditRecord`, AUDIT_RECORD_FIELDS order), where its value comes from. `expandRequestRecord` interprets it
 * in JS (the middleware's tests, the receiver, verify's diagnostics); the audit store renders the same table
 * to SQL for its `audit_events` view, its per-patient index and `audit verify` (clickhouse-sink
 * `src/store/schema/expansion.ts`), and tests hold the JS and the SQL results equal row for row.
 *
 * Order of the rows: entries in order, patients in order within an entry; the row at 0-based ordinal k has
 * the event id `perPatientEventId(request.event_id, k)`.
 */
import type { AuditRecord } from './audit-record.ts';

/** Request fields a row copies (scalars of the request record). */
export type ExpansionRequestField =
  | 'event_id'
  | 'event_time'
  | 'recorded_by'
  | 'seq'
  | 'prev_hash'
  | 'hash'
  | 'tenant_id'
  | 'routed_tenant_id'
  | 'client_id'
  | 'user_id'
  | 'user_name'
  | 'source_ip'
  | 'user_agent'
  | 'fhir_version'
  | 'batch_id'
  | 'trace_id'
  | 'http_status'
  | 'duration_ms';

/** Entry fields a row copies (scalars of the entry the row belongs to). */
export type ExpansionEntryField =
  | 'event_type'
  | 'fhir_interaction'
  | 'resource_type'
  | 'query'
  | 'entry_index'
  | 'http_status'
  | 'outcome'
  | 'result_count';

/**
 * Where a row field comes from:
 * - `row-id`: the per-patient event id (`perPatientEventId(request.event_id, ordinal)`);
 * - `request` / `entry`: a field of the request / of the row's entry, as is, or through a rule:
 *   `round-ms` = rounded to 3 decimals (half up), `unknown-null` = a negative (legacy "unknown") becomes null;
 * - `patient`: the patient id the row is for.
 */
export type ExpansionSource =
  | { readonly from: 'row-id' }
  | { readonly from: 'request'; readonly field: ExpansionRequestField; readonly rule?: 'round-ms' }
  | { readonly from: 'entry'; readonly field: ExpansionEntryField; readonly rule?: 'unknown-null' }
  | { readonly from: 'patient' };

/** The expansion: every per-patient row field and its source (keys in AUDIT_RECORD_FIELDS order). */
export const AUDIT_EXPANSION = {
  event_id: { from: 'row-id' },
  event_time: { from: 'request', field: 'event_time' },
  recorded_by: { from: 'request', field: 'recorded_by' },
  seq: { from: 'request', field: 'seq' },
  prev_hash: { from: 'request', field: 'prev_hash' },
  hash: { from: 'request', field: 'hash' },
  tenant_id: { from: 'request', field: 'tenant_id' },
  routed_tenant_id: { from: 'request', field: 'routed_tenant_id' },
  client_id: { from: 'request', field: 'client_id' },
  user_id: { from: 'request', field: 'user_id' },
  user_name: { from: 'request', field: 'user_name' },
  source_ip: { from: 'request', field: 'source_ip' },
  user_agent: { from: 'request', field: 'user_agent' },
  event_type: { from: 'entry', field: 'event_type' },
  fhir_interaction: { from: 'entry', field: 'fhir_interaction' },
  resource_type: { from: 'entry', field: 'resource_type' },
  fhir_version: { from: 'request', field: 'fhir_version' },
  query: { from: 'entry', field: 'query' },
  patient_id: { from: 'patient' },
  batch_id: { from: 'request', field: 'batch_id' },
  entry_index: { from: 'entry', field: 'entry_index' },
  trace_id: { from: 'request', field: 'trace_id' },
  outcome: { from: 'entry', field: 'outcome' },
  http_status: { from: 'entry', field: 'http_status' },
  duration_ms: { from: 'request', field: 'duration_ms', rule: 'round-ms' },
  result_count: { from: 'entry', field: 'result_count', rule: 'unknown-null' },
} as const satisfies { readonly [F in keyof AuditRecord]: ExpansionSource };

/** `round-ms`: 3 decimals, half up (the SQL rendering is `floor(x * 1000 + 0.5) / 1000`). */
export function roundMs(value: number): number {
  return Math.floor(value * 1000 + 0.5) / 1000;
}

/** `unknown-null`: null and negative counts (a legacy record's -1) are unknown. */
export function unknownAsNull(value: number | null): number | null {
  return value === null || value < 0 ? null : value;
}
