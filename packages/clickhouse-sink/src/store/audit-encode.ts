/**
 * The audit_requests row codec, in one place: a request record as the row values of `audit_requests`
 * ({@link AUDIT_REQUEST_INSERT_COLUMNS} order, schema/audit-requests.ts) and back (`requestFromRow`, what
 * `audit verify` reads); packages/clickhouse-sink/test/expansion.test.ts holds the round trip through the store equal. Inserts go as
 * `JSONCompactEachRow` (one JSON array per line); the per-patient rows are the audit_events view's expansion.
 *
 * Why `JSONCompactEachRow`: no keys to write or look up, ~35 % smaller than JSONEachRow, positional
 * parse in the engine (bench/writer.ts). `event_time` goes as `YYYY-MM-DD HH:MM:SS.sss` (DateTime64
 * parses it without best_effort). Records must be valid (validate.ts): values are written as they are.
 *
 * An embedded (chDB) store gets the same rows as one Native block instead ({@link encodeAuditRequestNative}):
 * columns in the engine's own binary form, which it reads ~2 µs per per-patient event cheaper than this text
 * (bench/ingest-parts.ts, the sink README's bench (a2)). A server keeps the text: @clickhouse/client inserts
 * text formats only.
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

// ---- Native: the embedded store's insert format (one columnar block per insert)

/**
 * The audit_requests columns as a Native block declares them (AUDIT_REQUEST_INSERT_COLUMNS order): the schema's
 * types with LowCardinality left out (the INSERT … SELECT casts to it). test/audit-native.test.ts holds this list
 * equal to the schema's, so a column change that forgets the encoder fails there.
 */
export const AUDIT_REQUEST_NATIVE_TYPES: readonly string[] = [
  'UUID',
  "DateTime64(3, 'UTC')",
  'String',
  'UInt64',
  'String',
  'String',
  'UInt8',
  'String',
  'UInt8',
  'String',
  'String',
  'String',
  'String',
  'String',
  'String',
  'String',
  'String',
  'String',
  'UInt16',
  'Float64',
  'Array(String)',
  'Array(String)',
  'Array(String)',
  'Array(String)',
  'Array(Int32)',
  'Array(UInt16)',
  'Array(UInt8)',
  'Array(Nullable(Int64))',
  'Array(UInt16)',
  'Array(String)',
];

/** Thrown inside the Native encoder for a value with no exact binary form; caught by encodeAuditRequestNative. */
const NOT_EXACT = new Error('no exact Native form');

/** Hex digit values by char code, 255 = not a hex digit. */
const HEX_VALUE = new Uint8Array(128).fill(255);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[97 + i] = 10 + i;
  HEX_VALUE[65 + i] = 10 + i;
}

