/**
 * Bench (a2): what each part of the per-patient storage costs at ingest, on the same request rows in the same run
 * (issue 18: "measure what each part costs and design the storage around what the reports and verify read").
 *
 * Every variant is its own database in one chDB store, built from the schema's own definitions
 * (schema/audit-requests.ts, schema/audit-patient-index.ts, schema/expansion.ts) with one part added, removed or
 * changed; `full` is the schema `migrate` creates (checked: its DDL equals the migrated one). Each round inserts
 * the round's request rows, already encoded (JS cost is measured apart), into every variant, interleaved insert by
 * insert in rotating order, in inserts of BENCH_PARTS_BATCH requests; the figure is the process CPU (engine
 * threads) per per-patient event spent inside the inserts, median of the rounds. Merges are stopped during the
 * inserts, so an insert's CPU is its own; then every table is merged once (OPTIMIZE FINAL), timed apart: the
 * `merge` column (background merges pay about that again at each level of merging; bench/writer.ts counts them).
 *
 * The JS side (parse, validation, encoding) is timed on the same requests' wire lines, per event.
 *
 * `npx node --conditions=fhirwatch-source bench/ingest-parts.ts` (or BENCH_SCENARIOS=ingest-parts.ts npm run bench);
 * BENCH_PARTS_REQUESTS (default 3000 per round), BENCH_PARTS_ROUNDS (default 5), BENCH_PARTS_BATCH (default 1000),
 * BENCH_PARTS_ONLY=<key,…> (a subset of the variants; `full` always runs).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { AUDIT_RECORD_FIELDS, type AuditRecord, type AuditRequestRecord } from '@fhirwatch/contract';
import { createChdbConnection } from 'chdb/connection';
import { parseAuditLines } from '../src/ingest/parse.ts';
import { auditRequestProblem } from '../src/ingest/validate.ts';
import {
  AUDIT_REQUEST_INSERT_COLUMNS,
  AUDIT_REQUEST_NATIVE_TYPES,
  auditRequestRowValues,
  encodeAuditRequestNative,
  encodeAuditRequestRows,
} from '../src/store/audit-encode.ts';
import { nativeInsert } from '../src/store/open.ts';
import { DEFAULT_AUDIT_RETENTION_DAYS } from '../src/store/schema/audit.ts';
import {
  AUDIT_PATIENT_INDEX_TABLE,
  AUDIT_PATIENT_INDEX_VIEW,
  auditPatientIndexTable,
  requestUserProjection,
} from '../src/store/schema/audit-patient-index.ts';
import { AUDIT_REQUESTS_TABLE, auditRequestsTable } from '../src/store/schema/audit-requests.ts';
import { expansionSelect, expansionSelectLinear } from '../src/store/schema/expansion.ts';
import { migrate } from '../src/store/schema/migrations.ts';
import { renderDatabase, renderObject } from '../src/store/schema/render.ts';
import type { SchemaObject, StatementDef, TableDef } from '../src/store/schema/types.ts';
import { generateRequests } from '../test/records.ts';

const requestsPerRound = Number(process.env.BENCH_PARTS_REQUESTS ?? 3000);
const rounds = Number(process.env.BENCH_PARTS_ROUNDS ?? 5);
const batch = Number(process.env.BENCH_PARTS_BATCH ?? 1000);
const DAYS = DEFAULT_AUDIT_RETENTION_DAYS;

type Format = 'JSONCompactEachRow' | 'JSONEachRow' | 'TSV' | 'CSV' | 'RowBinary via file()' | 'Native';
type Index = 'none' | 'narrow' | 'wide';

interface Variant {
  key: string;
  label: string;
  /** What the row is measured against (its delta is the part's cost). */
  base?: string;
  bloom: boolean;
  projection: boolean;
  index: Index;
  /**
   * CODECs: the schema's, none at all, LZ4 for ZSTD on the index (Delta kept), or that with ZSTD(1) kept on the
   * index's two hash columns.
   */
  codecs: 'schema' | 'none' | 'index-lz4' | 'index-lz4-hash-zstd';
  format: Format;
  settings: Record<string, string | number>;
  /** The index table's settings instead of the schema's (e.g. migration 14's granules). */
  indexSettings?: Record<string, string | number>;
  /** The index view's expansion: linear (migration 16, default) or migration 15's (entry fields after the ARRAY JOIN). */
  expansion?: 'linear' | 'quadratic';
  /** Requests per insert (default `batch`). */
  batch?: number;
  cpu: number[];
  bytes?: number;
  /** CPU per event of merging everything inserted into one part per partition (OPTIMIZE FINAL). */
  merge?: number;
}

