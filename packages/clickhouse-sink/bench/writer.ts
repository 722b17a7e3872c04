/**
 * Bench (a): audit rows/s through the sink's AuditWriter (validation, group commit, exact event_id dedup,
 * insert) versus bare inserts of the same rows in the same batch size, same process, same chDB store, same
 * table DDL (each side has its own database with the migrated schema).
 *
 * - baseline (the named one, target ratio >= 0.8): bare `client.insert({ format: 'JSONEachRow' })` through
 *   @clickhouse/client over chdb's Connection, i.e. `INSERT INTO bare.audit_events FORMAT JSONEachRow`;
 * - baseline 2 (the fastest bare path found): the same rows encoded as JSONCompactEachRow into one Buffer
 *   and handed to chdb's raw insert, no validation, no dedup: what the writer does minus its own work.
 *
 * Rounds rotate the order of the three sides over fresh event_ids; rows/s is the median round of each side,
 * the ratio the median of per-round ratios (the machine is shared and its load drifts: pairing cancels most
 * of the drift). CPU µs/row is process CPU time (all threads: JS and the engine's) over the side's rows: it is
 * much less sensitive to other processes than wall-clock rows/s. Writes are submitted one per event-loop turn
 * (1000 rows each, like middleware batches arriving over HTTP), so the writer's JS work can overlap an insert.
 * Finally the engine's own JSON parse ceiling: `SELECT * FROM file(<the rows>, JSONEachRow, …) FORMAT Null`
 * (every column parsed, nothing written; `SELECT count()` would not parse the columns at all).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditRecord, requestFromAuditRecord } from '@fhirwatch/contract';
import { AuditWriter, migrate, openStore, StoreMonitor } from '../src/index.ts';
import { rawInsertOf } from '../src/store.ts';
import { AUDIT_REQUEST_INSERT_COLUMNS, encodeAuditRequestRows } from '../src/writer/audit-encode.ts';

const encodeAuditRows = (rows: readonly AuditRecord[]): Buffer =>
  encodeAuditRequestRows(rows.map(requestFromAuditRecord));

import { generateRecords } from '../test/records.ts';

const rowsPerRound = Number(process.env.BENCH_ROWS ?? 50_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const requestRows = 1000; // rows per write() call, like one middleware NDJSON batch
const batchRows = 10_000;

interface Side {
  name: string;
  rates: number[];
  cpu: number[];
  run: (rows: AuditRecord[]) => Promise<void>;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function timed(side: Side, rows: AuditRecord[]): Promise<void> {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await side.run(rows);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  side.rates.push(rows.length / seconds);
  side.cpu.push((cpu.user + cpu.system) / rows.length);
}

const dir = mkdtempSync(join(tmpdir(), 'fw-sink-bench-'));
const client = openStore({ path: dir });
try {
  await migrate(client);
  await migrate(client, { database: 'bare' });
  await migrate(client, { database: 'bare2' });
  const rawInsert = rawInsertOf(client);
  if (rawInsert === undefined) throw new Error('a chDB store has a raw insert');
  const monitor = new StoreMonitor(client);
  const writer = new AuditWriter(client, monitor, { batchRows, maxPendingRows: rowsPerRound + batchRows });

  const baseline: Side = {
    name: 'baseline   bare client.insert JSONEachRow',
    rates: [],
    cpu: [],
    run: async (rows) => {
      for (let i = 0; i < rows.length; i += batchRows) {
        await client.insert({
          table: 'bare.audit_events',
          values: rows.slice(i, i + batchRows),
          format: 'JSONEachRow',
        });
      }
    },
  };
  const baseline2: Side = {
    name: 'baseline 2 bare raw JSONCompactEachRow   ',
    rates: [],
    cpu: [],
    run: async (rows) => {
      for (let i = 0; i < rows.length; i += batchRows) {
        const body = encodeAuditRows(rows.slice(i, i + batchRows));
        await rawInsert('bare2.audit_requests', AUDIT_REQUEST_INSERT_COLUMNS, 'JSONCompactEachRow', body);
      }
    },
  };
  const candidate: Side = {
    name: 'candidate  AuditWriter.write             ',
    rates: [],
    cpu: [],
    run: async (rows) => {
      const writes: Promise<unknown>[] = [];
      // requests arrive one per event-loop turn, as from HTTP handlers, not all in one synchronous burst
      for (let i = 0; i < rows.length; i += requestRows) {
        writes.push(writer.write(rows.slice(i, i + requestRows)));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(writes);
    },
  };
  const sides = [baseline, baseline2, candidate];
  for (let round = 0; round < rounds; round++) {
    const rows = generateRecords({ count: rowsPerRound, offset: round * rowsPerRound, patients: 50_000, users: 500 });
    for (let k = 0; k < sides.length; k++) await timed(sides[(round + k) % sides.length]!, rows);
  }
  await writer.close();
  monitor.close();

  // the engine's JSON parse ceiling on this machine: no insert, no JS, just the format reader over the rows
  const parseRates: Record<string, number[]> = { JSONEachRow: [], JSONCompactEachRow: [] };
  const parseCpu: Record<string, number[]> = { JSONEachRow: [], JSONCompactEachRow: [] };
  const rows = generateRecords({ count: rowsPerRound, patients: 50_000, users: 500 });
  const files = {
    JSONEachRow: Buffer.from(`${rows.map((row) => JSON.stringify(row)).join('\n')}\n`),
    JSONCompactEachRow: encodeAuditRows(rows),
  };
  const columns = await (
    await client.query({
      query: `SELECT name, type FROM system.columns WHERE database = 'default' AND table = 'audit_events' ORDER BY position`,
      format: 'JSONEachRow',
    })
  ).json<{ name: string; type: string }>();
  const structure = columns.map((c) => `${c.name} ${c.type}`).join(', ');
  for (const [format, body] of Object.entries(files)) writeFileSync(join(dir, `rows.${format}`), body);
  for (let round = 0; round < 5; round++) {
    for (const format of Object.keys(files)) {
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      await client.command({
        query: `SELECT * FROM file({path:String}, ${format}, {structure:String}) FORMAT Null`,
        query_params: { path: join(dir, `rows.${format}`), structure },
        clickhouse_settings: { date_time_input_format: 'best_effort' },
      });
      const cpu = process.cpuUsage(cpu0);
      parseRates[format]!.push(rowsPerRound / ((performance.now() - start) / 1000));
      parseCpu[format]!.push((cpu.user + cpu.system) / rowsPerRound);
    }
  }

  const counts = await (
    await client.query({
      query: `SELECT (SELECT count() FROM default.audit_events) AS candidate,
                     (SELECT count() FROM bare.audit_events) AS baseline,
                     (SELECT count() FROM bare2.audit_events) AS baseline2`,
      format: 'JSONEachRow',
    })
  ).json<{ candidate: string; baseline: string; baseline2: string }>();
  const ratios = (of: Side, to: Side): number[] => of.rates.map((rate, i) => rate / to.rates[i]!);
  console.log(`bench (a) audit ingest: ${rounds} rounds x ${rowsPerRound} rows, batches of ${batchRows}`);
  console.log(
    `node ${process.version}, cpu ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  for (const side of sides) {
    console.log(
      `${side.name}: ${fmt(median(side.rates)).padStart(7)} rows/s, ${median(side.cpu).toFixed(1)} CPU us/row (rounds: ${side.rates.map(Math.round).join(', ')})`,
    );
  }
  console.log(
    `rows stored: candidate ${counts[0]?.candidate}, baseline ${counts[0]?.baseline}, baseline 2 ${counts[0]?.baseline2}`,
  );
  console.log(
    `per-round ratios candidate/baseline: ${ratios(candidate, baseline)
      .map((r) => r.toFixed(2))
      .join(', ')}`,
  );
  console.log(
    `ratio = candidate / baseline = ${median(ratios(candidate, baseline)).toFixed(3)} (median of per-round ratios; target >= 0.8; rows/s target >= 300,000)`,
  );
  console.log(
    `ratio = candidate / baseline 2 = ${median(ratios(candidate, baseline2)).toFixed(3)} (the writer's own cost: validation, dedup)`,
  );
  for (const format of Object.keys(files)) {
    console.log(
      `engine parse ceiling, SELECT * FROM file(${format}) FORMAT Null: ${fmt(median(parseRates[format]!))} rows/s, ${median(parseCpu[format]!).toFixed(1)} CPU us/row`,
    );
  }
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