/** A growable byte buffer written front to back (little-endian, ClickHouse's binary serializations). */
class NativeBuffer {
  buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  varint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.at++] = v;
  }
  /** A String: varint byte length + UTF-8 bytes (ASCII copied by hand; ill-formed UTF-16 has no exact form). */
  string(value: unknown): void {
    if (typeof value !== 'string') throw NOT_EXACT;
    const length = value.length;
    if (length < 0x80) {
      this.ensure(length + 1);
      const buf = this.buf;
      let at = this.at + 1;
      let i = 0;
      for (; i < length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at++] = c;
      }
      if (i === length) {
        buf[this.at] = length;
        this.at = at;
        return;
      }
    }
    // JSON.stringify writes a lone surrogate as \uD800, which the engine's JSON reader stores its own way
    if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) throw NOT_EXACT;
    const bytes = Buffer.byteLength(value, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.at += this.buf.write(value, this.at, bytes, 'utf8');
  }
  u8(value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xff) throw NOT_EXACT;
    this.ensure(1);
    this.buf[this.at++] = value;
  }
  u16(value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) throw NOT_EXACT;
    this.ensure(2);
    this.buf[this.at++] = value & 0xff;
    this.buf[this.at++] = value >>> 8;
  }
  i32(value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < -0x8000_0000 || value > 0x7fff_ffff) {
      throw NOT_EXACT;
    }
    this.ensure(4);
    this.buf.writeInt32LE(value, this.at);
    this.at += 4;
  }
  /** A safe integer as 64 bits, two's complement (`min` 0 for a UInt64). */
  i64(value: unknown, min = Number.MIN_SAFE_INTEGER): void {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw NOT_EXACT;
    this.ensure(8);
    this.buf.writeUInt32LE(value >>> 0, this.at);
    this.buf.writeInt32LE(Math.floor(value / 0x1_0000_0000), this.at + 4);
    this.at += 8;
  }
  f64(value: unknown): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw NOT_EXACT;
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.at);
    this.at += 8;
  }
  /** A UUID's text (8-4-4-4-12 hex) as its two 64-bit halves, each little-endian. */
  uuid(text: unknown): void {
    if (typeof text !== 'string' || text.length !== 36) throw NOT_EXACT;
    this.ensure(16);
    const at = this.at;
    let byte = 0;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        if (text.charCodeAt(i) !== 45 /* - */) throw NOT_EXACT;
        i++;
      }
      const high = HEX_VALUE[text.charCodeAt(i)] ?? 255;
      const low = HEX_VALUE[text.charCodeAt(i + 1)] ?? 255;
      if (high === 255 || low === 255) throw NOT_EXACT;
      // byte k of the text is byte 7 - k of the first half, 23 - k of the second
      this.buf[at + (byte < 8 ? 7 - byte : 23 - byte)] = (high << 4) | low;
      byte++;
    }
    this.at += 16;
  }
  /** `YYYY-MM-DDTHH:MM:SS.sssZ` as a DateTime64(3) (ms since the epoch); any other text has no exact form here. */
  dateTime64(iso: unknown): void {
    if (typeof iso !== 'string' || iso.length !== 24) throw NOT_EXACT;
    const ms = Date.UTC(
      Number(iso.slice(0, 4)),
      Number(iso.slice(5, 7)) - 1,
      Number(iso.slice(8, 10)),
      Number(iso.slice(11, 13)),
      Number(iso.slice(14, 16)),
      Number(iso.slice(17, 19)),
      Number(iso.slice(20, 23)),
    );
    // the round trip refuses every text Date.UTC would bend (month 13, Feb 30, signs, spaces)
    if (!Number.isFinite(ms) || new Date(ms).toISOString() !== iso) throw NOT_EXACT;
    this.i64(ms);
  }
}

const FIRST_ENTRY_COLUMN = AUDIT_REQUEST_INSERT_COLUMNS.indexOf('e_event_type');
const RESULT_COUNT_COLUMN = AUDIT_REQUEST_INSERT_COLUMNS.indexOf('e_result_count');
const FIRST_PATIENT_COLUMN = AUDIT_REQUEST_INSERT_COLUMNS.indexOf('x_entry');

/**
 * The requests as one Native block (AUDIT_REQUEST_INSERT_COLUMNS, {@link AUDIT_REQUEST_NATIVE_TYPES}): what the
 * embedded store's engine reads cheapest (bench/ingest-parts.ts: columns copied, no text to parse). One pass over
 * the records and their entries, each value appended to its column's buffer, then the columns laid end to end.
 * Stores exactly the rows {@link encodeAuditRequestRows} stores (test/audit-native.test.ts); undefined when a value
 * has no exact binary form here (not a valid record: the caller sends the JSONCompactEachRow rows, which the engine
 * stores or refuses as before).
 */
