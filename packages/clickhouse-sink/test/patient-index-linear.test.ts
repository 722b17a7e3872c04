/**
 * Migration 16: the per-patient index's materialized view re-created with the linear expansion (the entry fields
 * expanded per row before the ARRAY JOIN: expansionSelectLinear). A store written by migrations 1–15 is carried
 * forward without a gap: the new view exists before the old one is dropped, the index keeps its rows, and every
 * later request, as a writer stores it or as a hand-made row with entries out of order or without patients, is
 * indexed exactly as the expansion's definition (expansionSelect, held equal to the contract's expandRequestRecord
 * by expansion.test.ts) and the contract itself say; the access report and `audit verify` agree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { expandRequestRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessReport, verifyAuditChain } from '../src/compliance/index.ts';
import { RECORD_COLUMNS_SQL, selectValueRows, toAuditRecordFromValues } from '../src/compliance/records.ts';
import { migrate, openStore } from '../src/index.ts';
import { AUDIT_REQUEST_INSERT_COLUMNS, encodeAuditRequestRows } from '../src/store/audit-encode.ts';
import { AUDIT_REQUESTS_TABLE, MIGRATIONS, MIGRATIONS_TABLE, renderMigrations } from '../src/store/index.ts';
import { rawInsertOf } from '../src/store/open.ts';
import {
  AUDIT_PATIENT_INDEX_TABLE,
  AUDIT_PATIENT_INDEX_VIEW,
  PATIENT_INDEX_FIELDS,
  PATIENT_INDEX_SELECT,
} from '../src/store/schema/audit-patient-index.ts';
import { expansionSelect, expansionSelectLinear } from '../src/store/schema/expansion.ts';
import { generateRequests } from './records.ts';

const KEY = 'fhirwatch-test-key';
const LINEAR = MIGRATIONS.find((m) => m.name === 'audit_patient_index_linear_view')?.version ?? Number.NaN;
let dir: string;
let client: ClickHouseClient;

async function text(query: string): Promise<string> {
  return (await client.query({ query, format: 'TabSeparatedRaw' })).text();
}
const indexDump = (source: string): Promise<string> =>
  text(`SELECT DISTINCT ${PATIENT_INDEX_FIELDS.join(', ')} FROM ${source} ORDER BY event_id, patient_id`);
/** The index rows of every stored request by the expansion's definition (entry fields read after the ARRAY JOIN). */
const definition = (): Promise<string> =>
  indexDump(`(${expansionSelect(PATIENT_INDEX_FIELDS).replace('{from}', AUDIT_REQUESTS_TABLE)})`);
const views = (): Promise<string> =>
  text(
    `SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView' AND name LIKE 'audit_patient_index%' ORDER BY name`,
  );
const raw = (): NonNullable<ReturnType<typeof rawInsertOf>> => {
  const insert = rawInsertOf(client);
  if (insert === undefined) throw new Error('a chDB store has a raw insert');
  return insert;
};

/**
 * Hand-made request rows (writer gw-hand) whose x_entry is not a writer's 1,1,2,3,3,… form: entries out of order,
 * an entry without patients in the middle and at the end, no patients at all, and a single-entry legacy shape.
 */
