/**
 * Bench (b): the patient access report and the user activity report over 10 M generated audit rows, p50/p95
 * latency, against the same reports on a copy of the table without the supporting sort key / projection
 * (`ORDER BY tuple()`, no `by_user` projection): ratio = baseline p95 / candidate p95 (target ≥ 50×, and
 * candidate p95 ≤ 50 ms). The access report reads `audit_events_by_patient` (migration 10: the same rows with
 * yearly partitions, fed by a materialized view from audit_events); it is also run on `audit_events` itself
 * (monthly partitions) in the same run, to show what the second table buys. Every figure line carries the
 * load average (the machine is shared).
 *
 * Data: generated inside the engine (`INSERT … SELECT … FROM numbers(N)`), a year of traffic, 4 tenants,
 * 500 users (each in one tenant), 5,000 patients per tenant, the 11 event types; event_ids are UUIDv7-shaped;
 * hash / prev_hash / trace_id are 16 random hex characters (not 64 / 32: incompressible bytes that only slow the
 * generation down; the two reports read them for the matching rows only).
 * Both tables hold the same rows (the baseline `audit_events_baseline` is an `INSERT … SELECT` copy); the
 * baseline is measured by swapping the two tables' names (EXCHANGE TABLES), so both sides run the very same SQL.
 * Fairness notes: same process, same store, same query functions, same parameters in the same order;
 * one warm-up run per side, then the sides interleaved run by run (order rotated); each run asks for a different patient / user, so
 * neither side is served by ClickHouse's query condition cache. Access report =
 * one patient over the whole year (~500 rows); activity report = one user over 30 days (~1.6 k rows);
 * latency includes JSON decoding of the rows in Node (what a caller pays).
 *
 * Also printed: the fixed cost of one query (`SELECT 1` through @clickhouse/client over chdb/connection vs chdb's
 * own session), and with BENCH_VARIANT / BENCH_VARIANT_PARTITION a third side: a bench-local copy of audit_events
 * with other table settings / partitioning (schema what-if, measured the same way, same ratio to the baseline).
 *
 *   cd packages/clickhouse-sink && npx node --conditions=fhirwatch-source bench/queries.ts
 *   (BENCH_ROWS=10000000 BENCH_RUNS=50 are the defaults)
 *   BENCH_VARIANT=index_granularity=1024,min_compress_block_size=8192,max_compress_block_size=65536 \
 *     BENCH_VARIANT_PARTITION='toYear(event_time)' BENCH_KEEP_DIR=/tmp/fwq npx node --conditions=fhirwatch-source bench/queries.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_EVENT_TYPES } from '@fhirwatch/contract';
import { createChdbConnection } from 'chdb/connection';
import { accessReport, activityReport } from '../src/compliance/index.ts';
import { openStore } from '../src/store/open.ts';
import { AUDIT_BY_PATIENT_TABLE, AUDIT_COLUMNS, AUDIT_TABLE, migrate } from '../src/store/schema/index.ts';

const rows = Number(process.env.BENCH_ROWS ?? 10_000_000);
const runs = Number(process.env.BENCH_RUNS ?? 50);
const granularity =
  process.env.BENCH_INDEX_GRANULARITY === undefined ? undefined : Number(process.env.BENCH_INDEX_GRANULARITY);
if (granularity !== undefined && !(Number.isInteger(granularity) && granularity > 0))
  throw new Error('BENCH_INDEX_GRANULARITY must be a positive integer');
// BENCH_VARIANT=<settings>: a third side, a bench-local copy of audit_events (the schema's own DDL, same rows)
// with other MergeTree settings, e.g. "index_granularity=1024,min_compress_block_size=8192,max_compress_block_size=65536";
// BENCH_VARIANT_PARTITION=<expr> also replaces its PARTITION BY (e.g. "toYear(event_time)"). What-if for the schema.
const variantSettings = (process.env.BENCH_VARIANT ?? '')
  .split(',')
  .map((kv) => kv.trim())
  .filter((kv) => kv !== '')
  .map((kv) => {
    const m = /^([a-z_]+)\s*=\s*(\d+)$/.exec(kv);
    if (m === null) throw new Error(`BENCH_VARIANT: expected name=integer, got ${kv}`);
    return [m[1] as string, m[2] as string] as const;
  });
const variantPartition = process.env.BENCH_VARIANT_PARTITION;
if (variantPartition !== undefined && !/^[A-Za-z0-9_()]+$/.test(variantPartition))
  throw new Error('BENCH_VARIANT_PARTITION: expected an expression such as toYear(event_time)');
const withVariant = variantSettings.length > 0 || variantPartition !== undefined;
const TENANTS = 4;
const USERS = 500;
const PATIENTS_PER_TENANT = 5000;
const YEAR_MS = 365 * 86_400_000;
const end = new Date('2026-11-20T00:00:00Z');
const start = new Date(end.getTime() - YEAR_MS);

// BENCH_KEEP_DIR=<dir>: keep (or reuse) the generated store there, for EXPLAIN-ing by hand
const keepDir = process.env.BENCH_KEEP_DIR;
const dir = keepDir ?? mkdtempSync(join(tmpdir(), 'fw-queries-bench-'));
const store = join(dir, 'store');
const client = openStore({ path: store });

const BASELINE_TABLE = `${AUDIT_TABLE}_baseline`;
const TIME = "event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}";
const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
};

async function generate(): Promise<void> {
  if (granularity !== undefined) {
    // BENCH_INDEX_GRANULARITY=n: the schema's audit_events DDL with another index_granularity (what-if for the schema)
    const [ddl] = (await (
      await client.query({
        query: `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = '${AUDIT_TABLE}'`,
        format: 'JSONEachRow',
      })
    ).json()) as { q: string }[];
    if (ddl === undefined || !/index_granularity = \d+/.test(ddl.q))
      throw new Error('cannot rewrite the audit_events DDL');
    await client.command({ query: `DROP TABLE ${AUDIT_TABLE}` });
    await client.command({ query: ddl.q.replace(/index_granularity = \d+/, `index_granularity = ${granularity}`) });
    console.log(`audit_events recreated with index_granularity = ${granularity}`);
  }
  const types = `[${AUDIT_EVENT_TYPES.map((t) => `'${t}'`).join(', ')}]`;
  const t0 = performance.now();
  // u = user, t = tenant of that user, p = patient within the tenant; time increases with number (+ jitter)
  await client.command({
    query: `INSERT INTO ${AUDIT_TABLE}
      SELECT
        toUUID(concat(substring(ms, 1, 8), '-', substring(ms, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))) AS event_id,
        event_time,
        concat('gw-', toString(t % 2)) AS recorded_by,
        number + 1 AS seq,
        lower(hex(cityHash64(number, 10))) AS prev_hash,
        lower(hex(cityHash64(number, 11))) AS hash,
        concat('tenant-', toString(t)) AS tenant_id,
        concat('tenant-', toString(t)) AS routed_tenant_id,
        if(cityHash64(number, 5) % 10 = 0, 'registration-desk', 'teams-patients-app') AS client_id,
        concat('u-', toString(u)) AS user_id,
        concat('Dr ', toString(u)) AS user_name,
        concat('10.', toString(t), '.', toString(u % 250), '.', toString(cityHash64(number, 6) % 250)) AS source_ip,
        'Mozilla/5.0 Teams/24335 PatientsApp/2.1' AS user_agent,
        ${types}[1 + cityHash64(number, 4) % 11] AS event_type,
        multiIf(event_type = 'PatientView', 'read', event_type = 'ExportInitiation', 'operation', 'search-type') AS fhir_interaction,
        multiIf(event_type IN ('PatientView', 'PatientSearch', 'PatientListView'), 'Patient', event_type = 'VitalSignsView', 'Observation', 'Condition') AS resource_type,
        'STU3' AS fhir_version,
        concat('patient=', patient_id) AS query,
        concat('p-', toString(t), '-', toString(cityHash64(number, 3) % ${PATIENTS_PER_TENANT})) AS patient_id,
        '' AS batch_id,
        -1 AS entry_index,
        lower(hex(cityHash64(number, 7))) AS trace_id,
        if(cityHash64(number, 8) % 50 = 0, 8, 0) AS outcome,
        if(outcome = 0, 200, 503) AS http_status,
        round((cityHash64(number, 9) % 400000) / 1000, 3) AS duration_ms,
        1 AS result_count
      FROM (
        SELECT number, cityHash64(number, 2) % ${USERS} AS u, u % ${TENANTS} AS t,
          leftPad(lower(hex(toUInt64(toUnixTimestamp64Milli(event_time)))), 12, '0') AS ms,
          concat(lower(hex(cityHash64(number, 12))), lower(hex(cityHash64(number, 13)))) AS r,
          toDateTime64({start:DateTime64(3, 'UTC')}, 3, 'UTC') + toIntervalMillisecond(intDiv(number * ${YEAR_MS}, ${rows}) + cityHash64(number, 1) % 1000) AS event_time
        FROM numbers({rows:UInt64})
      )`,
    query_params: { rows, start: start.toISOString().replace('T', ' ').replace('Z', '') },
    clickhouse_settings: { max_insert_threads: '2', max_threads: 2 },
  });
  console.log(`generated ${rows.toLocaleString('en-US')} rows in ${seconds(performance.now() - t0)}`);
}

const VARIANT_TABLE = `${AUDIT_TABLE}_variant`;

/** The what-if side: audit_events' own DDL with BENCH_VARIANT settings / partitioning, same rows, merged. */
async function copyVariant(): Promise<void> {
  const [ddl] = (await (
    await client.query({
      query: `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = '${AUDIT_TABLE}'`,
      format: 'JSONEachRow',
    })
  ).json()) as { q: string }[];
  if (ddl === undefined || !/ SETTINGS /.test(ddl.q)) throw new Error('cannot derive the variant DDL');
  let q = ddl.q.replace(/^CREATE TABLE (\S+\.)?\S+/, `CREATE TABLE $1${VARIANT_TABLE}`);
  const added: string[] = [];
  for (const [name, value] of variantSettings) {
    const re = new RegExp(`\\b${name} = \\d+`);
    if (re.test(q)) q = q.replace(re, `${name} = ${value}`);
    else added.push(`${name} = ${value}`);
  }
  // new settings go right after index_granularity (the schema always sets it)
  if (added.length > 0) q = q.replace(/index_granularity = \d+/, (m) => [m, ...added].join(', '));
  if (variantPartition !== undefined)
    q = q.replace(/PARTITION BY \S+\(event_time\)/, `PARTITION BY ${variantPartition}`);
  const [existing] = (await (
    await client.query({
      query: `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = '${VARIANT_TABLE}'`,
      format: 'JSONEachRow',
    })
  ).json()) as { q: string }[];
  if (existing !== undefined && existing.q === q) {
    console.log(`reusing ${VARIANT_TABLE}`);
    return;
  }
  await client.command({ query: `DROP TABLE IF EXISTS ${VARIANT_TABLE}` });
  await client.command({ query: q });
  console.log(`variant: ${q.slice(q.indexOf(' ENGINE'))}`);
  const t0 = performance.now();
  await client.command({
    query: `INSERT INTO ${VARIANT_TABLE} SELECT * FROM ${AUDIT_TABLE}`,
    clickhouse_settings: { max_insert_threads: '2', max_threads: 2 },
  });
  await client.command({ query: `OPTIMIZE TABLE ${VARIANT_TABLE} FINAL`, clickhouse_settings: { max_threads: 2 } });
  console.log(`copied and merged the variant table in ${seconds(performance.now() - t0)}`);
}

