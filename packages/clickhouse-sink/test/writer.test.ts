import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { type AuditRecord, roundMs } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openStore, SinkError } from '../src/index.ts';
import { AuditWriter, StoreMonitor } from '../src/ingest/index.ts';
import { generateRecords } from './records.ts';

let dir: string;
let client: ClickHouseClient;
let monitor: StoreMonitor;

async function stored(records: readonly AuditRecord[]): Promise<{ rows: number; ids: number }> {
  const result = await client.query({
    query: 'SELECT count() AS rows, uniqExact(event_id) AS ids FROM audit_events WHERE event_id IN {ids:Array(UUID)}',
    query_params: { ids: records.map((r) => r.event_id) },
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ rows: string; ids: string }>();
  return { rows: Number(row?.rows), ids: Number(row?.ids) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-writer-'));
  client = openStore({ path: dir });
  await migrate(client);
  monitor = new StoreMonitor(client);
});
afterAll(async () => {
  monitor.close();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('openStore', () => {
  it('refuses a non-default database for chDB (chDB ignores the client option)', () => {
    expect(() => openStore({ path: dir, database: 'fhirwatch' })).toThrow(
      expect.objectContaining({ code: 'FW_SINK_OPTIONS' }),
    );
    expect(() => openStore({})).toThrow(expect.objectContaining({ code: 'FW_SINK_OPTIONS' }));
  });
});

describe('AuditWriter', () => {
  it('refuses writes beyond maxPendingRows with FW_SINK_BUSY (429) and loses nothing it accepted', async () => {
    const writer = new AuditWriter(client, monitor, { maxPendingRows: 100 });
    const first = generateRecords({ count: 80, offset: 0 });
    const second = generateRecords({ count: 50, offset: 80 });
    const accepted = writer.write(first); // queued: its flush is now in flight
    const refused = await writer.write(second).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SinkError);
    expect(refused).toMatchObject({ code: 'FW_SINK_BUSY', status: 429 });
    expect((refused as SinkError).retryAfter).toBeGreaterThan(0);
    expect(await accepted).toEqual({ accepted: 80, duplicates: 0 });
    expect(await writer.write(second)).toEqual({ accepted: 50, duplicates: 0 });
    expect(await stored([...first, ...second])).toEqual({ rows: 130, ids: 130 });
  });

  it('rejects an invalid record without touching other writes', async () => {
    const writer = new AuditWriter(client, monitor);
    const good = generateRecords({ count: 10, offset: 1000 });
    const bad = { ...generateRecords({ count: 1, offset: 1010 })[0]!, fhir_version: 'R4' } as unknown as AuditRecord;
    const [ok, failed] = await Promise.allSettled([writer.write(good), writer.write([good[0]!, bad])]);
    expect(ok).toEqual({ status: 'fulfilled', value: { accepted: 10, duplicates: 0 } });
    expect(failed.status).toBe('rejected');
    expect((failed as PromiseRejectedResult).reason).toMatchObject({ code: 'FW_SINK_BAD_RECORD', line: 2 });
    expect(String((failed as PromiseRejectedResult).reason.message)).toContain("'fhir_version'");
  });

  // rawInsert false = the path a ClickHouse server client takes (client.insert), here over the same chDB store
  for (const rawInsert of [true, false]) {
    it(`stores every field exactly as sent, text with quotes/escapes/unicode included (raw insert: ${rawInsert})`, async () => {
      const writer = new AuditWriter(client, monitor, { rawInsert });
      const texts = ['O\'Brien "Jr"', 'back\\slash\ttab\nnewline\r', 'caf\u00e9 \u{1f600} \u2028', '', '{"json":[1]}'];
      const records = generateRecords({ count: 50, offset: rawInsert ? 6000 : 6100 }).map((record, i) => ({
        ...record,
        user_name: texts[i % texts.length]!,
        query: `name=${texts[(i + 1) % texts.length]!}`,
        user_agent: texts[(i + 2) % texts.length]!,
        duration_ms: i / 3,
        seq: 2 ** 40 + i,
      }));
      expect(await writer.write(records)).toEqual({ accepted: 50, duplicates: 0 });
      const result = await client.query({
        query: `SELECT * EXCEPT (event_time), toUnixTimestamp64Milli(event_time) AS event_ms
                FROM audit_events WHERE event_id IN {ids:Array(UUID)}`,
        query_params: { ids: records.map((r) => r.event_id) },
        format: 'JSONEachRow',
        clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
      });
      const rows = new Map((await result.json<Record<string, unknown>>()).map((row) => [row.event_id, row]));
      expect(rows.size).toBe(50);
      for (const record of records) {
        const { event_time, ...rest } = record;
        // the per-patient row is the contract's expansion: duration_ms as signed (3 decimals, AUDIT_EXPANSION)
        expect(rows.get(record.event_id)).toEqual({
          ...rest,
          duration_ms: roundMs(rest.duration_ms),
          event_ms: Date.parse(event_time),
        });
      }
      // the request row keeps the duration exactly as sent
      const stored = await client.query({
        query:
          'SELECT toString(request_id) AS id, duration_ms FROM audit_requests WHERE request_id IN {ids:Array(UUID)}',
        query_params: { ids: records.map((r) => r.event_id) },
        format: 'JSONEachRow',
      });
      const durations = new Map(
        (await stored.json<{ id: string; duration_ms: number }>()).map((r) => [r.id, r.duration_ms]),
      );
      for (const record of records) expect(durations.get(record.event_id)).toBe(record.duration_ms);
    });

    it(`a batch the engine refuses is FW_SINK_BAD_RECORD and nothing of it is stored (raw insert: ${rawInsert})`, async () => {
      const writer = new AuditWriter(client, monitor, { rawInsert, validate: false });
      const records = generateRecords({ count: 20, offset: rawInsert ? 6200 : 6300 });
      const bad = [...records.slice(0, 10), { ...records[10]!, event_id: 'not-a-uuid' }, ...records.slice(11)];
      await expect(writer.write(bad)).rejects.toMatchObject({ code: 'FW_SINK_BAD_RECORD', status: 400 });
      expect(monitor.up).toBe(true);
      expect(await stored(records)).toEqual({ rows: 0, ids: 0 });
      expect(await writer.write(records)).toEqual({ accepted: 20, duplicates: 0 });
    });
  }

  for (const [exclusive, rawInsert] of [
    [true, true],
    [false, true],
    [true, false],
  ] as const) {
    it(`concurrent overlapping writes store each event once (exclusive fast path: ${exclusive}, raw insert: ${rawInsert})`, async () => {
      const writer = new AuditWriter(client, monitor, { exclusive, rawInsert, recentIdsMax: 100, batchRows: 300 });
      const offset = exclusive ? (rawInsert ? 2000 : 8000) : 4000;
      const records = generateRecords({ count: 1000, offset });
      // 10 senders, each with an overlapping window, several deliveries of the same records
      const slices = Array.from({ length: 10 }, (_, i) => records.slice(i * 90, i * 90 + 190));
      const results = await Promise.all([...slices, ...slices.slice(0, 4)].map((slice) => writer.write(slice)));
      const accepted = results.reduce((sum, r) => sum + r.accepted, 0);
      const total = [...slices, ...slices.slice(0, 4)].reduce((sum, s) => sum + s.length, 0);
      const distinct = new Set(slices.flat().map((r) => r.event_id)).size;
      expect(accepted).toBe(distinct);
      expect(results.reduce((sum, r) => sum + r.duplicates, 0)).toBe(total - distinct);
      expect(await stored(records)).toEqual({ rows: distinct, ids: distinct });
      // a later redelivery after the fast-path set overflowed (recentIdsMax 100) is still caught
      expect(await writer.write(records.slice(0, 300))).toEqual({ accepted: 0, duplicates: 300 });
      // and so is one by a fresh writer (a restarted sink): found in the store
      expect(await new AuditWriter(client, monitor, { exclusive, rawInsert }).write(records.slice(500, 700))).toEqual({
        accepted: 0,
        duplicates: 200,
      });
      expect(await stored(records)).toEqual({ rows: distinct, ids: distinct });
    });
  }
});
