/**
 * The audit_requests row codec, in one place: a request record as the row values of `audit_requests`
 * ({@link AUDIT_REQUEST_INSERT_COLUMNS} order, schema/audit-requests.ts) and back (`requestFromRow`, what
 * `audit verify` reads); test/expansion.test.ts holds the round trip through the store equal. Inserts go as
 * `JSONCompactEachRow` (one JSON array per line); the per-patient rows are the audit_events view's expansion.
 *
 * Why `JSONCompactEachRow`: no keys to write or look up, ~35 % smaller than JSONEachRow, positional
 * parse in the engine (bench/writer.ts). `event_time` goes as `YYYY-MM-DD HH:MM:SS.sss` (DateTime64
 * parses it without best_effort). Records must be valid (validate.ts): values are written as they are.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import {
  type AuditOutcome,
  type AuditRecord,
  type AuditRequestEntry,
  type AuditRequestRecord,
  requestFromAuditRecord,
} from '@fhirwatch/contract';
import { AUDIT_REQUEST_COLUMNS, AUDIT_REQUESTS_TABLE } from './schema/audit-requests.ts';

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

/** `2026-11-25 13:11:30.123` (how the store prints DateTime64(3)) → `2026-11-25T13:11:30.123Z`. */
function isoFromDateTime64Text(value: string): string {
  if (value.endsWith('Z')) return value;
  const [date, time = '00:00:00'] = value.split(' ');
  const [hms, fraction = ''] = time.split('.');
  return `${date}T${hms}.${fraction.padEnd(3, '0').slice(0, 3)}Z`;
}

/**
 * One row of `SELECT <AUDIT_REQUEST_INSERT_COLUMNS>` (JSONCompactEachRow values, 64-bit integers as numbers) as
 * the request record it stores: the inverse of {@link auditRequestRowValues}.
 */
export function requestFromRow(row: readonly unknown[]): AuditRequestRecord {
  const [
    requestId,
    eventTime,
    recordedBy,
    seq,
    prevHash,
    hash,
    v,
    tenantId,
    tenantClaimed,
    routedTenantId,
    clientId,
    userId,
    userName,
    sourceIp,
    userAgent,
    fhirVersion,
    batchId,
    traceId,
    httpStatus,
    durationMs,
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
  ] = row as [
    string,
    string,
    string,
    number,
    string,
    string,
    number,
    string,
    number,
    string,
    string,
    string,
    string,
    string,
    string,
    AuditRequestRecord['fhir_version'],
    string,
    string,
    number,
    number,
    AuditRequestEntry['event_type'][],
    AuditRequestEntry['fhir_interaction'][],
    string[],
    string[],
    number[],
    number[],
    number[],
    (number | null)[],
    number[],
    string[],
  ];
  const entries: AuditRequestEntry[] = eventType.map((type, i) => ({
    event_type: type,
    fhir_interaction: interaction[i] as AuditRequestEntry['fhir_interaction'],
    resource_type: resourceType[i] ?? '',
    query: query[i] ?? '',
    entry_index: entryIndex[i] ?? -1,
    http_status: status[i] ?? 0,
    outcome: (outcome[i] ?? 0) as AuditOutcome,
    result_count: resultCount[i] ?? null,
    patient_ids: [],
  }));
  for (let j = 0; j < xEntry.length; j++) entries[(xEntry[j] as number) - 1]?.patient_ids.push(xPatient[j] ?? '');
  return {
    v: v === 1 ? 1 : 2,
    event_id: requestId,
    event_time: isoFromDateTime64Text(eventTime),
    recorded_by: recordedBy,
    seq: Number(seq),
    prev_hash: prevHash,
    hash,
    tenant_id: tenantId,
    tenant_claimed: tenantClaimed === 1,
    routed_tenant_id: routedTenantId,
    client_id: clientId,
    user_id: userId,
    user_name: userName,
    source_ip: sourceIp,
    user_agent: userAgent,
    fhir_version: fhirVersion,
    batch_id: batchId,
    trace_id: traceId,
    http_status: httpStatus,
    duration_ms: durationMs,
    entries,
  };
}

/**
 * Store per-patient records (the legacy single-record shape) the way the sink stores an old wire line: each as a
 * v1 request row in audit_requests (its per-patient row is the audit_events view's expansion). For fixtures,
 * benches and imports; the sink's writer adds validation and dedup.
 */
export async function insertAuditRecords(client: ClickHouseClient, records: readonly AuditRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 5000) {
    await client.insert({
      table: AUDIT_REQUESTS_TABLE,
      columns: AUDIT_REQUEST_INSERT_COLUMNS as [string, ...string[]],
      values: records.slice(i, i + 5000).map((r) => auditRequestRowValues(requestFromAuditRecord(r))),
      format: 'JSONCompactEachRow',
    });
  }
}
