/**
 * Bytes per per-patient event stored (compressed, from system.parts after OPTIMIZE FINAL), the storage now
 * (migration 14: audit_requests + the wide audit_patient_index, every record field; audit_events is a view) against
 * migration 11's (database `m11`: the same with the narrow index, migrations 1–13) and the storage before it
 * (migrations 1–10: audit_requests + the audit_events table with its by_user projection + audit_events_by_patient),
 * same request records (chained with a real key, so hashes are random) into three databases of one chDB store.
 * `BENCH_BYTES_REQUESTS` (default 20,000 ≈ 615,000 events). Used by docs/capacity.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_REQUEST_INSERT_COLUMNS, encodeAuditRequestRows } from '../src/store/audit-encode.ts';
import { openStore, rawInsertOf } from '../src/store/open.ts';
import { migrate, renderMigrations } from '../src/store/schema/index.ts';
import { generateRequests } from '../test/records.ts';

const count = Number(process.env.BENCH_BYTES_REQUESTS ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'fw-bytes-bench-'));
const client = openStore({ path: dir });
try {
  await migrate(client, { database: 'now' });
  for (const [database, last] of [
    ['before', 10],
    ['m11', 13],
  ] as const) {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    for (const migration of renderMigrations({ database }).filter((m) => m.version <= last)) {
      for (const statement of migration.statements) await client.command({ query: statement });
    }
  }
  const raw = rawInsertOf(client);
  if (raw === undefined) throw new Error('a chDB store has a raw insert');
  let events = 0;
  let chain = { seq: 0, hash: '' };
  for (let offset = 0; offset < count; offset += 5000) {
    const batch = generateRequests({
      count: Math.min(5000, count - offset),
      offset,
      key: 'bytes',
      chainFrom: chain,
      patients: 200_000,
      users: 500,
    });
    chain = batch.end;
    events += batch.rows;
    const body = encodeAuditRequestRows(batch.requests);
    for (const db of ['now', 'm11', 'before'])
      await raw(`${db}.audit_requests`, AUDIT_REQUEST_INSERT_COLUMNS, 'JSONCompactEachRow', body);
  }
  const rows = await (
    await client.query({
      query: `SELECT database, table, sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS raw
              FROM system.parts WHERE active AND database IN ('now', 'm11', 'before') AND table LIKE 'audit%' GROUP BY database, table ORDER BY database, table`,
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
  ).json<{ database: string; table: string; compressed: number; raw: number }>();
  for (const db of ['now', 'm11', 'before']) {
    for (const table of ['audit_requests', 'audit_patient_index', 'audit_events', 'audit_events_by_patient']) {
      try {
        await client.command({ query: `OPTIMIZE TABLE ${db}.${table} FINAL` });
      } catch {
        /* not in this design */
      }
    }
  }
  const after = await (
    await client.query({
      query: `SELECT database, table, sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS raw
              FROM system.parts WHERE active AND database IN ('now', 'm11', 'before') AND table LIKE 'audit%' GROUP BY database, table ORDER BY database, table`,
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
  ).json<{ database: string; table: string; compressed: number; raw: number }>();
  void rows;
  console.log(
    `bytes per event: ${count} request records, ${events} per-patient events, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const total: Record<string, number> = {};
  for (const r of after) {
    total[r.database] = (total[r.database] ?? 0) + Number(r.compressed);
    console.log(
      `${r.database.padEnd(7)} ${r.table.padEnd(26)} ${(Number(r.compressed) / events).toFixed(2).padStart(8)} B/event compressed (${(Number(r.raw) / events).toFixed(1)} uncompressed)`,
    );
  }
  console.log(
    `total: now (migration 14) ${((total.now ?? 0) / events).toFixed(2)} B/event, migration 11 ${((total.m11 ?? 0) / events).toFixed(2)} B/event, before (migrations 1–10) ${((total.before ?? 0) / events).toFixed(2)} B/event; ratio now / migration 11 ${((total.now ?? 0) / (total.m11 ?? 1)).toFixed(3)}, now / before ${((total.now ?? 0) / (total.before ?? 1)).toFixed(3)}`,
  );
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
