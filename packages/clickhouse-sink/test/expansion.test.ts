/**
 * One expansion, one row codec (issue 18):
 * - the audit_requests row codec (store/audit-encode.ts) round-trips every request field through the store;
 * - the store's per-patient rows (the audit_events view, rendered from the contract's AUDIT_EXPANSION), the
 *   per-patient index and verify's expected rows are each exactly the contract's `expandRequestRecord`, for
 *   request records and legacy single records, with quotes, unicode, unknown and legacy -1 result counts,
 *   all-patient and no-patient rows and durations with more than 3 decimals.
 */
import * as crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  type AuditRecord,
  type AuditRequestRecord,
  auditRequestCanonical,
  chainHasher,
  expandRequestRecord,
  requestFromAuditRecord,
  signChain,
} from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORD_COLUMNS_SQL, toAuditRecordFromValues } from '../src/compliance/records.ts';
import { verifyAuditChain } from '../src/compliance/verify.ts';
import {
  AUDIT_REQUEST_INSERT_COLUMNS,
  auditRequestRowValues,
  encodeAuditRequestRows,
  requestFromRow,
} from '../src/store/audit-encode.ts';
import { openStore, rawInsertOf } from '../src/store/open.ts';
import {
  AUDIT_PATIENT_INDEX_TABLE,
  AUDIT_REQUESTS_TABLE,
  AUDIT_TABLE,
  migrate,
  PATIENT_INDEX_FIELDS,
} from '../src/store/schema/index.ts';
import { generateRecords, generateRequests } from './records.ts';

const KEY = 'expansion-test-key';
let dir: string;
let client: ClickHouseClient;
let requests: AuditRequestRecord[];

/** Requests with the awkward values, chained (v2 and lifted legacy records in one chain). */
function awkwardRequests(): AuditRequestRecord[] {
  const v2 = generateRequests({ count: 12, recordedBy: 'gw-x', start: Date.UTC(2026, 10, 3) }).requests;
  const odd = v2[1] as AuditRequestRecord;
  odd.user_name = 'O\'Brien "Jr" Zoë \u{1f600} back\\slash';
  odd.duration_ms = 12.3456789;
  (odd.entries[0] as { query: string }).query = 'name=caf\u00e9&x="1"';
  (odd.entries[1] as { result_count: number | null }).result_count = null;
  (odd.entries[2] as { patient_ids: string[] }).patient_ids = ['*'];
  (odd.entries[3] as { patient_ids: string[] }).patient_ids = [''];
  const legacy = generateRecords({ count: 4, offset: 500, start: Date.UTC(2026, 10, 4) }).map((r, i) =>
    requestFromAuditRecord({ ...r, recorded_by: 'gw-x', result_count: i === 0 ? -1 : r.result_count } as AuditRecord),
  );
  const all = [...v2, ...legacy];
  all.forEach((r, i) => {
    r.seq = i + 1;
  });
  signChain(chainHasher(crypto, KEY), all, auditRequestCanonical);
  return all;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-expansion-'));
  client = openStore({ path: dir });
  await migrate(client);
  requests = awkwardRequests();
  const raw = rawInsertOf(client);
  if (raw === undefined) throw new Error('a chDB store has a raw insert');
  await raw(AUDIT_REQUESTS_TABLE, AUDIT_REQUEST_INSERT_COLUMNS, 'JSONCompactEachRow', encodeAuditRequestRows(requests));
}, 120_000);
afterAll(async () => {
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function values(query: string): Promise<unknown[][]> {
  const result = await client.query({
    query,
    format: 'JSONCompactEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  return (await result.json()) as unknown[][];
}

const byId = <T extends { event_id: string }>(list: T[]): T[] =>
  [...list].sort((a, b) => (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));

describe('the audit_requests row codec', () => {
  it('round-trips every request through the store', async () => {
    const rows = await values(
      `SELECT ${AUDIT_REQUEST_INSERT_COLUMNS.join(', ')} FROM ${AUDIT_REQUESTS_TABLE} ORDER BY seq`,
    );
    expect(rows.map(requestFromRow)).toEqual(requests);
  });

  it('round-trips in JS (what an insert writes is what a read decodes)', () => {
    for (const request of requests) {
      const text = JSON.stringify(auditRequestRowValues(request));
      expect(requestFromRow(JSON.parse(text) as unknown[])).toEqual(request);
    }
  });
});

describe('the expansion: contract (JS) = audit_events view = index = verify', () => {
  const expected = (): AuditRecord[] => requests.flatMap(expandRequestRecord);

  it('the audit_events view returns exactly expandRequestRecord’s rows', async () => {
    const rows = (await values(`SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_TABLE}`)).map(toAuditRecordFromValues);
    expect(rows.length).toBe(expected().length);
    expect(byId(rows)).toEqual(byId(expected()));
  });

  it('the per-patient index holds exactly the index fields of those rows', async () => {
    const rows = await values(
      `SELECT ${PATIENT_INDEX_FIELDS.map((f) => (f === 'event_time' ? 'toUnixTimestamp64Milli(event_time)' : f)).join(', ')} FROM ${AUDIT_PATIENT_INDEX_TABLE}`,
    );
    const got = rows.map((r) =>
      Object.fromEntries(
        PATIENT_INDEX_FIELDS.map((f, i) => [f, f === 'event_time' ? new Date(Number(r[i])).toISOString() : r[i]]),
      ),
    );
    const want = expected().map((r) => Object.fromEntries(PATIENT_INDEX_FIELDS.map((f) => [f, r[f]])));
    expect(byId(got as { event_id: string }[])).toEqual(byId(want as { event_id: string }[]));
  });

  it('verify expects exactly those rows (both levels pass, counts equal)', async () => {
    const result = await verifyAuditChain(client, { key: KEY, writeCheckpoint: false });
    expect(result.ok).toBe(true);
    expect(result.writers[0]).toMatchObject({
      recorded_by: 'gw-x',
      records: requests.length,
      expected_rows: expected().length,
      stored_rows: expected().length,
      row_issues: [],
    });
  });
});
