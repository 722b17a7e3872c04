/**
 * `audit verify` on a real chDB store: an intact chain (with duplicate deliveries) passes; an altered row
 * (ALTER TABLE … UPDATE), a deleted row (seq gap), a re-inserted modified copy and swapped rows are found,
 * and the first broken record of each writer is named.
 */
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainHash, verifyAuditChain } from '../src/queries/verify.ts';
import { AUDIT_TABLE } from '../src/schema/index.ts';
import { insertRecords, type LoadedStore, loadStore } from './queries-fixture.ts';

let store: LoadedStore;
const byWriter = new Map<string, AuditRecord[]>();
const at = (writer: string, seq: number): AuditRecord => {
  const record = byWriter.get(writer)?.find((r) => r.seq === seq);
  if (record === undefined) throw new Error(`no seq ${seq} for ${writer}`);
  return record;
};
const mutate = async (query: string, params: Record<string, unknown>): Promise<void> => {
  await store.client.command({ query, query_params: params, clickhouse_settings: { mutations_sync: '2' } });
};

beforeAll(async () => {
  store = await loadStore('verify', { days: 12, users: 3, patients: 80 });
  for (const record of store.dataset.records) {
    const list = byWriter.get(record.recorded_by) ?? [];
    list.push(record);
    byWriter.set(record.recorded_by, list);
  }
}, 240_000);

afterAll(async () => {
  await store?.close();
});

describe('audit verify', () => {
  it('the dataset is signed the way the contract says', () => {
    const first = at('gw-a', 1);
    const second = at('gw-a', 2);
    expect(first.prev_hash).toBe('');
    expect(second.prev_hash).toBe(first.hash);
    expect(chainHash(store.dataset.key, second)).toBe(second.hash);
  });

  it('passes an intact chain, counting duplicate deliveries once', async () => {
    const result = await verifyAuditChain(store.client, { key: store.dataset.key });
    expect(result.ok).toBe(true);
    expect(result.writers.map((w) => w.recorded_by).sort()).toEqual([...byWriter.keys()].sort());
    for (const writer of result.writers) {
      const records = byWriter.get(writer.recorded_by) ?? [];
      expect(writer.records).toBe(records.length);
      expect(writer.last_seq).toBe(records.length);
      expect(writer.duplicates).toBe(
        store.dataset.duplicates.filter((r) => r.recorded_by === writer.recorded_by).length,
      );
    }
  });

  it('fails with the wrong key at seq 1', async () => {
    const result = await verifyAuditChain(store.client, { key: 'not-the-key', recordedBy: ['gw-a'] });
    expect(result.ok).toBe(false);
    expect(result.writers[0]?.first_broken).toMatchObject({ reason: 'hash-mismatch', seq: 1 });
  });

  it('names an altered row, then a deleted row, then an earlier re-inserted modified copy', async () => {
    await store.client.command({ query: `SYSTEM START MERGES ${AUDIT_TABLE}` });
    // 1. altered in place
    const altered = at('gw-a', 40);
    await mutate(`ALTER TABLE ${AUDIT_TABLE} UPDATE user_id = 'someone-else' WHERE event_id = {id:UUID}`, {
      id: altered.event_id,
    });
    let result = await verifyAuditChain(store.client, { key: store.dataset.key });
    let gwA = result.writers.find((w) => w.recorded_by === 'gw-a');
    expect(result.ok).toBe(false);
    expect(gwA?.first_broken).toEqual({
      reason: 'hash-mismatch',
      seq: 40,
      event_id: altered.event_id,
      detail: expect.any(String),
    });
    expect(gwA?.issues).toHaveLength(1);
    expect(result.writers.find((w) => w.recorded_by === 'gw-b')?.ok).toBe(true);

    // 2. deleted: the next record shows the gap
    const deleted = at('gw-b', 25);
    await mutate(`ALTER TABLE ${AUDIT_TABLE} DELETE WHERE event_id = {id:UUID}`, { id: deleted.event_id });
    result = await verifyAuditChain(store.client, { key: store.dataset.key });
    const gwB = result.writers.find((w) => w.recorded_by === 'gw-b');
    expect(gwB?.first_broken).toEqual({
      reason: 'seq-gap',
      seq: 26,
      event_id: at('gw-b', 26).event_id,
      detail: 'missing seq 25..25',
    });
    expect(gwB?.records).toBe((byWriter.get('gw-b') ?? []).length - 1);

    // 3. a modified copy of an earlier record re-inserted under the same event_id and seq
    const original = at('gw-a', 10);
    await insertRecords(store.client, [{ ...original, patient_id: 'p-east-someone-else' }]);
    result = await verifyAuditChain(store.client, { key: store.dataset.key });
    gwA = result.writers.find((w) => w.recorded_by === 'gw-a');
    expect(gwA?.first_broken).toMatchObject({ reason: 'conflicting-duplicate', seq: 10, event_id: original.event_id });
    expect(gwA?.issues.map((issue) => issue.seq)).toEqual([10, 40]);
  });

  it('finds two records whose seq numbers were swapped', async () => {
    const a = at('gw-b', 60);
    const b = at('gw-b', 61);
    await mutate(`ALTER TABLE ${AUDIT_TABLE} UPDATE seq = {to:UInt64} WHERE event_id = {id:UUID}`, {
      id: a.event_id,
      to: 61,
    });
    await mutate(`ALTER TABLE ${AUDIT_TABLE} UPDATE seq = {to:UInt64} WHERE event_id = {id:UUID}`, {
      id: b.event_id,
      to: 60,
    });
    const result = await verifyAuditChain(store.client, { key: store.dataset.key, recordedBy: ['gw-b'] });
    const issues = result.writers[0]?.issues ?? [];
    expect(issues.filter((issue) => issue.seq === 60 || issue.seq === 61).map((issue) => issue.reason)).toContain(
      'hash-mismatch',
    );
    expect(issues.find((issue) => issue.seq === 60)?.event_id).toBe(b.event_id);
  });
});