const HAND_MADE = `INSERT INTO ${AUDIT_REQUESTS_TABLE} (request_id, event_time, recorded_by, seq, prev_hash, hash, v, tenant_id,
  tenant_claimed, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, fhir_version, batch_id, trace_id,
  http_status, duration_ms, e_event_type, e_fhir_interaction, e_resource_type, e_query, e_entry_index, e_http_status,
  e_outcome, e_result_count, x_entry, x_patient_id)
SELECT toUUID(concat('01900000-0000-7000-8000-', leftPad(toString(seq), 12, '0'))), toDateTime64('2026-06-01 10:00:00', 3, 'UTC') + seq,
  'gw-hand', seq, '', '', 2, 't-hand', 0, 't-hand', 'client', 'u-hand', 'Hand', '10.0.0.1', 'ua', 'R4', '', '', 200, 1.2345,
  ['PatientView', 'ObservationSearch', 'ConditionSearch'], ['read', 'search-type', 'search-type'],
  ['Patient', 'Observation', 'Condition'], ['', 'patient=pH1', 'code=x'], [0, 1, 2], [200, 404, 200], [0, 4, 0],
  [CAST(1 AS Nullable(Int64)), NULL, -1], x_entry, x_patient_id
FROM (SELECT arrayJoin([
    (1, [2, 1, 2, 3], ['pH1', 'pH2', 'pH3', 'pH4']),
    (2, [1, 1, 3], ['pH1', 'pH2', 'pH5']),
    (3, [1, 2], ['pH1', 'pH3']),
    (4, [], []),
    (5, [3, 3, 1], ['pH4', '*', ''])
  ]) AS t, t.1 AS seq, CAST(t.2 AS Array(UInt16)) AS x_entry, CAST(t.3 AS Array(String)) AS x_patient_id)`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-patient-index-linear-'));
  client = openStore({ path: dir });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('migration 16: the index view with the linear expansion', () => {
  it('renders the same rows as the expansion’s definition, for writers’ requests and hand-made ones', () => {
    expect(PATIENT_INDEX_SELECT).toBe(expansionSelectLinear(PATIENT_INDEX_FIELDS));
    // the linear form reads no entry array after the ARRAY JOIN (its outer SELECT names no e_* column)
    expect(PATIENT_INDEX_SELECT.slice(0, PATIENT_INDEX_SELECT.indexOf('\nFROM'))).not.toMatch(/\be_[a-z_]+/);
    expect(expansionSelect(PATIENT_INDEX_FIELDS)).toMatch(/e_event_type\[_e\] AS event_type/);
  });

  it('carries a migration-15 store forward with no unindexed request, then indexes every later request exactly', async () => {
    const before = renderMigrations().filter((m) => m.version < LINEAR);
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY version`,
    });
    for (const migration of before) {
      for (const statement of migration.statements) await client.command({ query: statement });
    }
    await client.insert({
      table: MIGRATIONS_TABLE,
      values: before.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum, applied_at: Date.now() })),
      format: 'JSONEachRow',
    });
    expect(await views()).toBe('audit_patient_index_mv\n');
    const first = generateRequests({ count: 120, key: KEY, patients: 40 });
    await raw()(
      AUDIT_REQUESTS_TABLE,
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      encodeAuditRequestRows(first.requests),
    );
    const indexed = await indexDump(AUDIT_PATIENT_INDEX_TABLE);
    expect(indexed).toBe(await definition());

    expect((await migrate(client)).applied).toEqual([LINEAR]);
    expect(await views()).toBe(`${AUDIT_PATIENT_INDEX_VIEW}\n`);
    // the index is untouched (no rebuild, no backfill)
    expect(await indexDump(AUDIT_PATIENT_INDEX_TABLE)).toBe(indexed);

    // later requests as a writer stores them, and hand-made rows, through the new view
    const later = generateRequests({ count: 80, offset: 120, key: KEY, patients: 40, chainFrom: first.end });
    await raw()(
      AUDIT_REQUESTS_TABLE,
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      encodeAuditRequestRows(later.requests),
    );
    await client.command({ query: HAND_MADE });
    expect(await indexDump(AUDIT_PATIENT_INDEX_TABLE)).toBe(await definition());
    // hand-made rows: 4 + 3 + 2 + 0 + 3 index rows, entries by x_entry
    expect(
      await text(
        `SELECT seq, groupArray((patient_id, event_type, query, result_count)) FROM (SELECT * FROM ${AUDIT_PATIENT_INDEX_TABLE} WHERE recorded_by = 'gw-hand' ORDER BY seq, patient_id) GROUP BY seq ORDER BY seq`,
      ),
    ).toBe(
      [
        "1\t[('pH1','ObservationSearch','patient=pH1',NULL),('pH2','PatientView','',1),('pH3','ObservationSearch','patient=pH1',NULL),('pH4','ConditionSearch','code=x',NULL)]",
        "2\t[('pH1','PatientView','',1),('pH2','PatientView','',1),('pH5','ConditionSearch','code=x',NULL)]",
        "3\t[('pH1','PatientView','',1),('pH3','ObservationSearch','patient=pH1',NULL)]",
        "5\t[('','PatientView','',1),('*','ConditionSearch','code=x',NULL),('pH4','ConditionSearch','code=x',NULL)]",
        '',
      ].join('\n'),
    );
    // and the writers' rows are the contract's expansion, field for field (the index holds every record field)
    const contract = [...first.requests, ...later.requests].flatMap(expandRequestRecord);
    expect(
      Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_PATIENT_INDEX_TABLE} WHERE recorded_by != 'gw-hand'`)),
    ).toBe(contract.length);
    const stored = (
      await selectValueRows(
        client,
        `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_PATIENT_INDEX_TABLE} WHERE recorded_by != 'gw-hand' LIMIT 1 BY event_id`,
        {},
      )
    ).map(toAuditRecordFromValues);
    const byId = (x: { event_id: string }, y: { event_id: string }): number => (x.event_id < y.event_id ? -1 : 1);
    expect(stored.sort(byId)).toEqual(contract.sort(byId));
    expect((await migrate(client)).applied).toEqual([]);
  });

  it('the access report and audit verify agree with the requests', async () => {
    const report = await accessReport(client, { from: '2026-01-01', to: '2027-01-01', patientIds: ['pH3'] });
    expect((report.records ?? []).map((r) => [r.seq, r.event_type])).toEqual([
      [1, 'ObservationSearch'],
      [3, 'ObservationSearch'],
      // the all-patient export ('*') of the patient's tenant
      [5, 'ConditionSearch'],
    ]);
    const writers = (
      await text(`SELECT DISTINCT recorded_by FROM ${AUDIT_REQUESTS_TABLE} WHERE recorded_by != 'gw-hand'`)
    )
      .split('\n')
      .filter((w) => w !== '');
    const result = await verifyAuditChain(client, { key: KEY, recordedBy: writers, writeCheckpoint: false });
    expect(result.writers.map((w) => [w.recorded_by, w.ok, w.row_issues])).toEqual(writers.map((w) => [w, true, []]));
  });
});
