/**
 * Bench (b): the patient access report and the user activity report over BENCH_ROWS (default 10 M) per-patient
 * audit events in the current layout (migrations 11 and 13), p50/p95 latency, against the very same report functions on copies of
 * the tables without the supporting sort keys / projection: ratio = baseline p95 / candidate p95; target (slo.md
 * "compliance queries"): candidate p95 ≤ 50 ms and ≥ 50× faster than the baseline. Every figure line carries the
 * load average (the machine is shared).
 *
 * What the reports read (src/compliance/records.ts): since migration 14 the access report reads the patient's (and
 * `*`) rows from `audit_patient_index` alone (patient first, yearly partitions, every record field, since migration
 * 15 in 1024-row granules and 4–64 KiB compressed blocks, read on one thread; migration 11's
 * index was narrow and the report then read the ~73 requests it named from `audit_requests`, 34 of 65 granules);
 * the activity report finds the user's requests through audit_requests' narrow `by_user` projection, then reads
 * them by the table's sort key (recorded_by, seq) and expands them (the contract's AUDIT_EXPANSION).
 * Baseline: `audit_requests_baseline` (same columns and codecs, `ORDER BY tuple()`, no projection, no skip index)
 * and `audit_patient_index_baseline` (same columns and codecs, `ORDER BY tuple()`), swapped in by name (EXCHANGE
 * TABLES, a metadata operation) around the report call, so both sides run the same SQL over the same rows.
 *
 * Data: request records generated inside the engine (`INSERT INTO audit_requests … SELECT … FROM numbers(N)`; the
 * index is filled by its materialized view as in production), a year of traffic, 4 tenants, 500 users (each in
 * one tenant), 5,000 patients per tenant; as in bench (a), 3 of 4 requests are 5-patient list refreshes (5 × 7
 * entries + one PatientListView entry with the 5 patients = 40 per-patient events) and 1 of 4 a 3-patient search
 * (3 events): 30.75 events per request, so ~500 events per patient per year. Hashes / trace ids are 16 hex
 * characters (the reports read them only for the matching rows). Both sides: same process, same store, same
 * parameters in the same order, one warm-up run per side, then interleaved run by run (order rotated); each run
 * asks for a different patient / user (no query condition cache help). Access report = one patient over the year;
 * activity report = one user over 30 days. Latency includes decoding the rows into records in Node (what a
 * caller pays). Also printed: the fixed cost of one query through the client and through chdb's own session, and
 * where an access report's time goes: its read through the client's exec (chDB's own elapsed = engine time, and
 * the process CPU of the call), the engine's floor for any query over the same key ranges (`count()`), the client
 * and chdb glue around the read, and the Node side (JSON text → records → requests) timed on the same text. The
 * verdict lines say MET / NOT MET per target.
 *
 *   cd packages/clickhouse-sink && npx node --conditions=fhirwatch-source bench/queries.ts
 *   (BENCH_ROWS=10000000 BENCH_RUNS=50 are the defaults; BENCH_KEEP_DIR=<dir> keeps / reuses the store)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_PATIENTS, AUDIT_RECORD_FIELDS } from '@fhirwatch/contract';
import { createChdbConnection } from 'chdb/connection';
import { accessReport, activityReport } from '../src/compliance/index.ts';
import { toAuditRecordFromValues } from '../src/compliance/records.ts';
import { accessReadSql } from '../src/compliance/report-defs/access.ts';
import { SMALL_READ_SETTINGS } from '../src/compliance/reports.ts';
import { groupRequests } from '../src/compliance/requests.ts';
import { openStore } from '../src/store/open.ts';
import { AUDIT_PATIENT_INDEX_TABLE } from '../src/store/schema/audit-patient-index.ts';
import { AUDIT_REQUESTS_TABLE } from '../src/store/schema/audit-requests.ts';
import { migrate } from '../src/store/schema/index.ts';

const rows = Number(process.env.BENCH_ROWS ?? 10_000_000);
const runs = Number(process.env.BENCH_RUNS ?? 50);
if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(runs) && runs > 0))
  throw new Error('BENCH_ROWS and BENCH_RUNS must be positive integers');
const TENANTS = 4;
const USERS = 500;
const PATIENTS_PER_TENANT = 5000;
const EVENTS_PER_REQUEST = 30.75;
const YEAR_MS = 365 * 86_400_000;
const end = new Date('2026-11-20T00:00:00Z');
const start = new Date(end.getTime() - YEAR_MS);
const requests = Math.ceil(rows / EVENTS_PER_REQUEST);

const keepDir = process.env.BENCH_KEEP_DIR;
const dir = keepDir ?? mkdtempSync(join(tmpdir(), 'fw-queries-bench-'));
const store = join(dir, 'store');
const client = openStore({ path: store });

const BASE = { requests: `${AUDIT_REQUESTS_TABLE}_baseline`, index: `${AUDIT_PATIENT_INDEX_TABLE}_baseline` };
const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
};
const one = async <T>(query: string): Promise<T | undefined> =>
  ((await (await client.query({ query, format: 'JSONEachRow' })).json()) as T[])[0];

const LIST_TYPES =
  "['PatientView', 'VitalSignsView', 'ConditionsView', 'EncountersView', 'AllergiesView', 'MedicationsView', 'CoverageView']";
const LIST_INTERACTIONS =
  "['read', 'search-type', 'search-type', 'search-type', 'search-type', 'search-type', 'search-type']";
const LIST_RESOURCES =
  "['Patient', 'Observation', 'Condition', 'Encounter', 'AllergyIntolerance', 'MedicationRequest', 'Coverage']";

/** `requests` request records into audit_requests (the index view fills audit_patient_index). */
async function generate(): Promise<void> {
  const t0 = performance.now();
  // n = request number; u = user, t = its tenant; list = 3 of 4 (5 patients), else a 3-patient search
  await client.command({
    query: `INSERT INTO ${AUDIT_REQUESTS_TABLE}
      SELECT
        toUUID(concat(substring(ms, 1, 8), '-', substring(ms, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))) AS request_id,
        event_time,
        concat('gw-', toString(t % 2)) AS recorded_by,
        number + 1 AS seq,
        lower(hex(cityHash64(number, 10))) AS prev_hash,
        lower(hex(cityHash64(number, 11))) AS hash,
        2 AS v,
        concat('tenant-', toString(t)) AS tenant_id,
        0 AS tenant_claimed,
        concat('tenant-', toString(t)) AS routed_tenant_id,
        if(cityHash64(number, 5) % 10 = 0, 'registration-desk', 'teams-patients-app') AS client_id,
        concat('u-', toString(u)) AS user_id,
        concat('Dr ', toString(u)) AS user_name,
        concat('10.', toString(t), '.', toString(u % 250), '.', toString(cityHash64(number, 6) % 250)) AS source_ip,
        'Mozilla/5.0 Teams/24335 PatientsApp/2.1' AS user_agent,
        'STU3' AS fhir_version,
        if(list, lower(hex(cityHash64(number, 14))), '') AS batch_id,
        lower(hex(cityHash64(number, 7))) AS trace_id,
        if(failed, 503, 200) AS http_status,
        round((cityHash64(number, 9) % 400000) / 1000, 3) AS duration_ms,
        if(list, arrayConcat(arrayFlatten(arrayMap(p -> ${LIST_TYPES}, pats)), ['PatientListView']), ['PatientSearch']) AS e_event_type,
        if(list, arrayConcat(arrayFlatten(arrayMap(p -> ${LIST_INTERACTIONS}, pats)), ['batch']), ['search-type']) AS e_fhir_interaction,
        if(list, arrayConcat(arrayFlatten(arrayMap(p -> ${LIST_RESOURCES}, pats)), ['Bundle']), ['Patient']) AS e_resource_type,
        if(list, arrayConcat(arrayFlatten(arrayMap(p -> arrayMap(k -> if(k = 0, '', concat('patient=', p, '&_count=50')), range(7)), pats)), ['']),
          [concat('family:contains=smi', toString(number % 10))]) AS e_query,
        if(list, arrayConcat(range(35), [-1]), [-1]) AS e_entry_index,
        arrayMap(x -> toUInt16(if(failed, 503, 200)), e_event_type) AS e_http_status,
        arrayMap(x -> toUInt8(if(failed, 8, 0)), e_event_type) AS e_outcome,
        arrayMap(x -> CAST(if(failed, NULL, 1) AS Nullable(Int64)), e_event_type) AS e_result_count,
        if(list, arrayConcat(range(1, 36), [36, 36, 36, 36, 36]), [1, 1, 1]) AS x_entry,
        if(list, arrayConcat(arrayFlatten(arrayMap(p -> [p, p, p, p, p, p, p], pats)), pats), pats) AS x_patient_id
      FROM (
        SELECT number, cityHash64(number, 2) % ${USERS} AS u, u % ${TENANTS} AS t, number % 4 != 3 AS list,
          cityHash64(number, 8) % 50 = 0 AS failed,
          arrayMap(k -> concat('p-', toString(t), '-', toString(cityHash64(number, 3, k) % ${PATIENTS_PER_TENANT})), range(if(list, 5, 3))) AS pats,
          leftPad(lower(hex(toUInt64(toUnixTimestamp64Milli(event_time)))), 12, '0') AS ms,
          concat(lower(hex(cityHash64(number, 12))), lower(hex(cityHash64(number, 13)))) AS r,
          toDateTime64({start:DateTime64(3, 'UTC')}, 3, 'UTC') + toIntervalMillisecond(intDiv(number * ${YEAR_MS}, ${requests}) + cityHash64(number, 1) % 1000) AS event_time
        FROM numbers({requests:UInt64})
      )`,
    query_params: { requests, start: chTime(start) },
    clickhouse_settings: { max_insert_threads: '2', max_threads: 2 },
  });
  console.log(`generated ${requests.toLocaleString('en-US')} request records in ${seconds(performance.now() - t0)}`);
}