export function encodeAuditRequestNative(records: readonly AuditRequestRecord[]): Buffer | undefined {
  const n = records.length;
  const small = (): NativeBuffer => new NativeBuffer(64 + n * 16);
  const text = (): NativeBuffer => new NativeBuffer(256 + n * 80);
  const perEntry = (): NativeBuffer => new NativeBuffer(256 + n * 512);
  // one buffer per column, AUDIT_REQUEST_INSERT_COLUMNS order
  const id = small();
  const time = small();
  const recordedBy = text();
  const seq = small();
  const prevHash = text();
  const hash = text();
  const v = small();
  const tenant = text();
  const claimed = small();
  const routed = text();
  const clientId = text();
  const userId = text();
  const userName = text();
  const sourceIp = text();
  const userAgent = text();
  const version = text();
  const batchId = text();
  const traceId = text();
  const status = small();
  const duration = small();
  const eType = perEntry();
  const eInteraction = perEntry();
  const eResource = perEntry();
  const eQuery = perEntry();
  const eIndex = perEntry();
  const eStatus = perEntry();
  const eOutcome = perEntry();
  const eResult = perEntry();
  const xEntry = perEntry();
  const xPatient = perEntry();
  const columns = [
    id,
    time,
    recordedBy,
    seq,
    prevHash,
    hash,
    v,
    tenant,
    claimed,
    routed,
    clientId,
    userId,
    userName,
    sourceIp,
    userAgent,
    version,
    batchId,
    traceId,
    status,
    duration,
    eType,
    eInteraction,
    eResource,
    eQuery,
    eIndex,
    eStatus,
    eOutcome,
    eResult,
    xEntry,
    xPatient,
  ];
  // Array columns: the running end of each row's elements (UInt64), shared by the entry and the patient arrays
  const entryOffsets = small();
  const patientOffsets = small();
  const nullMap = perEntry();
  let entriesEnd = 0;
  let patientsEnd = 0;
  try {
    for (const r of records) {
      id.uuid(r.event_id);
      time.dateTime64(r.event_time);
      recordedBy.string(r.recorded_by);
      seq.i64(r.seq, 0);
      prevHash.string(r.prev_hash);
      hash.string(r.hash);
      v.u8(r.v);
      tenant.string(r.tenant_id);
      claimed.u8(r.tenant_claimed ? 1 : 0);
      routed.string(r.routed_tenant_id);
      clientId.string(r.client_id);
      userId.string(r.user_id);
      userName.string(r.user_name);
      sourceIp.string(r.source_ip);
      userAgent.string(r.user_agent);
      version.string(r.fhir_version);
      batchId.string(r.batch_id);
      traceId.string(r.trace_id);
      status.u16(r.http_status);
      duration.f64(r.duration_ms);
      const entries = r.entries;
      if (entries.length > 0xffff) throw NOT_EXACT;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        eType.string(e.event_type);
        eInteraction.string(e.fhir_interaction);
        eResource.string(e.resource_type);
        eQuery.string(e.query);
        eIndex.i32(e.entry_index);
        eStatus.u16(e.http_status);
        eOutcome.u8(e.outcome);
        const count = e.result_count;
        nullMap.u8(count === null ? 1 : 0);
        eResult.i64(count ?? 0);
        const patients = e.patient_ids;
        for (let j = 0; j < patients.length; j++) {
          xEntry.u16(i + 1);
          xPatient.string(patients[j]);
        }
        patientsEnd += patients.length;
      }
      entriesEnd += entries.length;
      entryOffsets.i64(entriesEnd, 0);
      patientOffsets.i64(patientsEnd, 0);
    }
  } catch (error) {
    if (error === NOT_EXACT) return undefined;
    throw error;
  }
  let size = 16 + entryOffsets.at * 8 + nullMap.at + patientOffsets.at * 2;
  for (let c = 0; c < columns.length; c++) size += 64 + columns[c]!.at;
  const out = new NativeBuffer(size);
  out.varint(columns.length);
  out.varint(n);
  for (let c = 0; c < columns.length; c++) {
    out.string(AUDIT_REQUEST_INSERT_COLUMNS[c]);
    out.string(AUDIT_REQUEST_NATIVE_TYPES[c]);
    if (c >= FIRST_ENTRY_COLUMN) {
      const offsets = c >= FIRST_PATIENT_COLUMN ? patientOffsets : entryOffsets;
      out.ensure(offsets.at);
      out.at += offsets.buf.copy(out.buf, out.at, 0, offsets.at);
    }
    // Array(Nullable(Int64)): the null map of every element before the values
    if (c === RESULT_COUNT_COLUMN) {
      out.ensure(nullMap.at);
      out.at += nullMap.buf.copy(out.buf, out.at, 0, nullMap.at);
    }
    const column = columns[c]!;
    out.ensure(column.at);
    out.at += column.buf.copy(out.buf, out.at, 0, column.at);
  }
  return out.buf.subarray(0, out.at);
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
