/**
 * Migration 10: `audit_events_by_patient` (the access report's table) holds exactly the rows of audit_events,
 * whatever fills audit_events (a plain insert, a materialized view writing into it, rows stored before the
 * migration ran), with yearly partitions and the same retention as audit_events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_RECORD_FIELDS } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openStore } from '../src/index.ts';
import { AUDIT_BY_PATIENT_TABLE, AUDIT_TABLE, MIGRATIONS_TABLE, renderSchemaScript } from '../src/store/index.ts';
import { AUDIT_BY_PATIENT_VIEW } from '../src/store/schema/index.ts';
import { generateRecords } from './records.ts';

let dir: string;
let client: ClickHouseClient;
const COLUMNS = AUDIT_RECORD_FIELDS.join(', ');

async function rows<T>(query: string): Promise<T[]> {
  return (await client.query({ query, format: 'JSONEachRow' })).json<T>();
}
async function text(query: string): Promise<string> {
  return (await client.query({ query, format: 'TabSeparatedRaw' })).text();
}
/** Every row of a table (all record columns), in a stable order, as text. */
const dump = (table: string): Promise<string> => text(`SELECT ${COLUMNS} FROM ${table} ORDER BY event_id, hash`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-by-patient-'));
  client = openStore({ path: dir });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('audit_events_by_patient (migration 10)', () => {
  it('backfills the rows stored before it existed, then follows every insert into audit_events', async () => {
    await migrate(client);
    // a store as it was before migration 10: the table, its view and the version record removed
    await client.command({ query: `DROP VIEW ${AUDIT_BY_PATIENT_VIEW}` });
    await client.command({ query: `DROP TABLE ${AUDIT_BY_PATIENT_TABLE}` });
    await client.command({
      query: `ALTER TABLE ${MIGRATIONS_TABLE} DELETE WHERE version = 10`,
      clickhouse_settings: { mutations_sync: '2' },
    });
    const before = generateRecords({ count: 3000 });
    await client.insert({ table: AUDIT_TABLE, values: before, format: 'JSONEachRow' });

    const result = await migrate(client);
    expect(result.applied).toEqual([10]);
    expect(Number(await text(`SELECT count() FROM ${AUDIT_BY_PATIENT_TABLE}`))).toBe(3000);

    // plain inserts, two batches, one with a duplicate delivery of an earlier record
    const later = generateRecords({ count: 2000, offset: 3000 });
    await client.insert({ table: AUDIT_TABLE, values: later.slice(0, 1000), format: 'JSONEachRow' });
    await client.insert({
      table: AUDIT_TABLE,
      values: [...later.slice(1000), before[0]],
      format: 'JSONEachRow',
    });
    // a materialized view writing into audit_events (as a request-record expansion would) feeds it too
    await client.command({
      query: `CREATE TABLE staged_records AS ${AUDIT_TABLE} ENGINE = Null`,
    });
    await client.command({
      query: `CREATE MATERIALIZED VIEW staged_records_mv TO ${AUDIT_TABLE} AS SELECT ${COLUMNS} FROM staged_records`,
    });
    const staged = generateRecords({ count: 500, offset: 5000, start: Date.UTC(2025, 0, 1) });
    await client.insert({ table: 'staged_records', values: staged, format: 'JSONEachRow' });

    expect(Number(await text(`SELECT count() FROM ${AUDIT_TABLE}`))).toBe(5501);
    expect(await dump(AUDIT_BY_PATIENT_TABLE)).toBe(await dump(AUDIT_TABLE));
    expect(Number(await text(`SELECT uniqExact(event_id) FROM ${AUDIT_BY_PATIENT_TABLE}`))).toBe(5500);
  });

  it('is partitioned by year, sorted by patient, with the TTL of audit_events, and follows a retention change', async () => {
    const [info] = await rows<{ partition_key: string; sorting_key: string; create_table_query: string }>(
      `SELECT partition_key, sorting_key, create_table_query FROM system.tables
       WHERE database = currentDatabase() AND name = '${AUDIT_BY_PATIENT_TABLE}'`,
    );
    expect(info?.partition_key).toBe('toYear(event_time)');
    expect(info?.sorting_key).toBe('patient_id, tenant_id, event_time, event_id');
    expect(info?.create_table_query).toContain('TTL toDateTime(event_time) + toIntervalDay(2557)');
    expect(info?.create_table_query).not.toContain('ttl_only_drop_parts');
    const columns = await rows<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${AUDIT_BY_PATIENT_TABLE}' ORDER BY position`,
    );
    expect(columns.map((c) => c.name)).toEqual([...AUDIT_RECORD_FIELDS]);
    const changed = await migrate(client, { auditRetentionDays: 3000 });
    expect(changed.retentionChanged).toEqual(expect.arrayContaining([AUDIT_TABLE, AUDIT_BY_PATIENT_TABLE]));
    expect(
      await text(`SELECT create_table_query FROM system.tables WHERE name = '${AUDIT_BY_PATIENT_TABLE}'`),
    ).toContain('toIntervalDay(3000)');
    await migrate(client); // back to the default
  });

  it('deletes expired rows row by row like audit_events, inside a partition that still has live rows', async () => {
    // Retention 30 days; one year partition holding both an expired and a live row (two dates this year).
    await migrate(client, { auditRetentionDays: 30 });
    const now = Date.now();
    const yearStart = Date.UTC(new Date(now).getUTCFullYear(), 0, 1);
    // the expired row: 31+ days old but in this year when possible, so it shares a partition with the live one
    const oldMs = Math.max(yearStart + 1000, now - 40 * 86_400_000);
    const expired = generateRecords({ count: 1, offset: 9000, start: oldMs })[0];
    const live = generateRecords({ count: 1, offset: 9001, start: now - 86_400_000 })[0];
    if (expired === undefined || live === undefined) throw new Error('no records');
    const expiredIsOld = now - oldMs > 30 * 86_400_000;
    await client.insert({ table: AUDIT_TABLE, values: [expired, live], format: 'JSONEachRow' });
    for (const table of [AUDIT_TABLE, AUDIT_BY_PATIENT_TABLE]) {
      await client.command({ query: `OPTIMIZE TABLE ${table} FINAL` });
    }
    const ids = `('${expired.event_id}', '${live.event_id}')`;
    const kept = (table: string): Promise<string> =>
      text(`SELECT event_id FROM ${table} WHERE event_id IN ${ids} ORDER BY event_id`);
    expect(await kept(AUDIT_BY_PATIENT_TABLE)).toBe(await kept(AUDIT_TABLE));
    expect((await kept(AUDIT_BY_PATIENT_TABLE)).trim().split('\n')).toEqual(
      expiredIsOld ? [live.event_id] : [expired.event_id, live.event_id].sort(),
    );
    await migrate(client);
  });

  it('renders the view and the backfill in both schema variants', () => {
    const single = renderSchemaScript();
    expect(single).toContain(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS \`default\`.\`${AUDIT_BY_PATIENT_VIEW}\`\nTO \`default\`.\`${AUDIT_BY_PATIENT_TABLE}\``,
    );
    expect(single).toMatch(
      /INSERT INTO `default`.`audit_events_by_patient` \(.*\)\nSELECT .* FROM `default`.`audit_events`;/,
    );
    const cluster = renderSchemaScript({ cluster: '{cluster}' });
    expect(cluster).toContain(`TO \`default\`.\`${AUDIT_BY_PATIENT_TABLE}_local\``);
    expect(cluster).toContain(`FROM \`default\`.\`${AUDIT_TABLE}_local\``);
  });
});