/** The writer's settings (audit-writer.ts INSERT_SETTINGS). */
const WRITER = { optimize_on_insert: 0 };
const full = {
  bloom: true,
  projection: true,
  index: 'wide' as Index,
  codecs: 'schema' as Variant['codecs'],
  format: 'JSONCompactEachRow' as Format,
};
const v = (key: string, label: string, base: string | undefined, parts: Partial<Variant>): Variant => ({
  key,
  label,
  ...(base === undefined ? {} : { base }),
  ...full,
  settings: WRITER,
  cpu: [],
  ...parts,
});

const variants: Variant[] = [
  v('bare', 'audit_requests alone (no skip index, no projection)', undefined, {
    bloom: false,
    projection: false,
    index: 'none',
  }),
  v('bloom', '+ bloom_filter index on request_id', 'bare', { projection: false, index: 'none' }),
  v('proj', '+ by_user projection (= audit_requests as migrated)', 'bloom', { index: 'none' }),
  v('narrow', '+ view expanding into a 6-column index (migration 11)', 'proj', { index: 'narrow' }),
  v('full', '+ view expanding into the 26-column index (as migrated: migration 16) = FULL', 'proj', {}),
  v('control', 'FULL again, its own database (control: the noise floor)', 'full', {}),
  v('quad', "FULL with migration 15's view (entry fields read after the ARRAY JOIN)", 'full', {
    expansion: 'quadratic',
  }),
  v('nocodec', 'FULL with default codecs (LZ4) instead of the schema CODECs', 'full', { codecs: 'none' }),
  v('idxlz4', 'FULL with LZ4 for ZSTD on the index (Delta kept)', 'full', { codecs: 'index-lz4' }),
  v('hashzstd', 'FULL with LZ4 on the index but ZSTD(1) on its hashes', 'full', { codecs: 'index-lz4-hash-zstd' }),
  v('granules', "FULL with migration 14's index storage (8192-row granules)", 'full', {
    indexSettings: { index_granularity: 8192 },
  }),
  v('ooi', 'FULL with optimize_on_insert = 1 (ClickHouse default)', 'full', { settings: { optimize_on_insert: 1 } }),
  v('nopp', 'FULL with input_format_parallel_parsing = 0', 'full', {
    settings: { ...WRITER, input_format_parallel_parsing: 0 },
  }),
  v('noskip', 'FULL with materialize_skip_indexes_on_insert = 0', 'full', {
    settings: { ...WRITER, materialize_skip_indexes_on_insert: 0 },
  }),
  v('threads1', 'FULL with max_threads = 1', 'full', { settings: { ...WRITER, max_threads: 1 } }),
  v('pvp', 'FULL with parallel_view_processing = 1', 'full', { settings: { ...WRITER, parallel_view_processing: 1 } }),
  v('small', `FULL, inserts of ${Math.max(1, Math.round(batch / 4))} requests`, 'full', {
    batch: Math.max(1, Math.round(batch / 4)),
  }),
  v('large', `FULL, inserts of ${batch * 3} requests`, 'full', { batch: batch * 3 }),
  v('jsoneach', 'FULL, format JSONEachRow', 'full', { format: 'JSONEachRow' }),
  v('tsv', 'FULL, format TSV', 'full', { format: 'TSV' }),
  v('csv', 'FULL, format CSV', 'full', { format: 'CSV' }),
  v('file', 'FULL, RowBinary from a tmpfs file() INSERT SELECT', 'full', { format: 'RowBinary via file()' }),
  v('native', "FULL, Native block (the writer's embedded path)", 'full', { format: 'Native' }),
  v('barenative', "audit_requests alone, Native block (the writer's embedded path)", 'bare', {
    bloom: false,
    projection: false,
    index: 'none',
    format: 'Native',
  }),
];
const only = process.env.BENCH_PARTS_ONLY?.split(',');
const active = only === undefined ? variants : variants.filter((x) => only.includes(x.key) || x.key === 'full');

