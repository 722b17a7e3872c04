/**
 * `audit verify` level 2 covers every field of a per-patient index row. The row hash is composed (verify.ts): a
 * keyed digest of the request fields, one of the entry fields (the expected side computes each once per request /
 * entry), LowCardinality text hashed alone, then the row id and the patient. On a real chDB store: each of the
 * index's fields changed in one stored row (a different row per field), a text boundary shifted between two
 * adjacent fields (same concatenated bytes), two LowCardinality values swapped, another entry's fields and another
 * request's fields copied onto a row: each such row is named, and nothing else is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { type AuditRecord, type AuditRequestRecord, expandRequestRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RowIssue, verifyAuditChain } from '../src/compliance/verify.ts';
import { migrate, openStore } from '../src/index.ts';
import {
  AUDIT_REQUEST_INSERT_COLUMNS,
  auditRequestRowValues,
  encodeAuditRequestRows,
} from '../src/store/audit-encode.ts';
import { rawInsertOf } from '../src/store/open.ts';
import { AUDIT_PATIENT_INDEX_TABLE, PATIENT_INDEX_FIELDS } from '../src/store/schema/index.ts';
import { generateRequests } from './records.ts';

const KEY = 'fhirwatch-test-key';
const WRITER = 'gw-fields';
const ORDER_WRITER = 'gw-order';
const generated = generateRequests({ count: 12, recordedBy: WRITER, key: KEY, patients: 40 });
const rows = generated.requests.flatMap(expandRequestRecord);
let dir: string;
let client: ClickHouseClient;

type Stored = Record<string, unknown>;
const storedRows = async (ids: string[]): Promise<Map<string, Stored>> => {
  const result = await client.query({
    // ORDER_WRITER's request reuses WRITER's first request's ids: name the writer, or either writer's row may come back
    query: `SELECT * FROM ${AUDIT_PATIENT_INDEX_TABLE} WHERE event_id IN {ids:Array(UUID)} AND recorded_by = {w:String}`,
    query_params: { ids, w: WRITER },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  const list = (await result.json()) as Stored[];
  return new Map(list.map((row) => [String(row.event_id), row]));
};
const verifyWriter = async () =>
  (await verifyAuditChain(client, { key: KEY, recordedBy: [WRITER], writeCheckpoint: false })).writers[0];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-verify-row-fields-'));
  client = openStore({ path: dir });
  await migrate(client);
  const raw = rawInsertOf(client);
  if (raw === undefined) throw new Error('a chDB store has a raw insert');
  await raw(
    'audit_requests',
    AUDIT_REQUEST_INSERT_COLUMNS,
    'JSONCompactEachRow',
    encodeAuditRequestRows(generated.requests),
  );
}, 120_000);
afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A changed value of each field, as an index row stores it (JSONEachRow). */
const CHANGE: Readonly<Record<keyof AuditRecord, (value: unknown) => unknown>> = {
  event_id: () => '019a5000-0000-7000-8000-0000000000ff',
  event_time: (v) =>
    String(v).replace(/\.(\d{3})$/, (_, ms: string) => `.${String((Number(ms) + 1) % 1000).padStart(3, '0')}`),
  recorded_by: (v) => `${String(v)}x`,
  seq: (v) => Number(v) + 1,
  prev_hash: (v) => `${String(v)}0`,
  hash: (v) => `0${String(v)}`,
  tenant_id: (v) => `${String(v)}x`,
  routed_tenant_id: (v) => `${String(v)}x`,
  client_id: (v) => `${String(v)}x`,
  user_id: (v) => `${String(v)}x`,
  user_name: (v) => `${String(v)}x`,
  source_ip: (v) => `${String(v)}x`,
  user_agent: (v) => `${String(v)}x`,
  event_type: (v) => `${String(v)}x`,
  fhir_interaction: (v) => `${String(v)}x`,
  resource_type: (v) => `${String(v)}x`,
  fhir_version: (v) => `${String(v)}x`,
  query: (v) => `${String(v)}x`,
  patient_id: (v) => `${String(v)}x`,
  batch_id: (v) => `${String(v)}x`,
  entry_index: (v) => Number(v) + 1,
  trace_id: (v) => `${String(v)}x`,
  outcome: (v) => (Number(v) + 1) % 256,
  http_status: (v) => Number(v) + 1,
  duration_ms: (v) => Number(v) + 0.5,
  result_count: (v) => (v === null ? 7 : null),
};

