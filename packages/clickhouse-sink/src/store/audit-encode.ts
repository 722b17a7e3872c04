/**
 * Audit request rows as `JSONCompactEachRow` (one JSON array per line, values in
 * {@link AUDIT_REQUEST_INSERT_COLUMNS} order) for `audit_requests` (schema/audit-requests.ts). The
 * materialized view expands each into its per-patient audit_events rows inside ClickHouse.
 *
 * Why `JSONCompactEachRow`: no keys to write or look up, ~35 % smaller than JSONEachRow, positional
 * parse in the engine (bench/writer.ts). `event_time` goes as `YYYY-MM-DD HH:MM:SS.sss` (DateTime64
 * parses it without best_effort). Records must be valid (validate.ts): values are written as they are.
 */
import type { AuditRequestRecord } from '@fhirwatch/contract';
import { AUDIT_REQUEST_COLUMNS } from './schema/audit-requests.ts';

/** The audit_requests columns an insert names, in the order of every encoded row. */
export const AUDIT_REQUEST_INSERT_COLUMNS: readonly string[] = AUDIT_REQUEST_COLUMNS.map((column) => column.name);

/** `2026-11-25T13:11:30.123Z` → `2026-11-25 13:11:30.123`; any other shape is left for the engine to refuse. */
export function dateTime64Text(iso: string): string {
  return iso.length === 24 && iso.charCodeAt(10) === 84 /* T */ && iso.charCodeAt(23) === 90 /* Z */
    ? `${iso.slice(0, 10)} ${iso.slice(11, 23)}`
    : iso;
}

/** One request's values in AUDIT_REQUEST_INSERT_COLUMNS order. */
export function auditRequestRowValues(r: AuditRequestRecord): unknown[] {
  const n = r.entries.length;
  const eventType = new Array<string>(n);
  const interaction = new Array<string>(n);
  const resourceType = new Array<string>(n);
  const query = new Array<string>(n);
  const entryIndex = new Array<number>(n);
  const status = new Array<number>(n);
  const outcome = new Array<number>(n);
  const resultCount = new Array<number | null>(n);
  const xEntry: number[] = [];
  const xPatient: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = r.entries[i]!;
    eventType[i] = e.event_type;
    interaction[i] = e.fhir_interaction;
    resourceType[i] = e.resource_type;
    query[i] = e.query;
    entryIndex[i] = e.entry_index;
    status[i] = e.http_status;
    outcome[i] = e.outcome;
    resultCount[i] = e.result_count;
    for (const p of e.patient_ids) {
      xEntry.push(i + 1);
      xPatient.push(p);
    }
  }
  return [
    r.event_id,
    dateTime64Text(r.event_time),
    r.recorded_by,
    r.seq,
    r.prev_hash,
    r.hash,
    r.v,
    r.tenant_id,
    r.tenant_claimed ? 1 : 0,
    r.routed_tenant_id,
    r.client_id,
    r.user_id,
    r.user_name,
    r.source_ip,
    r.user_agent,
    r.fhir_version,
    r.batch_id,
    r.trace_id,
    r.http_status,
    r.duration_ms,
    eventType,
    interaction,
    resourceType,
    query,
    entryIndex,
    status,
    outcome,
    resultCount,
    xEntry,
    xPatient,
  ];
}

/** The requests as a JSONCompactEachRow body (UTF-8, one line per request). */
export function encodeAuditRequestRows(records: readonly AuditRequestRecord[]): Buffer {
  let text = '';
  for (const record of records) text += `${JSON.stringify(auditRequestRowValues(record))}\n`;
  return Buffer.from(text, 'utf8');
}