// ---- DDL of a variant, from the schema's definitions
function requestsTable(variant: Variant): TableDef {
  const def = auditRequestsTable(DAYS);
  return {
    ...def,
    indexes: variant.bloom ? (def.indexes ?? []) : [],
    columns: variant.codecs !== 'none' ? def.columns : def.columns.map(({ codec: _codec, ...c }) => c),
  };
}
const NARROW: readonly (keyof AuditRecord)[] = [
  'patient_id',
  'tenant_id',
  'event_time',
  'recorded_by',
  'seq',
  'event_id',
];
/** The index's ZSTD codecs made LZ4 (Delta kept), or all but the two hash columns'. */
const indexCodecs = (keepHashZstd: boolean): StatementDef => ({
  kind: 'statement',
  name: 'index_lz4',
  tables: [AUDIT_PATIENT_INDEX_TABLE],
  sql: `ALTER TABLE {table} ${auditPatientIndexTable(DAYS)
    .columns.filter(
      (c) => c.codec?.includes('ZSTD') && !(keepHashZstd && (c.name === 'hash' || c.name === 'prev_hash')),
    )
    .map((c) => `MODIFY COLUMN ${c.name} ${c.codec!.replace(/ZSTD\(\d+\)/, 'LZ4')}`)
    .join(', ')}`,
});
function indexObjects(variant: Variant): SchemaObject[] {
  if (variant.index === 'none') return [];
  const fields = variant.index === 'wide' ? AUDIT_RECORD_FIELDS : NARROW;
  const wide = auditPatientIndexTable(DAYS);
  const columns = fields.map((name) => wide.columns.find((c) => c.name === name)!);
  return [
    {
      ...wide,
      columns: variant.codecs === 'none' ? columns.map(({ codec: _codec, ...c }) => c) : columns,
      ...(variant.indexSettings === undefined ? {} : { settings: variant.indexSettings }),
    },
    {
      kind: 'materialized-view',
      name: AUDIT_PATIENT_INDEX_VIEW,
      to: AUDIT_PATIENT_INDEX_TABLE,
      from: AUDIT_REQUESTS_TABLE,
      select: variant.expansion === 'quadratic' ? expansionSelect(fields) : expansionSelectLinear(fields),
    },
    ...(variant.codecs === 'index-lz4' || variant.codecs === 'index-lz4-hash-zstd'
      ? [indexCodecs(variant.codecs === 'index-lz4-hash-zstd')]
      : []),
  ];
}
function ddl(variant: Variant, database: string): string[] {
  const o = { database };
  const objects: SchemaObject[] = [
    requestsTable(variant),
    ...(variant.projection ? requestUserProjection : []),
    ...indexObjects(variant),
  ];
  return [renderDatabase(o), ...objects.flatMap((x) => renderObject(x, o))];
}

// ---- encoders of the formats (the schema's codec is JSONCompactEachRow, audit-encode.ts)
const tsvText = (s: string): string =>
  s.replace(/[\\\t\n\r\0]/g, (c) => ({ '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' })[c] ?? '\\\\');
const quoted = (s: string): string =>
  `'${s
    .replace(/[\\']/g, (c) => `\\${c}`)
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')}'`;
const arrayText = (a: readonly unknown[]): string =>
  `[${a.map((x) => (x === null ? 'NULL' : typeof x === 'string' ? quoted(x) : String(x))).join(',')}]`;