/** A copy of `table` (same columns, types and codecs, same rows) with no sort key, projection or skip index. */
async function copyUnsorted(table: string, copy: string): Promise<void> {
  const t0 = performance.now();
  const columns = (await (
    await client.query({
      query: `SELECT name, type, compression_codec FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position`,
      query_params: { t: table },
      format: 'JSONEachRow',
    })
  ).json()) as { name: string; type: string; compression_codec: string }[];
  const ddl = columns.map((c) => `\`${c.name}\` ${c.type} ${c.compression_codec}`).join(', ');
  await client.command({ query: `CREATE TABLE ${copy} (${ddl}) ENGINE = MergeTree ORDER BY tuple()` });
  await client.command({
    query: `INSERT INTO ${copy} SELECT * FROM ${table}`,
    clickhouse_settings: { max_insert_threads: '2', max_threads: 2 },
  });
  console.log(`copied ${table} to ${copy} (ORDER BY tuple()) in ${seconds(performance.now() - t0)}`);
}

try {
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}; load ${load()}`);
  {
    const t0 = performance.now();
    const { applied } = await migrate(client);
    if (applied.length > 0)
      console.log(`migrated the store (${applied.join(', ')}) in ${seconds(performance.now() - t0)}`);
  }
  const existing = await one<{ n: string }>(`SELECT count() AS n FROM ${AUDIT_REQUESTS_TABLE}`);
  if (Number(existing?.n ?? 0) === 0) await generate();
  else console.log(`reusing the ${Number(existing?.n).toLocaleString('en-US')} request records in ${dir}`);
  for (const [table, copy] of [
    [AUDIT_REQUESTS_TABLE, BASE.requests],
    [AUDIT_PATIENT_INDEX_TABLE, BASE.index],
  ] as const) {
    const has = await one<{ result: number }>(`EXISTS TABLE ${copy}`);
    if (Number(has?.result ?? 0) === 0) await copyUnsorted(table, copy);
  }
  if (process.env.BENCH_OPTIMIZE !== '0') {
    // steady state: one part per partition, as background merges leave a store that is not being bulk-loaded
    const t0 = performance.now();
    for (const table of [AUDIT_REQUESTS_TABLE, AUDIT_PATIENT_INDEX_TABLE, BASE.requests, BASE.index]) {
      await client.command({
        query: `OPTIMIZE TABLE ${table} FINAL`,
        clickhouse_settings: { optimize_skip_merged_partitions: 1, max_threads: 2 },
      });
    }
    console.log(
      `merged the four tables (OPTIMIZE … FINAL) in ${seconds(performance.now() - t0)}; BENCH_OPTIMIZE=0 skips this`,
    );
  }
  const counts = await one<Record<string, string>>(
    `SELECT (SELECT count() FROM ${AUDIT_REQUESTS_TABLE}) AS requests, (SELECT count() FROM ${AUDIT_PATIENT_INDEX_TABLE}) AS events,
      (SELECT count() FROM ${BASE.requests}) AS base_requests, (SELECT count() FROM ${BASE.index}) AS base_events`,
  );
  console.log(
    `rows: ${AUDIT_REQUESTS_TABLE} ${counts?.requests}, ${AUDIT_PATIENT_INDEX_TABLE} ${counts?.events} per-patient events; baseline copies ${counts?.base_requests} / ${counts?.base_events}`,
  );

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
    await fixed('SELECT 1, chdb session queryAsync', () =>
      connection.chdb.queryAsync('SELECT 1 AS x', { format: 'JSONEachRow' }),
    );
    await connection.close();
  }

  const patientOf = (i: number): string => `p-${i % TENANTS}-${(i * 7919) % PATIENTS_PER_TENANT}`;
  const userOf = (i: number): string => `u-${(i * 104729) % USERS}`;
  const monthAgo = new Date(end.getTime() - 30 * 86_400_000);
  type Kind = 'access' | 'activity';
  const REPORTS: Record<Kind, (i: number) => Promise<{ rows: unknown[] }>> = {
    access: (i) => accessReport(client, { patientIds: [patientOf(i)], from: start, to: end }),
    activity: (i) => activityReport(client, { userId: userOf(i), from: monthAgo, to: end }),
  };
  // the first step of each report (finding the requests), for EXPLAIN ESTIMATE: rows / marks planned (machine-independent)
  const FIRST_STEP: Record<Kind, string> = {
    access: `SELECT recorded_by, seq FROM ${AUDIT_PATIENT_INDEX_TABLE} WHERE patient_id IN {patients:Array(String)} AND event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}`,
    activity: `SELECT recorded_by, seq FROM ${AUDIT_REQUESTS_TABLE} WHERE user_id = {user:String} AND event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}`,
  };
  const estimate = async (kind: Kind): Promise<{ rows: number; marks: number }> => {
    const out = (await (
      await client.query({
        query: `EXPLAIN ESTIMATE ${FIRST_STEP[kind]}`,
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
    label: string;
    baseline: boolean;
    ms: Record<Kind, number[]>;
    /** Process CPU (user + system, every thread: chDB runs in this process) per report, ms. */
    cpu: Record<Kind, number[]>;
    rows: Record<Kind, number[]>;
    estimate: Record<Kind, { rows: number; marks: number }>;
  }
  const newSide = (label: string, baseline: boolean): Side => ({
    label,
    baseline,
    ms: { access: [], activity: [] },
    cpu: { access: [], activity: [] },
    rows: { access: [], activity: [] },
    estimate: { access: { rows: 0, marks: 0 }, activity: { rows: 0, marks: 0 } },
  });
  const SWAPS = [
    `EXCHANGE TABLES ${AUDIT_REQUESTS_TABLE} AND ${BASE.requests}`,
    `EXCHANGE TABLES ${AUDIT_PATIENT_INDEX_TABLE} AND ${BASE.index}`,
  ];
  // nothing is inserted while the names are swapped; the swap itself is not timed
  const onSide = async <T>(side: Side, run: () => Promise<T>): Promise<T> => {
    if (side.baseline) for (const q of SWAPS) await client.command({ query: q });
    try {
      return await run();
    } finally {
      if (side.baseline) for (const q of SWAPS) await client.command({ query: q });
    }
  };
  const candidate = newSide('candidate (index / by_user projection, sort key)', false);
  const baseline = newSide('baseline (ORDER BY tuple(), no projection)', true);
  const sides = [candidate, baseline];
  const kinds = ['access', 'activity'] as const;
  for (const side of sides) {
    for (const kind of kinds) {
      await onSide(side, async () => {
        side.estimate[kind] = await estimate(kind);
        await REPORTS[kind](runs + 1); // warm-up
      });
    }
  }
  for (const kind of kinds) {
    for (let i = 0; i < runs; i += 1) {
      for (let j = 0; j < sides.length; j += 1) {
        const side = sides[(i + j) % sides.length] as Side;
        await onSide(side, async () => {
          const c = process.cpuUsage();
          const s = performance.now();
          const result = await REPORTS[kind](i);
          side.ms[kind].push(performance.now() - s);
          const used = process.cpuUsage(c);
          side.cpu[kind].push((used.user + used.system) / 1000);
          side.rows[kind].push(result.rows.length);
        });
      }
    }
  }

  // Where an access report's time goes, on the candidate side (no swap), for other patients than the runs above
  // (no query condition cache help): its one read through the client's exec (chDB's own `elapsed` = engine time;
  // the rest of the call = the client and chdb glue), the engine's floor for a query over the same key ranges
  // (`count()`: planning, part and primary-key analysis, no columns but the key's), and the Node side of the
  // report (JSON text → value rows → records → requests), timed apart on the same text.
  const profile = {
    engine: [] as number[],
    call: [] as number[],
    cpu: [] as number[],
    floor: [] as number[],
    floorCpu: [] as number[],
    decode: [] as number[],
  };
  {
    const params = (i: number) => ({ patients: [patientOf(i), ALL_PATIENTS], from: chTime(start), to: chTime(end) });
    const execText = async (
      query: string,
      i: number,
    ): Promise<{ text: string; engine: number; wall: number; cpu: number }> => {
      const c0 = process.cpuUsage();
      const s0 = performance.now();
      const result = await client.exec({ query: `${query} FORMAT JSONCompactEachRow`, query_params: params(i) });
      let text = '';
      for await (const chunk of result.stream) text += String(chunk);
      const wall = performance.now() - s0;
      const used = process.cpuUsage(c0);
      const engine = Number(result.summary?.elapsed_ns ?? Number.NaN) / 1e6;
      return { text, engine, wall, cpu: (used.user + used.system) / 1000 };
    };
    const floorSql = accessReadSql('')
      .replace(/^SELECT .* FROM /, 'SELECT count() FROM ')
      .replace(/ ORDER BY .*$/, ` SETTINGS ${SMALL_READ_SETTINGS}`);
    for (let i = 0; i < runs; i += 1) {
      const patient = runs + 2 + i;
      const read = await execText(accessReadSql(''), patient);
      profile.engine.push(read.engine);
      profile.call.push(read.wall - read.engine);
      profile.cpu.push(read.cpu);
      const floor = await execText(floorSql, patient);
      profile.floor.push(floor.engine);
      profile.floorCpu.push(floor.cpu);
      const d0 = performance.now();
      const records = read.text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => toAuditRecordFromValues(JSON.parse(line) as unknown[]));
      groupRequests(records);
      profile.decode.push(performance.now() - d0);
    }
  }

  const f = (xs: number[], q: number): string => quantile(xs, q).toFixed(1);
  for (const [kind, title] of [
    ['access', 'patient access report (1 patient, 1 year; audit_patient_index alone)'],
    ['activity', 'user activity report (1 user, 30 days; by_user projection → audit_requests)'],
  ] as const) {
    if (candidate.rows[kind].some((n, i) => n !== baseline.rows[kind][i]))
      throw new Error(`${title}: candidate and baseline disagree`);
    const cp95 = quantile(candidate.ms[kind], 0.95);
    const bp95 = quantile(baseline.ms[kind], 0.95);
    const avgRows = Math.round(candidate.rows[kind].reduce((a, b) => a + b, 0) / runs);
    console.log(`\n${title}: ${runs} runs, ${avgRows} rows per report on average; load average ${load()} (1/5/15 min)`);
    for (const side of sides) {
      const e = side.estimate[kind];
      console.log(
        `  ${side.label}: p50 ${f(side.ms[kind], 0.5)} ms, p95 ${f(side.ms[kind], 0.95)} ms, process CPU median ${f(side.cpu[kind], 0.5)} ms; first step plans ${e.rows.toLocaleString('en-US')} rows / ${e.marks} marks`,
      );
    }
    const cpuRatio = quantile(baseline.cpu[kind], 0.5) / quantile(candidate.cpu[kind], 0.5);
    const ratio = bp95 / cp95;
    console.log(
      `  ratio = baseline p95 / candidate p95 = ${ratio.toFixed(1)}× (p50 ${(quantile(baseline.ms[kind], 0.5) / quantile(candidate.ms[kind], 0.5)).toFixed(1)}×, CPU ${cpuRatio.toFixed(1)}×)`,
    );
    console.log(
      `  target (slo.md): p95 ≤ 50 ms ${cp95 <= 50 ? 'MET' : 'NOT MET'} (${cp95.toFixed(1)} ms); ≥ 50× the baseline ${ratio >= 50 ? 'MET' : 'NOT MET'} (${ratio.toFixed(1)}×)`,
    );
    if (kind === 'access') {
      console.log(
        `  where its time goes (medians, ${runs} other patients, candidate side): the read of its ${AUDIT_RECORD_FIELDS.length} columns ${f(profile.engine, 0.5)} ms in the engine (chDB's elapsed), ${f(profile.cpu, 0.5)} ms process CPU for the whole call; the engine's floor for any query over the same key ranges (count(): planning, part and key analysis) ${f(profile.floor, 0.5)} ms elapsed / ${f(profile.floorCpu, 0.5)} ms CPU; client + chdb glue around the read ${f(profile.call, 0.5)} ms; Node decoding (JSON → records → requests) ${f(profile.decode, 0.5)} ms; one whole report ${f(candidate.ms.access, 0.5)} ms wall / ${f(candidate.cpu.access, 0.5)} ms CPU`,
      );
    }
  }
} finally {
  await client.close();
  if (keepDir === undefined) rmSync(dir, { recursive: true, force: true });
}