describe('audit verify level 2: every field of an index row is proved', () => {
  it('a request stored with its expansion rows out of entry order (a hand-made row) verifies, and its rows are proved', async () => {
    // what a writer stores: x_entry = 1,2,…,36,36,36,36,36 (each entry's rows together, in entry order); here the
    // same request with its entries' runs of (x_entry, x_patient_id) in reverse order: the expansion, the index's
    // view and verify all read the stored order (level 1 re-checks the record in JS, which groups them by entry)
    // (the same request ids as WRITER's first request: every statement here names its writer)
    const request = generateRequests({ count: 1, recordedBy: ORDER_WRITER, key: KEY, patients: 40 }).requests;
    const row = auditRequestRowValues(request[0] as AuditRequestRecord) as unknown[];
    const at = (name: string): number => AUDIT_REQUEST_INSERT_COLUMNS.indexOf(name);
    const entries = row[at('x_entry')] as number[];
    const patients = row[at('x_patient_id')] as string[];
    // the entries' runs in reverse order, each entry's patients in their order (what the record signed)
    const runs = new Map<number, string[]>();
    for (const [i, entry] of entries.entries()) runs.set(entry, [...(runs.get(entry) ?? []), patients[i] as string]);
    const reversed = [...runs].reverse();
    row[at('x_entry')] = reversed.flatMap(([entry, ps]) => ps.map(() => entry));
    row[at('x_patient_id')] = reversed.flatMap(([, ps]) => ps);
    expect(row[at('x_entry')]).not.toEqual(entries);
    const raw = rawInsertOf(client);
    if (raw === undefined) throw new Error('a chDB store has a raw insert');
    await raw(
      'audit_requests',
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      Buffer.from(`${JSON.stringify(row)}\n`),
    );
    const verify = async () =>
      (await verifyAuditChain(client, { key: KEY, recordedBy: [ORDER_WRITER], writeCheckpoint: false })).writers[0];
    const w = await verify();
    expect(w?.issues).toEqual([]);
    expect(w).toMatchObject({ ok: true, records: 1, rechecked: 1, expected_rows: 40, stored_rows: 40, row_issues: [] });
    // the last entry's rows come first now: one of them altered is named
    const [first] = (await (
      await client.query({
        query: `SELECT toString(event_id) AS id FROM ${AUDIT_PATIENT_INDEX_TABLE} WHERE recorded_by = {w:String} ORDER BY event_id LIMIT 1`,
        query_params: { w: ORDER_WRITER },
        format: 'JSONEachRow',
      })
    ).json()) as { id: string }[];
    await client.command({
      query: `ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} UPDATE query = concat(query, 'x') WHERE event_id = {id:UUID} AND recorded_by = {w:String}`,
      query_params: { id: first?.id, w: ORDER_WRITER },
      clickhouse_settings: { mutations_sync: '2' },
    });
    expect((await verify())?.row_issues).toEqual([{ reason: 'altered-row', seq: 1, event_id: first?.id }]);
  });

  it('names each row with one field changed, a shifted text boundary, swapped values, another entry’s or request’s fields', async () => {
    expect((await verifyWriter())?.ok).toBe(true);
    // a different row per change, spread over the requests (each request has 3–40 rows)
    const pick = (i: number): AuditRecord => rows[(i * 11) % rows.length] as AuditRecord;
    const fields = [...PATIENT_INDEX_FIELDS];
    const targets = fields.map((field, i) => ({ field, row: pick(i) }));
    const boundary = pick(fields.length);
    const swapped = pick(fields.length + 1);
    const otherEntry = rows.find((r) => r.seq === 2 && r.event_type === 'ConditionsView') as AuditRecord;
    const otherRequest = rows.find((r) => r.seq === 4) as AuditRecord;
    const all = [...targets.map((t) => t.row), boundary, swapped, otherEntry, otherRequest];
    expect(new Set(all.map((r) => r.event_id)).size).toBe(all.length);
    const stored = await storedRows(all.map((r) => r.event_id));
    expect(stored.size).toBe(all.length);
    const of = (row: AuditRecord): Stored => ({ ...(stored.get(row.event_id) as Stored) });

    const replacements: Stored[] = targets.map(({ field, row }) => {
      const value = of(row);
      return { ...value, [field]: CHANGE[field](value[field]) };
    });
    // user_id + user_name spell the same bytes with the boundary moved one character
    {
      const value = of(boundary);
      const name = String(value.user_name);
      replacements.push({ ...value, user_id: `${String(value.user_id)}${name.slice(0, 1)}`, user_name: name.slice(1) });
    }
    // two LowCardinality values trade places
    {
      const value = of(swapped);
      replacements.push({ ...value, event_type: value.resource_type, resource_type: value.event_type });
    }
    // the entry fields of another entry of the same request (a list refresh: 36 entries)
    {
      const donor = rows.find((r) => r.seq === otherEntry.seq && r.event_type === 'EncountersView') as AuditRecord;
      const given = (await storedRows([donor.event_id])).get(donor.event_id) as Stored;
      const entryFields = ['event_type', 'fhir_interaction', 'resource_type', 'query', 'entry_index', 'outcome'];
      replacements.push({ ...of(otherEntry), ...Object.fromEntries(entryFields.map((f) => [f, given[f]])) });
    }
    // the request fields (user, chain hash) of another request
    {
      const donor = rows.find((r) => r.seq !== otherRequest.seq && r.user_id !== otherRequest.user_id) as AuditRecord;
      const given = (await storedRows([donor.event_id])).get(donor.event_id) as Stored;
      replacements.push({ ...of(otherRequest), user_id: given.user_id, user_name: given.user_name, hash: given.hash });
    }
    await client.command({
      query: `ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} DELETE WHERE event_id IN {ids:Array(UUID)} AND recorded_by = {w:String}`,
      query_params: { ids: all.map((r) => r.event_id), w: WRITER },
      clickhouse_settings: { mutations_sync: '2' },
    });
    await client.insert({ table: AUDIT_PATIENT_INDEX_TABLE, values: replacements, format: 'JSONEachRow' });

    const w = await verifyWriter();
    expect(w?.ok).toBe(false);
    expect(w?.issues).toEqual([]); // the requests are intact
    const expected: RowIssue[] = all.map((row, i) => ({
      // a row moved to another writer is missing from this one; a row with another id is missing, and extra
      reason: targets[i]?.field === 'recorded_by' || targets[i]?.field === 'event_id' ? 'missing-row' : 'altered-row',
      seq: row.seq,
      event_id: row.event_id,
    }));
    expected.push({
      reason: 'extra-row',
      seq: (targets.find((t) => t.field === 'event_id') as { row: AuditRecord }).row.seq,
      event_id: '019a5000-0000-7000-8000-0000000000ff',
    });
    const order = (a: RowIssue, b: RowIssue): number =>
      a.seq - b.seq || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0);
    expect([...(w?.row_issues ?? [])].sort(order)).toEqual(expected.sort(order));
  });
});