function encodeTsv(records: readonly AuditRequestRecord[]): Buffer {
  let text = '';
  for (const r of records) {
    const values = auditRequestRowValues(r);
    text += `${values.map((x) => (Array.isArray(x) ? tsvText(arrayText(x)) : tsvText(String(x)))).join('\t')}\n`;
  }
  return Buffer.from(text, 'utf8');
}
function encodeCsv(records: readonly AuditRequestRecord[]): Buffer {
  let text = '';
  const cell = (s: string): string => `"${s.replaceAll('"', '""')}"`;
  for (const r of records) {
    const values = auditRequestRowValues(r);
    text += `${values.map((x) => (Array.isArray(x) ? cell(arrayText(x)) : typeof x === 'string' ? cell(x) : String(x))).join(',')}\n`;
  }
  return Buffer.from(text, 'utf8');
}
function encodeJsonEachRow(records: readonly AuditRequestRecord[]): Buffer {
  let text = '';
  for (const r of records) {
    const values = auditRequestRowValues(r);
    const row: Record<string, unknown> = {};
    AUDIT_REQUEST_INSERT_COLUMNS.forEach((c, i) => {
      row[c] = values[i];
    });
    text += `${JSON.stringify(row)}\n`;
  }
  return Buffer.from(text, 'utf8');
}
const ENCODERS: Record<Format, (records: readonly AuditRequestRecord[]) => Buffer> = {
  JSONCompactEachRow: encodeAuditRequestRows,
  JSONEachRow: encodeJsonEachRow,
  TSV: encodeTsv,
  CSV: encodeCsv,
  'RowBinary via file()': encodeAuditRequestRowBinary,
  Native: (records) => encodeAuditRequestNative(records)!,
};

// ---- RowBinary (AUDIT_REQUEST_INSERT_COLUMNS order and types), for the file() variant
/** Hex digit value by char code (lowercase and uppercase). */
const HEX = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[97 + i] = 10 + i;
  HEX[65 + i] = 10 + i;
}

/** A growable byte buffer for RowBinary rows. */
class RowBinaryBuffer {
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
    this.ensure(5);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.at++] = v;
  }
  string(value: string): void {
    // up to 42 UTF-16 units are at most 126 UTF-8 bytes: a one-byte length, written after the bytes are
    if (value.length <= 42) {
      this.ensure(127);
      const n = this.buf.write(value, this.at + 1, 'utf8');
      this.buf[this.at] = n;
      this.at += n + 1;
      return;
    }
    const n = Buffer.byteLength(value, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.at += this.buf.write(value, this.at, 'utf8');
  }
  u8(value: number): void {
    this.ensure(1);
    this.buf[this.at++] = value;
  }
  u16(value: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(value, this.at);
    this.at += 2;
  }
  i32(value: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(value, this.at);
    this.at += 4;
  }
  /** A safe integer as a little-endian 64-bit integer (two's complement for negatives). */
  i64(value: number): void {
    this.ensure(8);
    const low = value % 0x1_0000_0000;
    const high = Math.floor(value / 0x1_0000_0000);
    this.buf.writeUInt32LE(low < 0 ? low + 0x1_0000_0000 : low, this.at);
    this.buf.writeInt32LE(high, this.at + 4);
    this.at += 8;
  }
  f64(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.at);
    this.at += 8;
  }
  /** A UUID's text (8-4-4-4-12 hex) as RowBinary: its two 64-bit halves, each little-endian. */
  uuid(text: string): void {
    this.ensure(16);
    const at = this.at;
    let byte = 0;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) i++;
      const value = (HEX[text.charCodeAt(i)]! << 4) | HEX[text.charCodeAt(i + 1)]!;
      // byte k of the text is byte 7 - k of the first half, 15 - (k - 8) of the second
      this.buf[at + (byte < 8 ? 7 - byte : 23 - byte)] = value;
      byte++;
    }
    this.at += 16;
  }
  strings(values: readonly string[]): void {
    this.varint(values.length);
    for (const value of values) this.string(value);
  }
}

/** Milliseconds since the epoch of a validated `YYYY-MM-DDTHH:MM:SS.sssZ`. */
function epochMs(iso: string): number {
  const n = (from: number, to: number): number => Number(iso.slice(from, to));
  return Date.UTC(n(0, 4), n(5, 7) - 1, n(8, 10), n(11, 13), n(14, 16), n(17, 19), n(20, 23));
}

/**
 * The requests as RowBinary rows (AUDIT_REQUEST_INSERT_COLUMNS order and types): what the engine parses
 * cheapest. Records must be valid (validate.ts).
 */
