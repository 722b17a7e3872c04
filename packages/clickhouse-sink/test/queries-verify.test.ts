/**
 * `audit verify` on a real chDB store, both levels. The seeded dataset is stored as legacy single records
 * (v1 requests, as a spool written before the upgrade would be) and a second set as request records (v2,
 * list-refresh batches and searches through the AuditWriter). Level 1 (request chain): an intact chain with
 * duplicate deliveries passes; the wrong key, an altered request, a deleted request (seq gap), a re-inserted
 * modified copy and swapped seq numbers are found. Level 2 (per-patient rows = expansion of the verified
 * requests): an altered, a deleted and an extra per-patient row are each named.
 */
import * as crypto from 'node:crypto';
import {
  type AuditRecord,
  type AuditRequestRecord,
  auditRecordCanonical,
  auditRequestCanonical,
  chainHasher,
  expandRequestRecord,
  signChain,
} from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../src/compliance/verify.ts';
import { AuditWriter } from '../src/ingest/writer/audit-writer.ts';
import { StoreMonitor } from '../src/ingest/writer/store-monitor.ts';
import { AUDIT_PATIENT_INDEX_TABLE, AUDIT_REQUESTS_TABLE, AUDIT_TABLE } from '../src/store/schema/index.ts';
import { insertRecords, type LoadedStore, loadStore } from './queries-fixture.ts';
import { generateRequests } from './records.ts';

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
const V2 = 'gw-v2';
const v2 = generateRequests({ count: 40, recordedBy: V2, key: 'fhirwatch-test-key', start: Date.UTC(2026, 10, 10) });
const signChainAgain = (requests: AuditRequestRecord[], key: string): void => {
  signChain(chainHasher(crypto, key), requests, auditRequestCanonical);
};
const writerOf = async (writer: string) =>
  (await verifyAuditChain(store.client, { key: store.dataset.key, recordedBy: [writer] })).writers[0];

beforeAll(async () => {
  store = await loadStore('verify', { days: 12, users: 3, patients: 80 });
  for (const record of store.dataset.records) {
    const list = byWriter.get(record.recorded_by) ?? [];
    list.push(record);
    byWriter.set(record.recorded_by, list);
  }
  const monitor = new StoreMonitor(store.client);
  const writer = new AuditWriter(store.client, monitor);
  expect(await writer.write(v2.requests)).toEqual({ accepted: 40, duplicates: 0 });
  await writer.close();
  monitor.close();
}, 240_000);

afterAll(async () => {
  await store?.close();
});

