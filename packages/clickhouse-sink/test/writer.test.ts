import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditWriter, migrate, openStore, SinkError, StoreMonitor } from '../src/index.ts';
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

  for (const exclusive of [true, false]) {
    it(`concurrent overlapping writes store each event once (exclusive fast path: ${exclusive})`, async () => {
      const writer = new AuditWriter(client, monitor, { exclusive, recentIdsMax: 100, batchRows: 300 });
      const offset = exclusive ? 2000 : 4000;
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
      expect(await new AuditWriter(client, monitor, { exclusive }).write(records.slice(500, 700))).toEqual({
        accepted: 0,
        duplicates: 200,
      });
      expect(await stored(records)).toEqual({ rows: distinct, ids: distinct });
    });
  }
});
