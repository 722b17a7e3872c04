/**
 * The embedded store's insert format (Native, audit-encode.ts) against the server's (JSONCompactEachRow): the same
 * records through both encoders into two migrated databases of one chDB store must leave identical rows in every
 * table (audit_requests and whatever the views expand them into), field by field.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { type AuditRequestRecord, requestFromAuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openStore } from '../src/index.ts';
import { AuditWriter, StoreMonitor } from '../src/ingest/index.ts';
import {
  AUDIT_REQUEST_INSERT_COLUMNS,
  AUDIT_REQUEST_NATIVE_TYPES,
  auditRequestRowValues,
  encodeAuditRequestNative,
} from '../src/store/audit-encode.ts';
import { rawInsertOf } from '../src/store/open.ts';
import { AUDIT_REQUEST_COLUMNS, AUDIT_REQUESTS_TABLE } from '../src/store/schema/audit-requests.ts';
import { generateRecords, generateRequests } from './records.ts';

let dir: string;
let client: ClickHouseClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-native-'));
  // a block a crashed sink left behind: openStore removes it (PHI does not linger outside the tables)
  mkdirSync(join(dir, 'fhirwatch-native-inserts'));
  writeFileSync(join(dir, 'fhirwatch-native-inserts', '1-0.native'), 'left behind');
  client = openStore({ path: dir });
  expect(existsSync(join(dir, 'fhirwatch-native-inserts', '1-0.native'))).toBe(false);
  await migrate(client);
  await migrate(client, { database: 'native' });
  await migrate(client, { database: 'json' });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

const TEXTS = [
  'O\'Brien "Jr"',
  'back\\slash\ttab\nnewline\r;semicolon',
  'caf\u00e9 \u{1f600} \u2028 \u0000nul',
  '',
  '{"json":[1]}',
  'x'.repeat(127),
  'y'.repeat(128),
  `\u00e9${'z'.repeat(20_000)}`,
];

/** Requests with every kind of value the wire allows: text edge cases, nulls, big integers, legacy v1 rows. */
function edgeRequests(): AuditRequestRecord[] {
  const { requests } = generateRequests({ count: 40, offset: 9000, patients: 50, users: 5 });
  const edited = requests.map((r, i) => ({
    ...r,
    user_name: TEXTS[i % TEXTS.length]!,
    user_agent: TEXTS[(i + 1) % TEXTS.length]!,
    source_ip: TEXTS[(i + 2) % TEXTS.length]!,
    seq: i === 0 ? Number.MAX_SAFE_INTEGER : 2 ** 40 + i,
    duration_ms: i / 3,
    tenant_claimed: i % 2 === 0,
    http_status: i === 1 ? 0 : r.http_status,
    entries: r.entries.map((e, j) => ({
      ...e,
      query: `name=${TEXTS[(i + j) % TEXTS.length]!}`,
      result_count: j % 3 === 0 ? null : j === 1 ? 4_294_967_295 : e.result_count,
      entry_index: j === 0 ? -1 : e.entry_index,
      patient_ids: j === 2 ? [TEXTS[i % TEXTS.length]!, `\u00fc-${i}`] : e.patient_ids,
    })),
  }));
  // legacy single records as the sink stores them (v 1, result_count -1 = unknown)
  const legacy = generateRecords({ count: 10, offset: 9100 }).map((record, i) =>
    requestFromAuditRecord({ ...record, result_count: i === 0 ? -1 : record.result_count }),
  );
  return [...edited, ...legacy];
}

async function rowsOf(database: string, table: string): Promise<string[]> {
  const result = await client.query({
    query: `SELECT * FROM ${database}.${table} ORDER BY ALL`,
    format: 'JSONCompactEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
  });
  return (await result.text()).split('\n').filter((line) => line !== '');
}

