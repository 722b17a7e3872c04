/**
 * Bench (d): does a heavy compliance query stall ingest? chDB runs in the sink's own process, so a report served
 * by the query API shares the process (and, if the engine or the JS around it blocked, the event loop) with
 * `POST /v1/audit`.
 *
 * Store: BENCH_ROWS (default 5 M) audit rows generated inside the engine over a year, 4 tenants, 5,000 patients
 * per tenant, plus one busy patient `p-busy` with 1 row in BENCH_BUSY_EVERY (default 200: 25 k rows at 5 M).
 * A worker thread (its own event loop, so it measures the sink, not itself) POSTs batches of 100 fresh records to
 * /v1/audit back to back and records each request's latency; another worker thread asks for the report. Two sides, interleaved BENCH_ROUNDS times (default 4)
 * for BENCH_SECONDS each (default 8):
 *   baseline  = ingest alone;
 *   candidate = ingest while the report worker runs `GET /api/audit/access?patient=p-busy&since=400d` back to back
 *               (the whole year for the busy patient, JSON answer, recorded in audit_query_log like any read).
 * Printed: ingest latency p50/p95/p99/max per side, ratio = candidate p99 / baseline p99, the reports served,
 * their latency, and the sink's event-loop delay (perf_hooks.monitorEventLoopDelay) and utilization (the share of
 * wall time its thread ran JS: high delay at low utilization is CPU starvation, not a blocked loop) per side.
 *
 *   cd packages/clickhouse-sink && npx node --conditions=fhirwatch-source bench/ingest-under-query.ts
 *   (BENCH_KEEP_DIR=/tmp/fw-c keeps the generated store for the next run; BENCH_QUERY_THREAD=inline runs the
 *   query API on the sink's thread instead of its worker, for comparison)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance as perf } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { AUDIT_EVENT_TYPES } from '@fhirwatch/contract';
import { startSink } from '../src/ingest/server.ts';
import { AUDIT_TABLE } from '../src/store/schema/index.ts';
import { generateAuditDataset } from '../src/testing/dataset.ts';

const rows = Number(process.env.BENCH_ROWS ?? 5_000_000);
const busyEvery = Number(process.env.BENCH_BUSY_EVERY ?? 200);
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const YEAR_MS = 365 * 86_400_000;
const end = new Date();
const start = new Date(end.getTime() - YEAR_MS);

// BENCH_KEEP_DIR=<dir>: keep the generated store there and reuse it on the next run (generation takes minutes)
const keepDir = process.env.BENCH_KEEP_DIR;
const dir = keepDir ?? mkdtempSync(join(tmpdir(), 'fw-ingest-query-bench-'));
// BENCH_QUERY_THREAD=inline: the query API on the sink's own thread (what it was before the worker), to compare
const thread = process.env.BENCH_QUERY_THREAD === 'inline' ? 'inline' : 'worker';
const sink = await startSink({ store: join(dir, 'store'), queryApi: { thread } });
const client = sink.client;
const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
};
const ms = (n: number): string => `${n.toFixed(1)} ms`;

async function generate(): Promise<void> {
  const [existing] = (await (
    await client.query({
      query: `SELECT count() AS n FROM ${AUDIT_TABLE} WHERE patient_id = 'p-busy'`,
      format: 'JSONEachRow',
    })
  ).json()) as { n: string }[];
  if (Number(existing?.n ?? 0) >= Math.floor(rows / busyEvery)) {
    console.log(`reusing the store in ${dir}`);
    return;
  }
  const types = `[${AUDIT_EVENT_TYPES.map((t) => `'${t}'`).join(', ')}]`;
  const t0 = performance.now();
  await client.command({
    query: `INSERT INTO ${AUDIT_TABLE}
      SELECT
        toUUID(concat(substring(ms, 1, 8), '-', substring(ms, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))) AS event_id,
        event_time, concat('gw-', toString(t % 2)) AS recorded_by, number + 1 AS seq,
        lower(hex(cityHash64(number, 10))) AS prev_hash, lower(hex(cityHash64(number, 11))) AS hash,
        concat('tenant-', toString(t)) AS tenant_id, concat('tenant-', toString(t)) AS routed_tenant_id,
        'teams-patients-app' AS client_id, concat('u-', toString(u)) AS user_id, concat('Dr ', toString(u)) AS user_name,
        concat('10.', toString(t), '.', toString(u % 250), '.7') AS source_ip,
        'Mozilla/5.0 Teams/24335 PatientsApp/2.1' AS user_agent,
        ${types}[1 + cityHash64(number, 4) % 11] AS event_type,
        'read' AS fhir_interaction, 'Patient' AS resource_type, 'STU3' AS fhir_version,
        concat('patient=', patient_id) AS query,
        if(number % ${busyEvery} = 0, 'p-busy', concat('p-', toString(t), '-', toString(cityHash64(number, 3) % 5000))) AS patient_id,
        '' AS batch_id, -1 AS entry_index, lower(hex(cityHash64(number, 7))) AS trace_id,
        0 AS outcome, 200 AS http_status, round((cityHash64(number, 9) % 400000) / 1000, 3) AS duration_ms, 1 AS result_count
      FROM (
        SELECT number, cityHash64(number, 2) % 500 AS u, if(number % ${busyEvery} = 0, 0, u % 4) AS t,
          leftPad(lower(hex(toUInt64(toUnixTimestamp64Milli(event_time)))), 12, '0') AS ms,
          concat(lower(hex(cityHash64(number, 12))), lower(hex(cityHash64(number, 13)))) AS r,
          toDateTime64({start:DateTime64(3, 'UTC')}, 3, 'UTC') + toIntervalMillisecond(intDiv(number * ${YEAR_MS}, ${rows}) + cityHash64(number, 1) % 1000) AS event_time
        FROM numbers({rows:UInt64})
      )`,
    query_params: { rows, start: start.toISOString().replace('T', ' ').replace('Z', '') },
    clickhouse_settings: { max_insert_threads: '2', max_threads: 2 },
  });
  await client.command({ query: `OPTIMIZE TABLE ${AUDIT_TABLE} FINAL`, clickhouse_settings: { max_threads: 2 } });
  console.log(`generated ${rows.toLocaleString('en-US')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// the clients: worker threads with their own event loops (so they measure the sink's main thread, not
// themselves): one posts fresh records (new UUIDv7 event ids) back to back, the other asks for the access report
const template = generateAuditDataset({ days: 3, users: 2, patients: 20 }).records.slice(0, 100);
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { randomBytes } = require('node:crypto');
const uuidv7 = () => {
  const t = Date.now().toString(16).padStart(12, '0');
  const r = randomBytes(10).toString('hex');
  return t.slice(0, 8) + '-' + t.slice(8, 12) + '-7' + r.slice(0, 3) + '-' + '89ab'[r.charCodeAt(3) % 4] + r.slice(4, 7) + '-' + r.slice(7, 19);
};
async function ingest() {
  const now = new Date().toISOString();
  const body = workerData.template.map((r) => JSON.stringify({ ...r, event_id: uuidv7(), event_time: now, recorded_by: 'bench-ingest' })).join('\\n');
  const response = await fetch(workerData.url + '/v1/audit', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
  await response.arrayBuffer();
  return { ok: response.status === 200, rows: 100 };
}
async function report() {
  const response = await fetch(workerData.url + '/api/audit/access?patient=p-busy&since=400d');
  const body = await response.json();
  return { ok: response.status === 200, rows: body.count };
}
parentPort.on('message', async ({ durationMs }) => {
  const latencies = [];
  const stopAt = Date.now() + durationMs;
  let failures = 0;
  let rows = 0;
  while (Date.now() < stopAt) {
    const t0 = performance.now();
    const result = await (workerData.mode === 'ingest' ? ingest() : report());
    if (!result.ok) failures++;
    rows = result.rows;
    latencies.push(performance.now() - t0);
  }
  parentPort.postMessage({ latencies, failures, rows });
});`;
type Result = { latencies: number[]; failures: number; rows: number };
const spawnClient = (mode: 'ingest' | 'report') => {
  const worker = new Worker(workerSource, { eval: true, workerData: { url: sink.url, template, mode } });
  const run = (durationMs: number): Promise<Result> =>
    new Promise((resolve) => {
      worker.once('message', resolve);
      worker.postMessage({ durationMs });
    });
  return { worker, run };
};
const ingestClient = spawnClient('ingest');
const reportClient = spawnClient('report');
const ingest = ingestClient.run;

interface Side {
  latencies: number[];
  failures: number;
  loopP99: number[];
  loopMax: number[];
  /** Event-loop utilization of the sink's thread: the share of wall time it was busy running JS. */
  elu: number[];
  reports: number[];
  reportRows: number;
}
const sides: Record<'baseline' | 'candidate', Side> = {
  baseline: { latencies: [], failures: 0, loopP99: [], loopMax: [], elu: [], reports: [], reportRows: 0 },
  candidate: { latencies: [], failures: 0, loopP99: [], loopMax: [], elu: [], reports: [], reportRows: 0 },
};