function encodeAuditRequestRowBinary(records: readonly AuditRequestRecord[]): Buffer {
  const out = new RowBinaryBuffer(records.length * 2048);
  for (const r of records) {
    out.uuid(r.event_id);
    out.i64(epochMs(r.event_time));
    out.string(r.recorded_by);
    out.i64(r.seq);
    out.string(r.prev_hash);
    out.string(r.hash);
    out.u8(r.v);
    out.string(r.tenant_id);
    out.u8(r.tenant_claimed ? 1 : 0);
    out.string(r.routed_tenant_id);
    out.string(r.client_id);
    out.string(r.user_id);
    out.string(r.user_name);
    out.string(r.source_ip);
    out.string(r.user_agent);
    out.string(r.fhir_version);
    out.string(r.batch_id);
    out.string(r.trace_id);
    out.u16(r.http_status);
    out.f64(r.duration_ms);
    const entries = r.entries;
    const n = entries.length;
    out.varint(n);
    for (const e of entries) out.string(e.event_type);
    out.varint(n);
    for (const e of entries) out.string(e.fhir_interaction);
    out.varint(n);
    for (const e of entries) out.string(e.resource_type);
    out.varint(n);
    for (const e of entries) out.string(e.query);
    out.varint(n);
    for (const e of entries) out.i32(e.entry_index);
    out.varint(n);
    for (const e of entries) out.u16(e.http_status);
    out.varint(n);
    for (const e of entries) out.u8(e.outcome);
    out.varint(n);
    for (const e of entries) {
      if (e.result_count === null) out.u8(1);
      else {
        out.u8(0);
        out.i64(e.result_count);
      }
    }
    let rows = 0;
    for (const e of entries) rows += e.patient_ids.length;
    out.varint(rows);
    for (let i = 0; i < n; i++) for (let j = 0; j < entries[i]!.patient_ids.length; j++) out.u16(i + 1);
    out.varint(rows);
    for (const e of entries) for (const p of e.patient_ids) out.string(p);
  }
  return out.buf.subarray(0, out.at);
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const cpuNow = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const countEvents = (requests: readonly AuditRequestRecord[]): number =>
  requests.reduce((n, r) => n + r.entries.reduce((m, e) => m + e.patient_ids.length, 0), 0);

const dir = mkdtempSync(join(tmpdir(), 'fw-sink-parts-'));
const shm = mkdtempSync(join('/dev/shm', 'fw-sink-parts-'));
const connection = createChdbConnection({ path: dir });
const session = connection.chdb as unknown as {
  queryAsync(sql: string, format?: string): Promise<{ text(): string }>;
  rawInsert(params: {
    table: string;
    columns: readonly string[];
    format: string;
    values: Buffer;
    settings?: object;
  }): Promise<unknown>;
};
// chdb's raw insert takes text formats only (its whitelist). Its native entry does take a RowBinary body, but
// misreads it (measured: CANNOT_READ_ALL_DATA at row 70 of the second insert of 500 requests, with or without a
// header): binary rows reach the engine here through a file() on tmpfs instead.
const settingsClause = (s: Record<string, string | number>): string => {
  const entries = Object.entries(s);
  return entries.length === 0 ? '' : ` SETTINGS ${entries.map(([k, x]) => `${k} = ${x}`).join(', ')}`;
};
const columnsClause = `(${AUDIT_REQUEST_INSERT_COLUMNS.join(', ')})`;
const rowBinaryStructure = requestsTable({ ...variants[0]!, codecs: 'none' })
  .columns.map((c) => `${c.name} ${c.type}`)
  .join(', ')
  .replaceAll("'", "\\'");

async function insert(variant: Variant, body: Buffer, n: number): Promise<void> {
  const table = `${variant.key}.${AUDIT_REQUESTS_TABLE}`;
  if (variant.format === 'RowBinary via file()') {
    const file = join(shm, `${n}.rb`);
    writeFileSync(file, body);
    await session.queryAsync(
      `INSERT INTO ${table} ${columnsClause} SELECT * FROM file('${file}', RowBinary, '${rowBinaryStructure}')${settingsClause(variant.settings)}`,
    );
    rmSync(file);
  } else if (variant.format === 'Native') {
    await nativeInsert(
      session,
      join(dir, 'native-inserts', `${n}.native`),
      table,
      AUDIT_REQUEST_INSERT_COLUMNS,
      AUDIT_REQUEST_NATIVE_TYPES,
      body,
      variant.settings,
    );
  } else {
    await session.rawInsert({
      table,
      columns: AUDIT_REQUEST_INSERT_COLUMNS,
      format: variant.format,
      values: body,
      settings: variant.settings,
    });
  }
}

try {
  // the reference: the schema as `migrate` makes it
  const client = createClient({ connection: connection as never, log: { level: ClickHouseLogLevel.OFF } });
  await migrate(client, { database: 'migrated' });
  const show = async (sql: string): Promise<string> =>
    (await session.queryAsync(sql, 'TSVRaw')).text().replaceAll('migrated.', 'X.').replaceAll('full.', 'X.');
  for (const variant of active) for (const statement of ddl(variant, variant.key)) await session.queryAsync(statement);
  for (const variant of active) {
    for (const t of [AUDIT_REQUESTS_TABLE, AUDIT_PATIENT_INDEX_TABLE]) {
      if (t === AUDIT_PATIENT_INDEX_TABLE && variant.index === 'none') continue;
      await session.queryAsync(`SYSTEM STOP MERGES ${variant.key}.${t}`);
    }
  }
  let same = true;
  for (const t of [AUDIT_REQUESTS_TABLE, AUDIT_PATIENT_INDEX_TABLE, AUDIT_PATIENT_INDEX_VIEW]) {
    if ((await show(`SHOW CREATE TABLE migrated.${t}`)) !== (await show(`SHOW CREATE TABLE full.${t}`))) {
      same = false;
      console.log(`full.${t} differs from the migrated schema:\n${await show(`SHOW CREATE TABLE full.${t}`)}`);
    }
  }

  // ---- JS side, per event, on the wire lines
  const js: Record<string, number[]> = {
    'split + CRC + JSON.parse + validate (parseAuditLines)': [],
    'JSON.parse alone': [],
    'validate alone (auditRequestProblem)': [],
    'encode JSONCompactEachRow (the server path)': [],
    'encode Native (the embedded path)': [],
    'encode RowBinary': [],
  };
  let events = 0;
  let chain: ReturnType<typeof generateRequests>['end'] | undefined;
  // round -1 warms up (JIT, first parts of every table) and is not counted
  for (let round = -1; round < rounds; round++) {
    // chained with a real key: the hashes are random hex, as stored (they dominate the index's compressed bytes)
    const generated = generateRequests({
      count: requestsPerRound,
      offset: (round + 1) * requestsPerRound,
      patients: 50_000,
      users: 500,
      key: 'ingest-parts',
      ...(chain === undefined ? {} : { chainFrom: chain }),
    });
    chain = generated.end;
    const requests = generated.requests;
    const n = countEvents(requests);
    if (round >= 0) events += n;
    const lines = requests.map((r) => JSON.stringify(r));
    const framed = Buffer.from(
      lines.map((l) => `${(crc32(l) >>> 0).toString(16).padStart(8, '0')} ${l}\n`).join(''),
      'utf8',
    );
    const timeJs = (name: string, fn: () => void): void => {
      const c0 = cpuNow();
      fn();
      if (round >= 0) js[name]!.push((cpuNow() - c0) / n);
    };
    timeJs('split + CRC + JSON.parse + validate (parseAuditLines)', () => parseAuditLines(framed, 1e9, true));
    let parsed: unknown[] = [];
    timeJs('JSON.parse alone', () => {
      parsed = lines.map((l) => JSON.parse(l));
    });
    timeJs('validate alone (auditRequestProblem)', () => {
      for (const p of parsed) if (auditRequestProblem(p) !== undefined) throw new Error('invalid');
    });
    timeJs('encode JSONCompactEachRow (the server path)', () => {
      for (let i = 0; i < requests.length; i += batch) encodeAuditRequestRows(requests.slice(i, i + batch));
    });
    timeJs('encode Native (the embedded path)', () => {
      for (let i = 0; i < requests.length; i += batch) encodeAuditRequestNative(requests.slice(i, i + batch));
    });
    timeJs('encode RowBinary', () => {
      for (let i = 0; i < requests.length; i += batch) encodeAuditRequestRowBinary(requests.slice(i, i + batch));
    });

    // ---- engine side
    const bodies = new Map<string, Buffer[]>();
    const bodiesOf = (format: Format, size: number): Buffer[] => {
      const key = `${format}/${size}`;
      let list = bodies.get(key);
      if (list === undefined) {
        list = [];
        for (let i = 0; i < requests.length; i += size) list.push(ENCODERS[format](requests.slice(i, i + size)));
        bodies.set(key, list);
      }
      return list;
    };
    // interleaved finely: step s inserts the s-th slice of every variant's bodies (order rotated), so a burst of
    // load on the shared machine falls on every variant alike
    const steps = Math.ceil(requests.length / batch);
    const spent = new Map<Variant, number>(active.map((x) => [x, 0]));
    for (let step = 0; step < steps; step++) {
      for (let k = 0; k < active.length; k++) {
        const variant = active[(step + round + 1 + k) % active.length]!;
        const list = bodiesOf(variant.format, variant.batch ?? batch);
        const from = Math.floor((step * list.length) / steps);
        const to = Math.floor(((step + 1) * list.length) / steps);
        for (let i = from; i < to; i++) {
          const c0 = cpuNow();
          await insert(variant, list[i]!, i).catch((error: unknown) => {
            throw new Error(`variant ${variant.key}, insert ${i}: ${(error as Error).message}`);
          });
          spent.set(variant, spent.get(variant)! + cpuNow() - c0);
        }
      }
    }
    if (round >= 0) for (const [variant, cpu] of spent) variant.cpu.push(cpu / n);
  }
  for (const variant of active) {
    const c0 = cpuNow();
    for (const t of [AUDIT_REQUESTS_TABLE, AUDIT_PATIENT_INDEX_TABLE]) {
      if (t === AUDIT_PATIENT_INDEX_TABLE && variant.index === 'none') continue;
      await session.queryAsync(`SYSTEM START MERGES ${variant.key}.${t}`);
      await session.queryAsync(`OPTIMIZE TABLE ${variant.key}.${t} FINAL`);
      await session.queryAsync(`SYSTEM STOP MERGES ${variant.key}.${t}`);
    }
    variant.merge = (cpuNow() - c0) / (events + events / rounds);
    const bytes = await session.queryAsync(
      `SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '${variant.key}'`,
      'TSVRaw',
    );
    variant.bytes = Number(bytes.text()) / (events + events / rounds);
  }

  const fullCpu = median(variants.find((x) => x.key === 'full')!.cpu);
  console.log(
    `bench (a2) ingest parts: ${rounds} rounds x ${requestsPerRound} request records (${Math.round(events / rounds).toLocaleString('en-US')} per-patient events a round), inserts of ${batch} requests, merges stopped`,
  );
  console.log(
    `node ${process.version}, cpu ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; full variant DDL = migrated schema: ${same ? 'yes' : 'NO'}`,
  );
  const pad = (s: string, n: number): string => s.padEnd(n);
  console.log(
    `\n${pad('engine part (same rows, same run)', 66)} ${'CPU us/event'.padStart(12)} ${'part'.padStart(8)} ${'share'.padStart(7)} ${'bytes/ev'.padStart(9)} ${'merge'.padStart(6)}  rounds`,
  );
  for (const variant of active) {
    const cpu = median(variant.cpu);
    const base = variant.base === undefined ? undefined : active.find((x) => x.key === variant.base);
    const part = base === undefined ? cpu : cpu - median(base.cpu);
    console.log(
      `${pad(variant.label, 66)} ${cpu.toFixed(2).padStart(12)} ${`${part >= 0 ? '+' : ''}${part.toFixed(2)}`.padStart(8)} ${`${((part / fullCpu) * 100).toFixed(0)}%`.padStart(7)} ${(variant.bytes ?? 0).toFixed(1).padStart(9)} ${(variant.merge ?? 0).toFixed(2).padStart(6)}  ${variant.cpu.map((x) => x.toFixed(2)).join(', ')}`,
    );
  }
  console.log(`\n${pad('JS part (per per-patient event)', 66)} ${'CPU us/event'.padStart(12)}`);
  for (const [name, values] of Object.entries(js)) {
    console.log(
      `${pad(name, 66)} ${median(values).toFixed(2).padStart(12)}  ${values.map((x) => x.toFixed(2)).join(', ')}`,
    );
  }
  console.log(
    `\n"part" = the row minus the row it builds on (ladder: bare -> +bloom -> +projection -> +index view; the FULL alternatives vs FULL); share = part / FULL (${fullCpu.toFixed(2)} us/event); bytes/ev = stored bytes per event after the merge; merge = CPU us per event of OPTIMIZE FINAL (every part of the run into one per partition: merges cost this again at each level of merging). load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await client.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(shm, { recursive: true, force: true });
}