describe('Native insert (embedded store) vs JSONCompactEachRow (server path)', () => {
  it("declares the schema's audit_requests columns (LowCardinality left to the INSERT's cast)", () => {
    expect(AUDIT_REQUEST_NATIVE_TYPES).toEqual(
      AUDIT_REQUEST_COLUMNS.map((c) => c.type.replaceAll(/LowCardinality\(([^()]*)\)/g, '$1')),
    );
  });

  it('stores the same rows in every table, field by field', async () => {
    const raw = rawInsertOf(client);
    if (raw === undefined) throw new Error('a chDB store has a raw insert');
    const records = edgeRequests();
    const native = encodeAuditRequestNative(records);
    expect(native).toBeInstanceOf(Buffer);
    await raw(
      `native.${AUDIT_REQUESTS_TABLE}`,
      AUDIT_REQUEST_INSERT_COLUMNS,
      'Native',
      native!,
      { optimize_on_insert: 0 },
      AUDIT_REQUEST_NATIVE_TYPES,
    );
    await client.insert({
      table: `json.${AUDIT_REQUESTS_TABLE}`,
      columns: AUDIT_REQUEST_INSERT_COLUMNS as [string, ...string[]],
      values: records.map(auditRequestRowValues),
      format: 'JSONCompactEachRow',
    });
    const tables = (
      await (
        await client.query({
          query:
            "SELECT name FROM system.tables WHERE database = 'json' AND engine LIKE '%MergeTree' AND name LIKE 'audit%' ORDER BY name",
          format: 'JSONEachRow',
        })
      ).json<{ name: string }>()
    ).map((t) => t.name);
    expect(tables).toContain(AUDIT_REQUESTS_TABLE);
    let compared = 0;
    for (const table of tables) {
      const [viaNative, viaJson] = [await rowsOf('native', table), await rowsOf('json', table)];
      expect(viaNative.length, table).toBe(viaJson.length);
      for (let i = 0; i < viaJson.length; i++) {
        // field by field: a difference names the column
        const a = JSON.parse(viaNative[i]!) as unknown[];
        const b = JSON.parse(viaJson[i]!) as unknown[];
        for (let k = 0; k < b.length; k++) expect(a[k], `${table} row ${i} column ${k}`).toEqual(b[k]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(records.length);
    // the block went through a file in the store directory, gone after the insert
    const files = join(dir, 'fhirwatch-native-inserts');
    expect(readdirSync(files)).toEqual([]);
    expect(statSync(files).mode & 0o777).toBe(0o700);
  });

  it('has no Native form for values only the engine can judge: the writer sends those as text, as before', async () => {
    const [request] = generateRequests({ count: 1, offset: 9500 }).requests;
    const bad = (change: Record<string, unknown>): AuditRequestRecord[] => [
      { ...request!, ...change } as AuditRequestRecord,
    ];
    expect(encodeAuditRequestNative(bad({}))).toBeInstanceOf(Buffer);
    for (const change of [
      { event_id: 'not-a-uuid' },
      { event_id: `${request!.event_id.slice(0, 35)}g` },
      { event_time: '2026-02-30T00:00:00.000Z' },
      { event_time: '2026-11-01 00:00:00.000' },
      { seq: 1.5 },
      { seq: -1 },
      { http_status: 70_000 },
      { duration_ms: Number.NaN },
      { user_name: 'lone \ud800 surrogate' },
      { user_id: 5 },
    ]) {
      expect(encodeAuditRequestNative(bad(change)), JSON.stringify(change)).toBeUndefined();
    }
    // a lone surrogate passes validation; the writer sends it as text, which the engine refuses: a bad record
    // (400, named), not an unavailable store (503, retried for ever), and nothing of the batch is stored
    const monitor = new StoreMonitor(client);
    try {
      const writer = new AuditWriter(client, monitor);
      const record = { ...request!, user_name: 'lone \ud800 surrogate' };
      await expect(writer.write([record])).rejects.toMatchObject({ code: 'FW_SINK_BAD_RECORD', status: 400 });
      expect(monitor.up).toBe(true);
      const stored = await client.query({
        query: 'SELECT count() AS n FROM audit_requests WHERE request_id = {id:UUID}',
        query_params: { id: record.event_id },
        format: 'JSONEachRow',
      });
      expect(await stored.json()).toEqual([{ n: '0' }]);
      expect(await writer.write([request!])).toEqual({ accepted: 1, duplicates: 0 });
    } finally {
      monitor.close();
    }
  });
});
