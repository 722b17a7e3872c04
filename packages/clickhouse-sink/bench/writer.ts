/**
 * Bench (a): audit rows/s through the sink's AuditWriter (validation, group commit, event_id dedup lookup,
 * insert) versus a bare `client.insert({ format: 'JSONEachRow' })` of the same rows in the same batch size,
 * same process, same chDB store, same table DDL (baseline table in database `bare`). Rounds alternate
 * baseline / candidate (which goes first alternates too) over the same rows; each round has fresh event_ids.
 * Each round pairs the two runs back to back; the ratio is the median of the per-round ratios (the machine is
 * shared and its load drifts: pairing cancels most of the drift), rows/s the median round of each side.
 * Fairness notes: both sides serialize the same objects with the client's JSONEachRow encoder; the writer
 * additionally validates every record and looks up already-stored event_ids before each insert. Writes are
 * submitted one per event-loop turn (1000 rows each, like middleware batches arriving over HTTP), so the
 * writer's JS work can overlap an insert in flight, as it does in the server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import { AuditWriter, migrate, openStore, StoreMonitor } from '../src/index.ts';
import { generateRecords } from '../test/records.ts';

const rowsPerRound = Number(process.env.BENCH_ROWS ?? 50_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const requestRows = 1000; // rows per write() call, like one middleware NDJSON batch
const batchRows = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'fw-sink-bench-'));
const client = openStore({ path: dir });
try {
  await migrate(client);
  await migrate(client, { database: 'bare' });
  const monitor = new StoreMonitor(client);
  const writer = new AuditWriter(client, monitor, { batchRows, maxPendingRows: rowsPerRound + batchRows });

  const baselineRates: number[] = [];
  const candidateRates: number[] = [];
  const runBaseline = async (rows: AuditRecord[]): Promise<void> => {
    const start = performance.now();
    for (let i = 0; i < rows.length; i += batchRows) {
      await client.insert({ table: 'bare.audit_events', values: rows.slice(i, i + batchRows), format: 'JSONEachRow' });
    }
    baselineRates.push(rows.length / ((performance.now() - start) / 1000));
  };
  const runCandidate = async (rows: AuditRecord[]): Promise<void> => {
    const start = performance.now();
    const writes: Promise<unknown>[] = [];
    // requests arrive one per event-loop turn, as from HTTP handlers, not all in one synchronous burst
    for (let i = 0; i < rows.length; i += requestRows) {
      writes.push(writer.write(rows.slice(i, i + requestRows)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writes);
    candidateRates.push(rows.length / ((performance.now() - start) / 1000));
  };
  for (let round = 0; round < rounds; round++) {
    const rows = generateRecords({ count: rowsPerRound, offset: round * rowsPerRound, patients: 50_000, users: 500 });
    if (round % 2 === 0) {
      await runBaseline(rows);
      await runCandidate(rows);
    } else {
      await runCandidate(rows);
      await runBaseline(rows);
    }
  }
  const counts = await (
    await client.query({
      query:
        'SELECT (SELECT count() FROM default.audit_events) AS candidate, (SELECT count() FROM bare.audit_events) AS baseline',
      format: 'JSONEachRow',
    })
  ).json<{ candidate: string; baseline: string }>();
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const baseline = median(baselineRates);
  const candidate = median(candidateRates);
  const ratios = candidateRates.map((rate, i) => rate / baselineRates[i]!);
  console.log(`bench (a) audit ingest: ${rounds} rounds x ${rowsPerRound} rows, batches of ${batchRows}`);
  console.log(`node ${process.version}, cpu ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`);
  console.log(
    `baseline  bare client.insert JSONEachRow: ${Math.round(baseline).toLocaleString('en-US')} rows/s (rounds: ${baselineRates.map(Math.round).join(', ')})`,
  );
  console.log(
    `candidate AuditWriter.write:             ${Math.round(candidate).toLocaleString('en-US')} rows/s (rounds: ${candidateRates.map(Math.round).join(', ')})`,
  );
  console.log(`rows stored: candidate ${counts[0]?.candidate}, baseline ${counts[0]?.baseline}`);
  console.log(`per-round ratios: ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
  console.log(
    `ratio = candidate / baseline = ${median(ratios).toFixed(3)} (median of per-round ratios; target >= 0.8; rows/s target >= 300,000)`,
  );
  await writer.close();
  monitor.close();
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