async function round(name: 'baseline' | 'candidate'): Promise<void> {
  const side = sides[name];
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const elu0 = perf.eventLoopUtilization();
  const durationMs = seconds * 1000;
  const [result, reports] = await Promise.all([
    ingest(durationMs),
    name === 'candidate' ? reportClient.run(durationMs) : Promise.resolve(undefined),
  ]);
  if (reports !== undefined) {
    if (reports.failures > 0) throw new Error('access report failed');
    side.reports.push(...reports.latencies);
    side.reportRows = reports.rows;
  }
  loop.disable();
  side.elu.push(perf.eventLoopUtilization(elu0).utilization);
  side.latencies.push(...result.latencies);
  side.failures += result.failures;
  side.loopP99.push(loop.percentile(99) / 1e6);
  side.loopMax.push(loop.max / 1e6);
}

try {
  await generate();
  await ingest(2000); // warm-up
  for (let i = 0; i < rounds; i++) {
    await round(i % 2 === 0 ? 'baseline' : 'candidate');
    await round(i % 2 === 0 ? 'candidate' : 'baseline');
  }
  console.log(`query API thread: ${thread}`);
  console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}`);
  for (const [name, side] of Object.entries(sides)) {
    const l = side.latencies;
    console.log(
      `${name.padEnd(9)} ingest POST /v1/audit (100 records): n=${l.length} p50 ${ms(quantile(l, 0.5))} p95 ${ms(quantile(l, 0.95))} p99 ${ms(quantile(l, 0.99))} max ${ms(Math.max(...l))} failures ${side.failures}; event-loop delay p99 ${ms(Math.max(...side.loopP99))} max ${ms(Math.max(...side.loopMax))}, utilization ${(100 * Math.max(...side.elu)).toFixed(0)} %` +
        (side.reports.length > 0
          ? `; access reports served ${side.reports.length} (${side.reportRows} rows each) p50 ${ms(quantile(side.reports, 0.5))} max ${ms(Math.max(...side.reports))}`
          : ''),
    );
  }
  const ratio = quantile(sides.candidate.latencies, 0.99) / quantile(sides.baseline.latencies, 0.99);
  const ratio50 = quantile(sides.candidate.latencies, 0.5) / quantile(sides.baseline.latencies, 0.5);
  console.log(`ratio = candidate / baseline (ingest p99) = ${ratio.toFixed(2)}  (p50: ${ratio50.toFixed(2)})`);
} finally {
  await ingestClient.worker.terminate();
  await reportClient.worker.terminate();
  await sink.close();
  if (keepDir === undefined) rmSync(dir, { recursive: true, force: true });
}
