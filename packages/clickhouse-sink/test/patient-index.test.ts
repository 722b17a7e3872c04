/**
 * Migration 11: a store written by migrations 1–10 (per-patient rows expanded into audit_events and its copy
 * audit_events_by_patient, plus rows inserted into audit_events by hand) is carried forward: audit_events becomes
 * the expansion view of audit_requests and returns the same rows, hand-inserted rows are lifted into
 * audit_requests, the narrow per-patient index holds one row per per-patient row and follows every later insert,
 * the old tables are gone, and the index has the retention of the requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_RECORD_FIELDS, expandRequestRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openStore } from '../src/index.ts';
import { AUDIT_REQUEST_INSERT_COLUMNS, encodeAuditRequestRows } from '../src/store/audit-encode.ts';
import {
  AUDIT_REQUESTS_TABLE,
  AUDIT_TABLE,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  renderMigrations,
  renderSchemaScript,
} from '../src/store/index.ts';
import { rawInsertOf } from '../src/store/open.ts';
import { AUDIT_PATIENT_INDEX_TABLE, PATIENT_INDEX_FIELDS, PATIENT_INDEX_SELECT } from '../src/store/schema/index.ts';
import { generateRecords, generateRequests } from './records.ts';

let dir: string;
let client: ClickHouseClient;
// duration as signed (3 decimals): the view applies the contract's rounding, the old table stored it as sent
const COLUMNS = AUDIT_RECORD_FIELDS.map((f) =>
  f === 'duration_ms' ? 'floor(duration_ms * 1000 + 0.5) / 1000 AS duration_ms' : f,
).join(', ');

async function text(query: string): Promise<string> {
  return (await client.query({ query, format: 'TabSeparatedRaw' })).text();
}
/** Every per-patient row, one per event_id, in a stable order, as text. */
const dump = (): Promise<string> =>
  text(`SELECT ${COLUMNS} FROM ${AUDIT_TABLE} ORDER BY event_id, hash LIMIT 1 BY event_id`);
const indexDump = (source: string): Promise<string> =>
  text(`SELECT DISTINCT ${PATIENT_INDEX_FIELDS.join(', ')} FROM ${source} ORDER BY event_id`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-patient-index-'));
  client = openStore({ path: dir });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('migration 11: audit_patient_index, audit_events as the expansion view', () => {
  it('carries a store written by migrations 1–10 forward, then indexes every later request', async () => {
    // the store as migrations 1–10 left it
    for (const migration of renderMigrations().filter((m) => m.version <= 10)) {
      for (const statement of migration.statements) await client.command({ query: statement });
    }
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY version`,
    });
    await client.insert({
      table: MIGRATIONS_TABLE,
      values: renderMigrations()
        .filter((m) => m.version <= 10)
        .map((m) => ({ version: m.version, name: m.name, checksum: m.checksum, applied_at: Date.now() })),
      format: 'JSONEachRow',
    });
    const raw = rawInsertOf(client);
    if (raw === undefined) throw new Error('a chDB store has a raw insert');
    const { requests } = generateRequests({ count: 200, key: 'k' });
    await raw(
      AUDIT_REQUESTS_TABLE,
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      encodeAuditRequestRows(requests),
    );
    // rows inserted into audit_events by hand (no request behind them), one of them twice
    const byHand = generateRecords({ count: 300, offset: 100_000, start: Date.UTC(2025, 5, 1) });
    await client.insert({ table: AUDIT_TABLE, values: [...byHand, byHand[0]], format: 'JSONEachRow' });
    const expanded = requests.flatMap(expandRequestRecord).length;
    expect(Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_TABLE}`))).toBe(expanded + 300);
    const before = await dump();

    const result = await migrate(client);
    // 11, and the later ones (12: incidents, 13: query log comments, 14: the wide index)
    expect(result.applied).toEqual(MIGRATIONS.filter((m) => m.version >= 11).map((m) => m.version));
    expect(
      await text(`SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = '${AUDIT_TABLE}'`),
    ).toBe('View\n');
    expect(await dump()).toBe(before);
    expect(
      await text(
        `SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('audit_events_by_patient', 'audit_events_by_patient_mv', 'audit_requests_expand')`,
      ),
    ).toBe('0\n');
    // the hand-inserted rows are now legacy (v1) requests
    expect(Number(await text(`SELECT count() FROM ${AUDIT_REQUESTS_TABLE} WHERE v = 1`))).toBe(300);
    // the index is exactly the expansion's index rows
    const expected = (): Promise<string> =>
      indexDump(`(${PATIENT_INDEX_SELECT.replace('{from}', AUDIT_REQUESTS_TABLE)})`);
    expect(await indexDump(AUDIT_PATIENT_INDEX_TABLE)).toBe(await expected());
    expect(Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_PATIENT_INDEX_TABLE}`))).toBe(expanded + 300);

    // later requests reach the view and the index through the materialized view
    const later = generateRequests({ count: 50, offset: 200, key: 'k' }).requests;
    await raw(AUDIT_REQUESTS_TABLE, AUDIT_REQUEST_INSERT_COLUMNS, 'JSONCompactEachRow', encodeAuditRequestRows(later));
    expect(await indexDump(AUDIT_PATIENT_INDEX_TABLE)).toBe(await expected());
    expect(Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_TABLE}`))).toBe(
      expanded + 300 + later.flatMap(expandRequestRecord).length,
    );
    // a second migrate changes nothing
    expect((await migrate(client)).applied).toEqual([]);
  });

  it('the index is yearly, sorted by patient, with the retention of the requests, and follows a retention change', async () => {
    const [info] = await (
      await client.query({
        query: `SELECT partition_key, sorting_key, create_table_query FROM system.tables
                WHERE database = currentDatabase() AND name = '${AUDIT_PATIENT_INDEX_TABLE}'`,
        format: 'JSONEachRow',
      })
    ).json<{ partition_key: string; sorting_key: string; create_table_query: string }>();
    expect(info?.partition_key).toBe('toYear(event_time)');
    expect(info?.sorting_key).toBe('patient_id, tenant_id, event_time, event_id');
    expect(info?.create_table_query).toContain('TTL toDateTime(event_time) + toIntervalDay(2557)');
    const changed = await migrate(client, { auditRetentionDays: 3000 });
    expect(changed.retentionChanged).toEqual(expect.arrayContaining([AUDIT_REQUESTS_TABLE, AUDIT_PATIENT_INDEX_TABLE]));
    await migrate(client); // back to the default
  });

  it('renders the index, its view, the backfill and the projection in both schema variants', () => {
    const single = renderSchemaScript();
    expect(single).toContain(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS \`default\`.\`audit_patient_index_mv\`\nTO \`default\`.\`${AUDIT_PATIENT_INDEX_TABLE}\``,
    );
    expect(single).toContain(`CREATE VIEW IF NOT EXISTS \`default\`.\`${AUDIT_TABLE}\``);
    const cluster = renderSchemaScript({ cluster: '{cluster}' });
    expect(cluster).toContain(`TO \`default\`.\`${AUDIT_PATIENT_INDEX_TABLE}_local\``);
    expect(cluster).toContain(`FROM \`default\`.\`${AUDIT_REQUESTS_TABLE}_local\``);
    expect(cluster).toContain("ALTER TABLE `default`.`audit_requests_local` ON CLUSTER '{cluster}' ADD PROJECTION");
    expect(cluster).toContain("DROP TABLE IF EXISTS `default`.`audit_events_local` ON CLUSTER '{cluster}'");
  });
});