/** The baseline: same columns, same rows, no sort key (ORDER BY tuple()), no projection, no skip index. */
async function copyBaseline(): Promise<void> {
  const t0 = performance.now();
  // same types and codecs as audit_events (LZ4 instead of the ZSTD codecs would flatter the baseline)
  const columns = AUDIT_COLUMNS.map((c) => `${c.name} ${c.type}${c.codec ? ` ${c.codec}` : ''}`).join(', ');
  await client.command({
    query: `CREATE TABLE ${BASELINE_TABLE} (${columns}) ENGINE = MergeTree ORDER BY tuple()`,
  });
  await client.command({
    query: `INSERT INTO ${BASELINE_TABLE} SELECT * FROM ${AUDIT_TABLE}`,
    clickhouse_settings: { max_insert_threads: '2', max_threads: 2 },
  });
  console.log(`copied to the baseline table in ${seconds(performance.now() - t0)}`);
}

try {
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`);
  {
    const t0 = performance.now();
    const { applied } = await migrate(client);
    if (applied.length > 0)
      console.log(
        `migrations ${applied.join(', ')} applied in ${seconds(performance.now() - t0)} (migration 10 includes the backfill of ${AUDIT_BY_PATIENT_TABLE})`,
      );
  }
  const [existing] = (await (
    await client.query({ query: `SELECT count() AS n FROM ${AUDIT_TABLE}`, format: 'JSONEachRow' })
  ).json()) as { n: string }[];
  if (Number(existing?.n ?? 0) === 0) await generate();
  else console.log(`reusing the ${Number(existing?.n).toLocaleString('en-US')} rows in ${dir}`);
  const [hasBaseline] = (await (
    await client.query({ query: `EXISTS TABLE ${BASELINE_TABLE}`, format: 'JSONEachRow' })
  ).json()) as { result: number }[];
  if (Number(hasBaseline?.result ?? 0) === 0) await copyBaseline();
  if (process.env.BENCH_OPTIMIZE !== '0') {
    // steady state: one part per monthly partition, as background merges leave a store that is not being
    // bulk-loaded (right after the INSERT … SELECT there are ~21 parts, and every part read costs a few ms)
    const t0 = performance.now();
    for (const table of [AUDIT_TABLE, AUDIT_BY_PATIENT_TABLE, BASELINE_TABLE]) {
      await client.command({
        query: `OPTIMIZE TABLE ${table} FINAL`,
        clickhouse_settings: { optimize_skip_merged_partitions: 1, max_threads: 2 },
      });
    }
    console.log(
      `merged the three tables (OPTIMIZE … FINAL) in ${seconds(performance.now() - t0)}; BENCH_OPTIMIZE=0 skips this`,
    );
  }

  if (withVariant) await copyVariant();

  // fixed cost of one query: the client over chdb/connection vs chdb's own session on the same store
  {
    const connection = createChdbConnection({ path: store });
    const fixed = async (label: string, run: () => Promise<unknown>): Promise<void> => {
      const ms: number[] = [];
      for (let i = 0; i < runs + 1; i += 1) {
        const s = performance.now();
        await run();
        if (i > 0) ms.push(performance.now() - s);
      }
      console.log(`  ${label}: p50 ${quantile(ms, 0.5).toFixed(1)} ms, p95 ${quantile(ms, 0.95).toFixed(1)} ms`);
    };
    console.log('fixed cost per query:');
    await fixed('SELECT 1, @clickhouse/client over chdb/connection', async () =>
      (await client.query({ query: 'SELECT 1 AS x', format: 'JSONEachRow' })).json(),
    );
    await fixed('SELECT {x:String}, @clickhouse/client over chdb/connection', async () =>
      (await client.query({ query: 'SELECT {x:String} AS x', query_params: { x: 'a' }, format: 'JSONEachRow' })).json(),
    );
    await fixed('SELECT 1, chdb session queryAsync', () =>
      connection.chdb.queryAsync('SELECT 1 AS x', { format: 'JSONEachRow' }),
    );
    await connection.close();
  }

  const [counts] = (await (
    await client.query({
      query: `SELECT (SELECT count() FROM ${AUDIT_TABLE}) AS candidate, (SELECT count() FROM ${AUDIT_BY_PATIENT_TABLE}) AS by_patient,
        (SELECT count() FROM ${BASELINE_TABLE}) AS baseline`,
      format: 'JSONEachRow',
    })
  ).json()) as { candidate: string; by_patient: string; baseline: string }[];
  console.log(
    `rows: ${AUDIT_TABLE} ${counts?.candidate}, ${AUDIT_BY_PATIENT_TABLE} ${counts?.by_patient}, baseline ${counts?.baseline}`,
  );

  const patientOf = (i: number): string => `p-${i % TENANTS}-${(i * 7919) % PATIENTS_PER_TENANT}`;
  const userOf = (i: number): string => `u-${(i * 104729) % USERS}`;
  const monthAgo = new Date(end.getTime() - 30 * 86_400_000);
  const access = (i: number) => accessReport(client, { patientIds: [patientOf(i)], from: start, to: end });
  const activity = (i: number) => activityReport(client, { userId: userOf(i), from: monthAgo, to: end });
  // rows and marks the engine plans to read for the main query (machine-independent), first patient / user
  const estimate = async (kind: 'access' | 'activity', table: string): Promise<{ rows: number; marks: number }> => {
    const sql =
      kind === 'access'
        ? `SELECT * FROM ${table} WHERE patient_id IN {patients:Array(String)} AND ${TIME}`
        : `SELECT * FROM ${table} WHERE user_id = {user:String} AND ${TIME}`;
    const out = (await (
      await client.query({
        query: `EXPLAIN ESTIMATE ${sql}`,
        query_params: {
          patients: [patientOf(0), '*'],
          user: userOf(0),
          from: chTime(kind === 'access' ? start : monthAgo),
          to: chTime(end),
        },
        format: 'JSONEachRow',
      })
    ).json()) as { rows: string; marks: string }[];
    return {
      rows: out.reduce((sum, r) => sum + Number(r.rows), 0),
      marks: out.reduce((sum, r) => sum + Number(r.marks), 0),
    };
  };

  interface Side {
    ms: { access: number[]; activity: number[] };
    /** Process CPU (user + system, every thread: chDB runs in this process) per report, ms. */
    cpu: { access: number[]; activity: number[] };
    rows: { access: number[]; activity: number[] };
    estimate: { access: { rows: number; marks: number }; activity: { rows: number; marks: number } };
  }
  // Each report reads one table: the access report `audit_events_by_patient` (yearly partitions, migration 10),
  // the activity report `audit_events` (monthly partitions, by_user projection). Another side is measured by
  // swapping that table's name with another table (EXCHANGE TABLES, a metadata operation) around that one
  // report call, so every side runs the very same SQL. (chDB's connection ignores the client's `database`
  // option, so a second client cannot do it.) One warm-up run per side and report, then the runs interleaved,
  // same patients / users in the same order. Nothing is inserted while the names are swapped.
  type Kind = 'access' | 'activity';
  const READS: Record<Kind, string> = { access: AUDIT_BY_PATIENT_TABLE, activity: AUDIT_TABLE };
  const REPORTS: Record<Kind, (i: number) => Promise<{ rows: unknown[] }>> = { access, activity };
  const newSide = (): Side => ({
    ms: { access: [], activity: [] },
    cpu: { access: [], activity: [] },
    rows: { access: [], activity: [] },
    estimate: { access: { rows: 0, marks: 0 }, activity: { rows: 0, marks: 0 } },
  });
  interface Spec {
    swaps: Partial<Record<Kind, string>>;
    kinds: readonly Kind[];
    side: Side;
  }
  const withTable = async <T>(kind: Kind, other: string | undefined, run: () => Promise<T>): Promise<T> => {
    const swap = other === undefined ? undefined : `EXCHANGE TABLES ${READS[kind]} AND ${other}`;
    if (swap !== undefined) await client.command({ query: swap });
    try {
      return await run();
    } finally {
      if (swap !== undefined) await client.command({ query: swap });
    }
  };
  const both = ['access', 'activity'] as const;
  const candidate: Spec = { swaps: {}, kinds: both, side: newSide() };
  const baseSpec: Spec = { swaps: { access: BASELINE_TABLE, activity: BASELINE_TABLE }, kinds: both, side: newSide() };
  // the access report on audit_events itself (monthly partitions): what migration 10 replaced
  const monthlySpec: Spec = { swaps: { access: AUDIT_TABLE }, kinds: ['access'], side: newSide() };
  const variantSpec: Spec | undefined = withVariant
    ? { swaps: { access: VARIANT_TABLE, activity: VARIANT_TABLE }, kinds: both, side: newSide() }
    : undefined;
  const specs = [candidate, baseSpec, monthlySpec, ...(variantSpec === undefined ? [] : [variantSpec])];
  for (const spec of specs) {
    for (const kind of spec.kinds) {
      await withTable(kind, spec.swaps[kind], async () => {
        spec.side.estimate[kind] = await estimate(kind, READS[kind]);
        await REPORTS[kind](runs + 1); // warm-up
      });
    }
  }
  // Interleaved: run i of every side back to back (the order of the sides rotated per run), so load from
  // elsewhere on the machine hits every side alike; only the report call is timed, not the swaps.
  for (const kind of both) {
    for (let i = 0; i < runs; i += 1) {
      const active = specs.filter((spec) => spec.kinds.includes(kind));
      for (let j = 0; j < active.length; j += 1) {
        const spec = active[(i + j) % active.length] as Spec;
        await withTable(kind, spec.swaps[kind], async () => {
          const c = process.cpuUsage();
          const s = performance.now();
          const result = await REPORTS[kind](i);
          spec.side.ms[kind].push(performance.now() - s);
          const used = process.cpuUsage(c);
          spec.side.cpu[kind].push((used.user + used.system) / 1000);
          spec.side.rows[kind].push(result.rows.length);
        });
      }
    }
  }
  const cand = candidate.side;
  const base = baseSpec.side;
  const monthly = monthlySpec.side;
  const variant = variantSpec?.side;

  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
  const ms = (xs: number[], q: number): string => `${quantile(xs, q).toFixed(1)}`;
  for (const [kind, title] of [
    ['access', 'patient access report (1 patient, 1 year)'],
    ['activity', 'user activity report (1 user, 30 days)'],
  ] as const) {
    if (cand.rows[kind].some((n, i) => n !== base.rows[kind][i]))
      throw new Error(`${title}: candidate and baseline disagree`);
    const cp95 = quantile(cand.ms[kind], 0.95);
    const bp95 = quantile(base.ms[kind], 0.95);
    const ce = cand.estimate[kind];
    const be = base.estimate[kind];
    const avgRows = Math.round(cand.rows[kind].reduce((a, b) => a + b, 0) / runs);
    console.log(`\n${title}: ${runs} runs, ${avgRows} rows per report on average; load average ${load} (1/5/15 min)`);
    console.log(
      `  candidate (${READS[kind]}${kind === 'access' ? ', yearly partitions' : ', by_user projection'}): p50 ${ms(cand.ms[kind], 0.5)} ms, p95 ${cp95.toFixed(1)} ms`,
    );
    console.log(`  baseline (ORDER BY tuple()):       p50 ${ms(base.ms[kind], 0.5)} ms, p95 ${bp95.toFixed(1)} ms`);
    // CPU per report: what the work costs, much less disturbed by other load than the latency
    const ccpu = quantile(cand.cpu[kind], 0.5);
    const bcpu = quantile(base.cpu[kind], 0.5);
    console.log(
      `  process CPU per report (all threads), median: candidate ${ccpu.toFixed(1)} ms, baseline ${bcpu.toFixed(1)} ms, ratio ${(bcpu / ccpu).toFixed(1)}×${kind === 'access' ? `; on ${AUDIT_TABLE} (monthly) ${quantile(monthly.cpu.access, 0.5).toFixed(1)} ms` : ''}${variant === undefined ? '' : `; variant ${quantile(variant.cpu[kind], 0.5).toFixed(1)} ms`}`,
    );
    console.log(
      `  ratio = baseline p95 / candidate p95 = ${(bp95 / cp95).toFixed(1)}× (p50: ${(quantile(base.ms[kind], 0.5) / quantile(cand.ms[kind], 0.5)).toFixed(1)}×); target ≥ 50× and p95 ≤ 50 ms: ${bp95 / cp95 >= 50 && cp95 <= 50 ? 'met' : 'NOT met'}`,
    );
    if (kind === 'access') {
      if (monthly.rows.access.some((n, i) => n !== base.rows.access[i]))
        throw new Error(`${title}: audit_events and baseline disagree`);
      const mp95 = quantile(monthly.ms.access, 0.95);
      console.log(
        `  same report on ${AUDIT_TABLE} (monthly partitions): p50 ${ms(monthly.ms.access, 0.5)} ms, p95 ${mp95.toFixed(1)} ms, ratio ${(bp95 / mp95).toFixed(1)}×, planned ${monthly.estimate.access.rows.toLocaleString('en-US')} rows / ${monthly.estimate.access.marks} marks`,
      );
    }
    if (variant !== undefined) {
      if (variant.rows[kind].some((n, i) => n !== base.rows[kind][i]))
        throw new Error(`${title}: variant and baseline disagree`);
      const vp95 = quantile(variant.ms[kind], 0.95);
      const ve = variant.estimate[kind];
      console.log(
        `  variant (${process.env.BENCH_VARIANT ?? ''}${variantPartition === undefined ? '' : `; PARTITION BY ${variantPartition}`}): p50 ${ms(variant.ms[kind], 0.5)} ms, p95 ${vp95.toFixed(1)} ms, ratio ${(bp95 / vp95).toFixed(1)}×, planned ${ve.rows.toLocaleString('en-US')} rows / ${ve.marks} marks`,
      );
    }
    console.log(
      `  planned read (EXPLAIN ESTIMATE, main query): candidate ${ce.rows.toLocaleString('en-US')} rows / ${ce.marks} marks, baseline ${be.rows.toLocaleString('en-US')} rows / ${be.marks} marks (${(be.rows / ce.rows).toFixed(0)}× the rows)`,
    );
  }
} finally {
  await client.close();
  if (keepDir === undefined) rmSync(dir, { recursive: true, force: true });
}
