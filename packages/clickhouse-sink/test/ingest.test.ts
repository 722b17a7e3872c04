import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';
import { AUDIT_DEDUP_VIEW } from '../src/store/index.ts';
import { generateRecords } from './records.ts';

interface Answer {
  accepted?: number;
  duplicates?: number;
  error: { code: string; message: string; line?: number };
}

let dir: string;
let sink: SinkServer;

const ndjson = (records: unknown[]): string => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

async function post(
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Answer; headers: Headers }> {
  const res = await fetch(`${sink.url}/v1/audit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Answer, headers: res.headers };
}

async function count(where = '1'): Promise<number> {
  const rows = await (
    await sink.client.query({
      query: `SELECT count() AS n FROM ${AUDIT_DEDUP_VIEW} WHERE ${where}`,
      format: 'JSONEachRow',
    })
  ).json<{ n: string }>();
  return Number(rows[0]?.n);
}
async function rawCount(): Promise<number> {
  const rows = await (
    await sink.client.query({ query: 'SELECT count() AS n FROM audit_events', format: 'JSONEachRow' })
  ).json<{ n: string }>();
  return Number(rows[0]?.n);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-ingest-'));
  sink = await startSink({ store: join(dir, 'store') });
});
afterAll(async () => {
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /v1/audit', () => {
  it('stores a valid NDJSON batch and acknowledges it with accepted/duplicates', async () => {
    const records = generateRecords({ count: 500 });
    const res = await post(ndjson(records));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: 500, duplicates: 0 });
    expect(await count()).toBe(500);
    const [row] = await (
      await sink.client.query({
        query: `SELECT * FROM audit_events WHERE event_id = {id:UUID}`,
        query_params: { id: records[7]!.event_id },
        format: 'JSONEachRow',
        clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
      })
    ).json<Record<string, unknown>>();
    const expected = records[7]!;
    expect(row).toMatchObject({ ...expected, event_time: expected.event_time.replace('T', ' ').replace('Z', '') });
  });

  it('accepts gzip bodies', async () => {
    const records = generateRecords({ count: 50, offset: 10_000 });
    const res = await post(gzipSync(ndjson(records)), { 'content-encoding': 'gzip' });
    expect(res).toMatchObject({ status: 200, body: { accepted: 50, duplicates: 0 } });
  });

  it('stores a redelivered batch once and reports the duplicates (also inside one batch)', async () => {
    const records = generateRecords({ count: 100, offset: 20_000 });
    expect((await post(ndjson(records))).body).toEqual({ accepted: 100, duplicates: 0 });
    expect((await post(ndjson(records))).body).toEqual({ accepted: 0, duplicates: 100 });
    const more = generateRecords({ count: 10, offset: 20_100 });
    expect((await post(ndjson([...more, ...more, records[0]]))).body).toEqual({ accepted: 10, duplicates: 11 });
    expect(await count(`event_id IN (${[...records, ...more].map((r) => `'${r.event_id}'`).join(',')})`)).toBe(110);
  });

  it('finds duplicates of records older than anything this sink inserted (looked up in the store)', async () => {
    const old = generateRecords({ count: 20, offset: 30_000, start: Date.UTC(2025, 0, 1) });
    expect((await post(ndjson(old))).body).toEqual({ accepted: 20, duplicates: 0 });
    expect((await post(ndjson(old))).body).toEqual({ accepted: 0, duplicates: 20 });
  });

  describe('rejects bad input with a 4xx naming the line and field, and writes nothing', () => {
    const base = (): Record<string, unknown> => ({ ...generateRecords({ count: 1, offset: 40_000 })[0]! });
    const good = generateRecords({ count: 3, offset: 40_100 });
    const cases: [string, () => string, number, string, number, string?][] = [
      ['malformed JSON', () => ndjson(good).replace(/\n$/, '\n{"event_id": \n'), 400, 'FW_SINK_BAD_JSON', 4],
      ['an unknown field', () => ndjson([...good, { ...base(), extra: 1 }]), 400, 'FW_SINK_BAD_RECORD', 4, 'extra'],
      [
        'a missing field',
        () => {
          const r = base();
          delete r.hash;
          return ndjson([r, ...good]);
        },
        400,
        'FW_SINK_BAD_RECORD',
        1,
        'hash',
      ],
      ['a wrong type', () => ndjson([good[0], { ...base(), seq: '5' }]), 400, 'FW_SINK_BAD_RECORD', 2, 'seq'],
      [
        'a bad enum',
        () => ndjson([{ ...base(), event_type: 'PatientDelete' }]),
        400,
        'FW_SINK_BAD_RECORD',
        1,
        'event_type',
      ],
      ['a bad outcome', () => ndjson([{ ...base(), outcome: 3 }]), 400, 'FW_SINK_BAD_RECORD', 1, 'outcome'],
      [
        'a bad event_time',
        () => ndjson([{ ...base(), event_time: '2026-11-25 13:00:00' }]),
        400,
        'FW_SINK_BAD_RECORD',
        1,
        'event_time',
      ],
      [
        'a non-v7 event_id',
        () => ndjson([{ ...base(), event_id: 'not-a-uuid' }]),
        400,
        'FW_SINK_BAD_RECORD',
        1,
        'event_id',
      ],
      ['a JSON array line', () => ndjson([[1, 2]]), 400, 'FW_SINK_BAD_RECORD', 1],
    ];
    for (const [name, body, status, code, line, field] of cases) {
      it(name, async () => {
        const before = await rawCount();
        const res = await post(body());
        expect(res.status).toBe(status);
        expect(res.body.error).toMatchObject({ code, line });
        if (field !== undefined) expect(res.body.error.message).toContain(`'${field}'`);
        // never echoes values (PHI): the patient id of the record must not appear
        expect(res.body.error.message).not.toContain('p0');
        expect(await rawCount()).toBe(before);
      });
    }

    it('oversized body → 413', async () => {
      const small = await startSink({
        client: sink.client,
        migrate: false,
        maxBodyBytes: 1000,
        spoolDir: join(dir, 'spool-small'),
      });
      try {
        const res = await fetch(`${small.url}/v1/audit`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: ndjson(generateRecords({ count: 20, offset: 41_000 })),
        });
        expect(res.status).toBe(413);
        expect(((await res.json()) as Answer).error.code).toBe('FW_SINK_TOO_LARGE');
        const bomb = gzipSync(Buffer.alloc(100_000, 32));
        const res2 = await fetch(`${small.url}/v1/audit`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
          body: bomb,
        });
        expect(res2.status).toBe(413);
      } finally {
        await small.close();
      }
    });

    it('wrong content type → 415, unknown encoding → 415', async () => {
      expect((await post(ndjson(good), { 'content-type': 'text/plain' })).status).toBe(415);
      expect((await post(ndjson(good), { 'content-encoding': 'br' })).status).toBe(415);
    });

    it('valid batches are unaffected by a bad one sent at the same time', async () => {
      const valid = generateRecords({ count: 200, offset: 42_000 });
      const [ok, rejected] = await Promise.all([
        post(ndjson(valid)),
        post(ndjson([...valid.slice(0, 5), { bad: true }])),
      ]);
      expect(ok.body).toEqual({ accepted: 200, duplicates: 0 });
      expect(rejected.status).toBe(400);
      expect(await count(`event_id IN (${valid.map((r) => `'${r.event_id}'`).join(',')})`)).toBe(200);
    });
  });

  it('answers /healthz and 404 / 405 elsewhere', async () => {
    const health = await fetch(`${sink.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${sink.url}/nope`)).status).toBe(404);
    expect((await fetch(`${sink.url}/v1/audit`)).status).toBe(405);
  });
});