describe('audit verify', () => {
  it('the dataset is signed with the contract’s chain', () => {
    const first = at('gw-a', 1);
    const second = at('gw-a', 2);
    expect(first.prev_hash).toBe('');
    expect(second.prev_hash).toBe(first.hash);
    expect(chainHasher(crypto, store.dataset.key)(second.prev_hash, auditRecordCanonical(second))).toBe(second.hash);
  });

  it('passes intact chains (legacy and request records), counting duplicate deliveries once', async () => {
    const result = await verifyAuditChain(store.client, { key: store.dataset.key });
    expect(result.ok).toBe(true);
    expect(result.writers.map((w) => w.recorded_by).sort()).toEqual([...byWriter.keys(), V2].sort());
    expect(result.writers.length).toBe(3);
    for (const writer of result.writers) {
      // the engine's canonical form matches the contract's for all of these: no record re-checked in JS
      expect(writer.rechecked).toBe(0);
      if (writer.recorded_by === V2) {
        expect(writer.records).toBe(40);
        expect(writer.expected_rows).toBe(v2.rows);
        expect(writer.stored_rows).toBe(v2.rows);
        continue;
      }
      const records = byWriter.get(writer.recorded_by) ?? [];
      expect(writer.records).toBe(records.length);
      expect(writer.last_seq).toBe(records.length);
      const duplicates = store.dataset.duplicates.filter((r) => r.recorded_by === writer.recorded_by).length;
      expect(writer.stored_rows).toBe(records.length + duplicates); // raw rows, duplicate deliveries unmerged
      expect(writer.expected_rows).toBe(records.length + duplicates);
      expect(writer.duplicates).toBe(
        store.dataset.duplicates.filter((r) => r.recorded_by === writer.recorded_by).length,
      );
    }
  });

  it('the stored per-patient rows of request records are exactly their expansion', async () => {
    const expected = v2.requests.flatMap(expandRequestRecord);
    const rows = await (
      await store.client.query({
        query: `SELECT toString(event_id) AS id, patient_id, event_type, entry_index, result_count
                FROM ${AUDIT_TABLE} WHERE recorded_by = {w:String} ORDER BY id`,
        query_params: { w: V2 },
        format: 'JSONEachRow',
      })
    ).json<{ id: string; patient_id: string; event_type: string; entry_index: number; result_count: number | null }>();
    expect(rows).toEqual(
      expected
        .map((r) => ({
          id: r.event_id,
          patient_id: r.patient_id,
          event_type: r.event_type,
          entry_index: r.entry_index,
          result_count: r.result_count,
        }))
        .sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
  });

  it('a record with characters the engine escapes differently is re-checked in JS and verifies', async () => {
    const odd = generateRequests({
      count: 3,
      recordedBy: 'gw-odd',
      key: store.dataset.key,
      start: Date.UTC(2026, 10, 11),
    });
    (odd.requests[1] as { user_name: string }).user_name = 'Zoë \u2028 \u0001 "q" \\ /';
    signChainAgain(odd.requests, store.dataset.key);
    const monitor = new StoreMonitor(store.client);
    const writer = new AuditWriter(store.client, monitor);
    await writer.write(odd.requests);
    await writer.close();
    monitor.close();
    const w = await writerOf('gw-odd');
    expect(w).toMatchObject({ ok: true, records: 3, rechecked: 1 });
  });

  it('a value altered to spell the signed record’s escaped JSON text is found (no quoting shortcut hides it)', async () => {
    // signed: user_name a"b, whose canonical text holds "a\"b"; stored instead: a\"b, whose text quoted
    // without escaping would be exactly that
    const spoof = generateRequests({
      count: 2,
      recordedBy: 'gw-spoof',
      key: store.dataset.key,
      start: Date.UTC(2026, 10, 12),
    });
    const target = spoof.requests[0] as { user_name: string; event_id: string };
    target.user_name = 'a"b';
    signChainAgain(spoof.requests, store.dataset.key);
    const monitor = new StoreMonitor(store.client);
    const writer = new AuditWriter(store.client, monitor);
    await writer.write(spoof.requests);
    await writer.close();
    monitor.close();
    expect(await writerOf('gw-spoof')).toMatchObject({ ok: true, records: 2 });
    await store.client.command({ query: `SYSTEM START MERGES ${AUDIT_REQUESTS_TABLE}` });
    await mutate(`ALTER TABLE ${AUDIT_REQUESTS_TABLE} UPDATE user_name = {name:String} WHERE request_id = {id:UUID}`, {
      name: 'a\\"b',
      id: target.event_id,
    });
    const w = await writerOf('gw-spoof');
    expect(w?.ok).toBe(false);
    expect(w?.first_broken).toMatchObject({ reason: 'hash-mismatch', seq: 1, event_id: target.event_id });
  });

  it('a value altered to spell a signed backslash escape is found (no quote needed: the backslash check holds)', async () => {
    // signed: user_name a\b, whose canonical text holds "a\\b"; stored instead: a\\b (no quote in either)
    const slash = generateRequests({
      count: 2,
      recordedBy: 'gw-backslash',
      key: store.dataset.key,
      start: Date.UTC(2026, 10, 14),
    });
    const target = slash.requests[0] as { user_name: string; event_id: string };
    target.user_name = 'a\\b';
    signChainAgain(slash.requests, store.dataset.key);
    const monitor = new StoreMonitor(store.client);
    const writer = new AuditWriter(store.client, monitor);
    await writer.write(slash.requests);
    await writer.close();
    monitor.close();
    expect(await writerOf('gw-backslash')).toMatchObject({ ok: true, records: 2, rechecked: 0 });
    await store.client.command({ query: `SYSTEM START MERGES ${AUDIT_REQUESTS_TABLE}` });
    await mutate(`ALTER TABLE ${AUDIT_REQUESTS_TABLE} UPDATE user_name = {name:String} WHERE request_id = {id:UUID}`, {
      name: 'a\\\\b',
      id: target.event_id,
    });
    const w = await writerOf('gw-backslash');
    expect(w?.ok).toBe(false);
    expect(w?.first_broken).toMatchObject({ reason: 'hash-mismatch', seq: 1, event_id: target.event_id });
  });

  it('values whose quotes shift a field boundary to spell the signed text are found (the quote count holds)', async () => {
    // signed: a search whose entry discloses patients a, b, c (canonical text ["a","b","c"]); stored instead: two
    // patients `a","b` and c, whose text quoted without escaping is exactly the signed one
    const shift = generateRequests({
      count: 4,
      recordedBy: 'gw-shift',
      key: store.dataset.key,
      start: Date.UTC(2026, 10, 13),
    });
    const search = shift.requests[3] as AuditRequestRecord;
    expect(search.entries.map((e) => e.patient_ids.length)).toEqual([3]);
    const monitor = new StoreMonitor(store.client);
    const writer = new AuditWriter(store.client, monitor);
    await writer.write(shift.requests);
    await writer.close();
    monitor.close();
    expect(await writerOf('gw-shift')).toMatchObject({ ok: true, records: 4, rechecked: 0 });
    const [a, b, c] = search.entries[0]?.patient_ids ?? [];
    await store.client.command({ query: `SYSTEM START MERGES ${AUDIT_REQUESTS_TABLE}` });
    await mutate(
      `ALTER TABLE ${AUDIT_REQUESTS_TABLE} UPDATE x_patient_id = {ids:Array(String)}, x_entry = [1, 1] WHERE request_id = {id:UUID}`,
      { ids: [`${a}","${b}`, c], id: search.event_id },
    );
    const w = await writerOf('gw-shift');
    expect(w?.ok).toBe(false);
    expect(w?.first_broken).toMatchObject({ reason: 'hash-mismatch', seq: 4, event_id: search.event_id });
  });

  it('fails with the wrong key at seq 1', async () => {
    const result = await verifyAuditChain(store.client, { key: 'not-the-key', recordedBy: ['gw-a'] });
    expect(result.ok).toBe(false);
    expect(result.writers[0]?.first_broken).toMatchObject({ reason: 'hash-mismatch', seq: 1 });
  });

  it('names an altered, a deleted and an extra per-patient row (request chain intact)', async () => {
    // the per-patient rows readers see are the view's expansion of the signed requests; what can be tampered
    // with is the per-patient index that finds them (mutations run in the merge pool: the fixture stopped merges)
    await store.client.command({ query: `SYSTEM START MERGES ${AUDIT_PATIENT_INDEX_TABLE}` });
    await store.client.command({ query: `SYSTEM START MERGES ${AUDIT_REQUESTS_TABLE}` });
    const rows = v2.requests.flatMap(expandRequestRecord);
    const altered = rows.find((r) => r.seq === 5 && r.event_type === 'ConditionsView') as AuditRecord;
    const deleted = rows.find((r) => r.seq === 9 && r.event_type === 'PatientListView') as AuditRecord;
    // an index row holds every record field (migration 14)
    const indexRow = (r: AuditRecord) => ({ ...r, event_time: r.event_time.replace('T', ' ').replace('Z', '') });
    // patient_id is in the index's sort key (no UPDATE): the row is deleted and stored again, pointing elsewhere
    await mutate(`ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} DELETE WHERE event_id = {id:UUID}`, {
      id: altered.event_id,
    });
    await store.client.insert({
      table: AUDIT_PATIENT_INDEX_TABLE,
      values: [{ ...indexRow(altered), patient_id: 'someone-else' }],
      format: 'JSONEachRow',
    });
    await mutate(`ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} DELETE WHERE event_id = {id:UUID}`, {
      id: deleted.event_id,
    });
    const extra = {
      ...(rows.find((r) => r.seq === 12) as AuditRecord),
      event_id: '019a5000-0000-7000-8000-0000000000ee',
    };
    await store.client.insert({ table: AUDIT_PATIENT_INDEX_TABLE, values: [indexRow(extra)], format: 'JSONEachRow' });
    // the columns the access report reads from the index alone (migration 14): a changed user name, a changed
    // result count, a changed search, each in an index row only, is an altered row
    const renamed = rows.find((r) => r.seq === 6) as AuditRecord;
    const recounted = rows.find((r) => r.seq === 7) as AuditRecord;
    const requeried = rows.find((r) => r.seq === 8) as AuditRecord;
    await mutate(
      `ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} UPDATE user_name = 'Someone Else' WHERE event_id = {id:UUID}`,
      {
        id: renamed.event_id,
      },
    );
    await mutate(
      `ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} UPDATE result_count = if(isNull(result_count), 7, NULL) WHERE event_id = {id:UUID}`,
      { id: recounted.event_id },
    );
    await mutate(
      `ALTER TABLE ${AUDIT_PATIENT_INDEX_TABLE} UPDATE query = concat(query, '&x') WHERE event_id = {id:UUID}`,
      {
        id: requeried.event_id,
      },
    );
    const w = await writerOf(V2);
    expect(w?.ok).toBe(false);
    expect(w?.issues).toEqual([]); // the requests themselves are intact
    expect(w?.row_issues).toEqual([
      { reason: 'altered-row', seq: 5, event_id: altered.event_id },
      { reason: 'altered-row', seq: 6, event_id: renamed.event_id },
      { reason: 'altered-row', seq: 7, event_id: recounted.event_id },
      { reason: 'altered-row', seq: 8, event_id: requeried.event_id },
      { reason: 'missing-row', seq: 9, event_id: deleted.event_id },
      { reason: 'extra-row', seq: 12, event_id: extra.event_id },
    ]);
  });

  it('names an altered request, then a deleted one, then an earlier re-inserted modified copy', async () => {
    // 1. altered in place (the request, i.e. the chained source of truth)
    const altered = at('gw-a', 40);
    await mutate(`ALTER TABLE ${AUDIT_REQUESTS_TABLE} UPDATE user_id = 'someone-else' WHERE request_id = {id:UUID}`, {
      id: altered.event_id,
    });
    let result = await verifyAuditChain(store.client, { key: store.dataset.key, recordedBy: ['gw-a', 'gw-b'] });
    let gwA = result.writers.find((w) => w.recorded_by === 'gw-a');
    expect(result.ok).toBe(false);
    expect(gwA?.first_broken).toEqual({
      reason: 'hash-mismatch',
      seq: 40,
      event_id: altered.event_id,
      detail: expect.any(String),
    });
    expect(gwA?.issues).toHaveLength(1);
    // its stored per-patient row no longer matches the (altered) request either
    expect(gwA?.row_issues).toEqual([{ reason: 'altered-row', seq: 40, event_id: altered.event_id }]);
    expect(result.writers.find((w) => w.recorded_by === 'gw-b')?.ok).toBe(true);

    // 2. deleted: the next request shows the gap
    const deleted = at('gw-b', 25);
    await mutate(`ALTER TABLE ${AUDIT_REQUESTS_TABLE} DELETE WHERE request_id = {id:UUID}`, { id: deleted.event_id });
    result = await verifyAuditChain(store.client, { key: store.dataset.key, recordedBy: ['gw-a', 'gw-b'] });
    const gwB = result.writers.find((w) => w.recorded_by === 'gw-b');
    expect(gwB?.first_broken).toEqual({
      reason: 'seq-gap',
      seq: 26,
      event_id: at('gw-b', 26).event_id,
      detail: 'missing seq 25..25',
    });
    expect(gwB?.records).toBe((byWriter.get('gw-b') ?? []).length - 1);
    // its per-patient row is still stored: extra (no verified request expands to it)
    expect(gwB?.row_issues).toEqual([{ reason: 'extra-row', seq: 25, event_id: deleted.event_id }]);

    // 3. a modified copy of an earlier record re-inserted under the same event_id and seq
    const original = at('gw-a', 10);
    await insertRecords(store.client, [{ ...original, patient_id: 'p-east-someone-else' }]);
    result = await verifyAuditChain(store.client, { key: store.dataset.key, recordedBy: ['gw-a'] });
    gwA = result.writers.find((w) => w.recorded_by === 'gw-a');
    expect(gwA?.first_broken).toMatchObject({ reason: 'conflicting-duplicate', seq: 10, event_id: original.event_id });
    expect(gwA?.issues.map((issue) => issue.seq)).toEqual([10, 40]);
  });

  it('finds two requests whose seq numbers were swapped', async () => {
    const a = at('gw-b', 60);
    const b = at('gw-b', 61);
    // seq is part of the sort key (no UPDATE): delete both requests and store them again, seq swapped
    await mutate(`ALTER TABLE ${AUDIT_REQUESTS_TABLE} DELETE WHERE request_id IN {ids:Array(UUID)}`, {
      ids: [a.event_id, b.event_id],
    });
    await insertRecords(store.client, [
      { ...a, seq: 61 },
      { ...b, seq: 60 },
    ]);
    const result = await verifyAuditChain(store.client, { key: store.dataset.key, recordedBy: ['gw-b'] });
    const issues = result.writers[0]?.issues ?? [];
    expect(issues.filter((issue) => issue.seq === 60 || issue.seq === 61).map((issue) => issue.reason)).toContain(
      'hash-mismatch',
    );
    expect(issues.find((issue) => issue.seq === 60)?.event_id).toBe(b.event_id);
  });
});
