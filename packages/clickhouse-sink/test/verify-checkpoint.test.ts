/**
 * `audit verify --since-checkpoint` (issue 18): a verify that passes (both levels) stores a signed checkpoint per
 * writer; the next `sinceCheckpoint` verify proves only the requests after it (chain continued from the
 * checkpoint's hash, their per-patient index rows), a forged checkpoint is named and that writer is proved from
 * the start, and the full verify (the default) always re-reads everything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { type AuditRequestRecord, expandRequestRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../src/compliance/verify.ts';
import { AUDIT_REQUEST_INSERT_COLUMNS, encodeAuditRequestRows } from '../src/store/audit-encode.ts';
import { openStore, rawInsertOf } from '../src/store/open.ts';
import {
  AUDIT_CHECKPOINTS_TABLE,
  AUDIT_PATIENT_INDEX_TABLE,
  AUDIT_REQUESTS_TABLE,
  migrate,
  PATIENT_INDEX_FIELDS,
} from '../src/store/schema/index.ts';
import { generateRequests } from './records.ts';

const KEY = 'checkpoint-test-key';
const W = 'gw-cp';
let dir: string;
let client: ClickHouseClient;
const first = generateRequests({ count: 30, recordedBy: W, key: KEY, start: Date.UTC(2026, 10, 20) });
const second = generateRequests({
  count: 10,
  offset: 30,
  recordedBy: W,
  key: KEY,
  chainFrom: first.end,
  start: Date.UTC(2026, 10, 20),
});
const rowsOf = (list: AuditRequestRecord[]): number => list.flatMap(expandRequestRecord).length;
const store = async (list: AuditRequestRecord[]): Promise<void> => {
  const raw = rawInsertOf(client);
  if (raw === undefined) throw new Error('a chDB store has a raw insert');
  await raw(AUDIT_REQUESTS_TABLE, AUDIT_REQUEST_INSERT_COLUMNS, 'JSONCompactEachRow', encodeAuditRequestRows(list));
};
const mutate = (query: string, params: Record<string, unknown> = {}): Promise<unknown> =>
  client.command({ query, query_params: params, clickhouse_settings: { mutations_sync: '2' } });
const verify = async (sinceCheckpoint: boolean) =>
  (await verifyAuditChain(client, { key: KEY, recordedBy: [W], sinceCheckpoint })).writers[0];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-checkpoint-'));
  client = openStore({ path: dir });
  await migrate(client);
  await store(first.requests);
}, 120_000);
afterAll(async () => {
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('verify checkpoints', () => {
  it('a passing full verify stores a signed checkpoint at the last verified request', async () => {
    expect(await verify(false)).toMatchObject({ ok: true, records: 30 });
    const rows = await (
      await client.query({
        query: `SELECT recorded_by, seq, hash, records, rows, length(signature) AS n FROM ${AUDIT_CHECKPOINTS_TABLE}`,
        format: 'JSONEachRow',
        clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
      })
    ).json();
    expect(rows).toEqual([
      { recorded_by: W, seq: 30, hash: first.end.hash, records: 30, rows: rowsOf(first.requests), n: 64 },
    ]);
  });

  it('--since-checkpoint proves only what arrived after it, both levels', async () => {
    await store(second.requests);
    const all = [...first.requests, ...second.requests];
    // a missing index row of a new request is found
    const lost = second.requests[3]?.event_id ?? '';
    await mutate(`ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} DELETE WHERE event_id = {id:UUID}`, { id: lost });
    const broken = await verify(true);
    expect(broken).toMatchObject({ ok: false, since_seq: 30 });
    expect(broken?.row_issues).toEqual([{ reason: 'missing-row', seq: 34, event_id: lost }]);
    // put it back (the view derives it from the request): the new requests verify, and a checkpoint moves to 40
    await mutate(
      `INSERT INTO ${AUDIT_PATIENT_INDEX_TABLE} (${PATIENT_INDEX_FIELDS.join(', ')})
       SELECT ${PATIENT_INDEX_FIELDS.join(', ')} FROM audit_events WHERE event_id = {id:UUID}`,
      { id: lost },
    );
    const w = await verify(true);
    expect(w).toMatchObject({ ok: true, since_seq: 30, records: 40, last_seq: 40 });
    expect(w?.expected_rows).toBe(rowsOf(all));
    expect(w?.stored_rows).toBe(rowsOf(all));
    expect(await verify(true)).toMatchObject({ ok: true, since_seq: 40, records: 40 });
  });

  it('an altered request before the checkpoint is not re-read by --since-checkpoint; the full verify finds it', async () => {
    const old = first.requests[4] as AuditRequestRecord;
    await mutate(`ALTER TABLE ${AUDIT_REQUESTS_TABLE} UPDATE user_id = 'someone-else' WHERE request_id = {id:UUID}`, {
      id: old.event_id,
    });
    expect(await verify(true)).toMatchObject({ ok: true, since_seq: 40 });
    const full = await verify(false);
    expect(full?.ok).toBe(false);
    expect(full?.first_broken).toMatchObject({ reason: 'hash-mismatch', seq: 5, event_id: old.event_id });
  });

  it('a forged checkpoint is named and the writer is proved from the start', async () => {
    // a checkpoint far ahead (it would skip everything), without the key to sign it
    await client.insert({
      table: AUDIT_CHECKPOINTS_TABLE,
      values: [
        {
          recorded_by: W,
          seq: 1000,
          hash: 'f'.repeat(64),
          records: 1000,
          rows: 1,
          verified_at: Date.now(),
          signature: '0'.repeat(64),
        },
      ],
      format: 'JSONEachRow',
    });
    const w = await verify(true);
    expect(w?.ok).toBe(false);
    expect(w?.first_broken).toMatchObject({ reason: 'forged-checkpoint', seq: 1000 });
    expect(w?.since_seq).toBeUndefined();
    expect(w?.records).toBe(40);
    expect(w?.issues.map((i) => i.reason)).toEqual(['forged-checkpoint', 'hash-mismatch']);
  });
});
