/**
 * Migration 15: a store written by migrations 1–14 (the wide per-patient index with 8192-row granules) is carried
 * forward: the index is re-created with small granules and compressed blocks (PATIENT_INDEX_STORAGE_SETTINGS),
 * rebuilt from the requests with every row equal to the expansion, follows every later request, the access report
 * returns exactly the expansion view's rows, and `audit verify` proves both levels.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS, expandRequestRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessReport, verifyAuditChain } from '../src/compliance/index.ts';
import { selectRecords } from '../src/compliance/reports.ts';
import { migrate, openStore } from '../src/index.ts';
import { AUDIT_REQUEST_INSERT_COLUMNS, encodeAuditRequestRows } from '../src/store/audit-encode.ts';
import {
  AUDIT_REQUESTS_TABLE,
  AUDIT_TABLE,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  renderMigrations,
} from '../src/store/index.ts';
import { rawInsertOf } from '../src/store/open.ts';
import {
  AUDIT_PATIENT_INDEX_TABLE,
  PATIENT_INDEX_FIELDS,
  PATIENT_INDEX_SELECT,
  PATIENT_INDEX_STORAGE_SETTINGS,
} from '../src/store/schema/audit-patient-index.ts';
import { generateRequests } from './records.ts';

const KEY = 'fhirwatch-test-key';
const SMALL = MIGRATIONS.find((m) => m.name === 'audit_patient_index_small_granules')?.version ?? Number.NaN;
let dir: string;
let client: ClickHouseClient;

async function text(query: string): Promise<string> {
  return (await client.query({ query, format: 'TabSeparatedRaw' })).text();
}
const indexDump = (source: string): Promise<string> =>
  text(`SELECT DISTINCT ${PATIENT_INDEX_FIELDS.join(', ')} FROM ${source} ORDER BY event_id`);
const expected = (): Promise<string> => indexDump(`(${PATIENT_INDEX_SELECT.replace('{from}', AUDIT_REQUESTS_TABLE)})`);
/** The index table's storage settings as the engine reports them. */
const indexSettings = async (): Promise<string> =>
  (
    await text(
      `SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = '${AUDIT_PATIENT_INDEX_TABLE}'`,
    )
  ).replace(/^.*SETTINGS /s, '');
const raw = (): NonNullable<ReturnType<typeof rawInsertOf>> => {
  const insert = rawInsertOf(client);
  if (insert === undefined) throw new Error('a chDB store has a raw insert');
  return insert;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-patient-index-granules-'));
  client = openStore({ path: dir });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('migration 15: the per-patient index in small granules', () => {
  it('re-creates a migration-14 index with small granules from the requests, then indexes every later request', async () => {
    const before = renderMigrations().filter((m) => m.version < SMALL);
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
    expect(await indexSettings()).toMatch(/index_granularity = 8192/);
    const first = generateRequests({ count: 200, key: KEY, patients: 60 });
    await raw()(
      AUDIT_REQUESTS_TABLE,
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      encodeAuditRequestRows(first.requests),
    );
    const expanded = first.requests.flatMap(expandRequestRecord).length;
    expect(Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_PATIENT_INDEX_TABLE}`))).toBe(expanded);

    expect((await migrate(client)).applied).toEqual(MIGRATIONS.filter((m) => m.version >= SMALL).map((m) => m.version));
    const settings = await indexSettings();
    for (const [name, value] of Object.entries(PATIENT_INDEX_STORAGE_SETTINGS)) {
      expect(settings).toContain(`${name} = ${value}`);
    }
    expect(await indexDump(AUDIT_PATIENT_INDEX_TABLE)).toBe(await expected());
    expect(Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_PATIENT_INDEX_TABLE}`))).toBe(expanded);

    // later requests reach the re-created index through its materialized view
    const later = generateRequests({ count: 60, offset: 200, key: KEY, patients: 60, chainFrom: first.end });
    await raw()(
      AUDIT_REQUESTS_TABLE,
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      encodeAuditRequestRows(later.requests),
    );
    expect(await indexDump(AUDIT_PATIENT_INDEX_TABLE)).toBe(await expected());
    expect((await migrate(client)).applied).toEqual([]);
  });

  it('the access report returns exactly the expansion view’s rows of the patient', async () => {
    const range = { from: '2026-01-01', to: '2027-01-01' };
    for (const patient of ['p0', 'p17', 'p59']) {
      const report = await accessReport(client, { ...range, patientIds: [patient] });
      const viewRows = await selectRecords(
        client,
        "patient_id IN {patients:Array(String)} AND event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}",
        { patients: [patient, ALL_PATIENTS], from: '2026-01-01 00:00:00.000', to: '2027-01-01 00:00:00.000' },
        AUDIT_TABLE,
      );
      expect(viewRows.length).toBeGreaterThan(0);
      expect(report.records).toEqual(viewRows);
    }
  });

  it('audit verify proves the re-created index (level 2) and the chain (level 1)', async () => {
    const result = await verifyAuditChain(client, { key: KEY });
    expect(result.writers.every((w) => w.ok)).toBe(true);
    const rows = Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_TABLE}`));
    expect(result.writers.reduce((n, w) => n + w.stored_rows, 0)).toBe(rows);
  });
});
