/**
 * Bench (a): audit ingest, per-patient events/s over HTTP into the embedded store (chDB), request records
 * (issue 11: one record per HTTP request, expanded into per-patient audit_events rows by the materialized
 * view inside ClickHouse).
 *
 * Sides, same process, same chDB store, each with its own migrated database (same DDL, same view):
 * - candidate: `POST /v1/audit` to the running sink with the middleware's spool framing
 *   (`application/x-fhirwatch-spool`, CRC per line, what the shipper sends), segments of
 *   BENCH_SEGMENT requests (~1 MiB), BENCH_INFLIGHT POSTs in flight: parse, CRC, validation, dedup,
 *   insert into audit_requests, expansion by the view;
 * - baseline (target ratio >= 0.8): bare raw inserts of the same request rows in the writer's embedded format
 *   (a Native block through the store's raw insert, audit-encode.ts; no HTTP, no validation, no dedup), same
 *   batch size, into `bare.audit_requests`, expanded by the same view;
 * - text: the candidate again through a second sink on the same store whose writer sends the rows as
 *   JSONCompactEachRow text (`auditInsertFormat`, the insert format before Native): the same-run before/after
 *   of the insert format (BENCH_TEXT_SIDE=0 leaves it out);
 * - legacy (for comparison with the old design, same run): the same per-patient rows as legacy single-record
 *   lines (one line per (request, patient), the wire format before issue 11) over HTTP to the same sink.
 *
 * Rounds rotate the order of the sides over fresh ids; events/s is the median round of each side, the
 * ratio the median of per-round ratios. CPU µs/event is process CPU time (JS and engine threads): on a
 * shared machine it is the steadier figure. The HTTP bodies are built before the clock starts (they are
 * the middleware's spool bytes, not sink work); the baseline's row encoding is inside its clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { type AuditRequestRecord, expandRequestRecord } from '@fhirwatch/contract';
import { migrate, openStore, startSink } from '../src/index.ts';
import {
  AUDIT_REQUEST_INSERT_COLUMNS,
  AUDIT_REQUEST_NATIVE_TYPES,
  encodeAuditRequestNative,
} from '../src/store/audit-encode.ts';
import { rawInsertOf } from '../src/store/open.ts';
import { generateRequests } from '../test/records.ts';

const requestsPerRound = Number(process.env.BENCH_REQUESTS ?? 20_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const segment = Number(process.env.BENCH_SEGMENT ?? 250);
const inflight = Number(process.env.BENCH_INFLIGHT ?? 4);
const legacyRounds = Number(process.env.BENCH_LEGACY_ROUNDS ?? 2);
const textSide = process.env.BENCH_TEXT_SIDE !== '0';

interface Side {
  name: string;
  rates: number[];
  cpu: number[];
  /** Untimed: what the sender has ready (the middleware's spool bytes); timed: `run`. */
  prepare?: (requests: AuditRequestRecord[]) => unknown;
  run: (requests: AuditRequestRecord[], prepared: unknown) => Promise<void>;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function framed(lines: readonly string[]): Buffer {
  let text = '';
  for (const json of lines) text += `${(crc32(json) >>> 0).toString(16).padStart(8, '0')} ${json}\n`;
  return Buffer.from(text, 'utf8');
}

async function post(url: string, body: Buffer, attempt = 0): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${url}/v1/audit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-fhirwatch-spool' },
      body,
    });
  } catch (error) {
    // a kept-alive connection the server closed while idle between rounds: send again (the sink dedups)
    if (attempt < 2) return post(url, body, attempt + 1);
    throw error;
  }
  const text = await res.text();
  if (res.status !== 200) throw new Error(`sink answered ${res.status}: ${text}`);
}

/** POST bodies with at most `inflight` in flight. */
async function postAll(url: string, bodies: readonly Buffer[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < bodies.length) await post(url, bodies[next++]!);
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

const dir = mkdtempSync(join(tmpdir(), 'fw-sink-bench-'));
const client = openStore({ path: dir });
try {
  await migrate(client);
  await migrate(client, { database: 'bare' });
  const rawInsert = rawInsertOf(client);
  if (rawInsert === undefined) throw new Error('a chDB store has a raw insert');
  const sink = await startSink({
    client,
    migrate: false,
    spoolDir: join(dir, 'spool'),
    exclusiveWriter: true, // chDB: this process is the store's only writer
    maxPendingAuditRows: 1_000_000,
  });
  const textSink = textSide
    ? await startSink({
        client,
        migrate: false,
        spoolDir: join(dir, 'spool-text'),
        exclusiveWriter: true,
        maxPendingAuditRows: 1_000_000,
        auditInsertFormat: 'JSONCompactEachRow',
      })
    : undefined;

  let events = 0;
  const countEvents = (requests: readonly AuditRequestRecord[]): number =>
    requests.reduce((n, r) => n + r.entries.reduce((m, e) => m + e.patient_ids.length, 0), 0);
  const timed = async (side: Side, requests: AuditRequestRecord[]): Promise<void> => {
    const n = countEvents(requests);
    const prepared = side.prepare?.(requests);
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    await side.run(requests, prepared);
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    side.rates.push(n / seconds);
    side.cpu.push((cpu.user + cpu.system) / n);
  };

  const candidate: Side = {
    name: 'candidate  request lines over HTTP (spool framing)',
    rates: [],
    cpu: [],
    prepare: (requests) => {
      const bodies: Buffer[] = [];
      for (let i = 0; i < requests.length; i += segment) {
        bodies.push(framed(requests.slice(i, i + segment).map((r) => JSON.stringify(r))));
      }
      return bodies;
    },
    run: (_requests, bodies) => postAll(sink.url, bodies as Buffer[]),
  };
  const text: Side = {
    name: 'text       the same, rows inserted as JSON text   ',
    rates: [],
    cpu: [],
    prepare: candidate.prepare!,
    run: (_requests, bodies) => postAll(textSink!.url, bodies as Buffer[]),
  };
  const baseline: Side = {
    name: 'baseline   bare raw insert of the request rows     ',
    rates: [],
    cpu: [],
    run: async (requests) => {
      for (let i = 0; i < requests.length; i += segment * inflight) {
        const body = encodeAuditRequestNative(requests.slice(i, i + segment * inflight));
        if (body === undefined) throw new Error('the generated requests have a Native form');
        await rawInsert(
          'bare.audit_requests',
          AUDIT_REQUEST_INSERT_COLUMNS,
          'Native',
          body,
          { optimize_on_insert: 0 },
          AUDIT_REQUEST_NATIVE_TYPES,
        );
      }
    },
  };
  const legacy: Side = {
    name: 'legacy     per-patient lines over HTTP (old wire)  ',
    rates: [],
    cpu: [],
    prepare: (requests) => {
      const lines = requests.flatMap(expandRequestRecord).map((r) => JSON.stringify(r));
      const perPost = Math.round((lines.length / requests.length) * segment);
      const bodies: Buffer[] = [];
      for (let i = 0; i < lines.length; i += perPost) bodies.push(framed(lines.slice(i, i + perPost)));
      return bodies;
    },
    run: (_requests, bodies) => postAll(sink.url, bodies as Buffer[]),
  };
  let offset = 0;
  const fresh = (): AuditRequestRecord[] => {
    const { requests, rows } = generateRequests({ count: requestsPerRound, offset, patients: 50_000, users: 500 });
    offset += requestsPerRound;
    events = rows;
    return requests;
  };
  const sides = textSide ? [candidate, text, baseline] : [candidate, baseline];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < sides.length; k++) await timed(sides[(round + k) % sides.length]!, fresh());
  }
  for (let round = 0; round < legacyRounds; round++) await timed(legacy, fresh());
  await sink.audit.flush();
  await textSink?.audit.flush();

  const counts = await (
    await client.query({
      query: `SELECT (SELECT count() FROM default.audit_events) AS candidate_and_legacy,
                     (SELECT count() FROM bare.audit_events) AS baseline,
                     (SELECT count() FROM default.audit_requests) AS requests`,
      format: 'JSONEachRow',
    })
  ).json<{ candidate_and_legacy: string; baseline: string; requests: string }>();
  const ratios = (of: Side, to: Side): number[] => of.rates.map((rate, i) => rate / to.rates[i]!);
  console.log(
    `bench (a) audit ingest: ${rounds} rounds x ${requestsPerRound} request records (${fmt(events)} per-patient events), segments of ${segment}, ${inflight} in flight`,
  );
  console.log(
    `node ${process.version}, cpu ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  // BENCH_LEGACY_ROUNDS=0 leaves the legacy side out
  for (const side of [candidate, text, baseline, legacy].filter((x) => x.rates.length > 0)) {
    console.log(
      `${side.name}: ${fmt(median(side.rates)).padStart(9)} events/s, ${median(side.cpu).toFixed(2)} CPU us/event (rounds: ${side.rates.map(Math.round).join(', ')})`,
    );
  }
  console.log(
    `rows stored: candidate+text+legacy ${counts[0]?.candidate_and_legacy} per-patient rows (${counts[0]?.requests} request rows), baseline ${counts[0]?.baseline}`,
  );
  console.log(
    `per-round ratios candidate/baseline: ${ratios(candidate, baseline)
      .map((r) => r.toFixed(2))
      .join(', ')}`,
  );
  console.log(
    `ratio = candidate / baseline = ${median(ratios(candidate, baseline)).toFixed(3)} (median of per-round ratios; target >= 0.8; events/s target >= 300,000)`,
  );
  const stats = sink.audit.stats;
  console.log(
    `candidate's writer: ${stats.flushes} flushes, ${Math.round(stats.insertedRows / Math.max(1, stats.flushes))} request rows per insert on average (the baseline: ${segment * inflight})`,
  );
  if (text.cpu.length > 0) {
    const cpuRatios = candidate.cpu.map((c, i) => c / text.cpu[i]!);
    console.log(
      `insert format, same run: candidate (Native) / text (JSONCompactEachRow) CPU per event = ${median(cpuRatios).toFixed(3)} (per round: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}; below 1 = Native cheaper)`,
    );
  }
  if (legacy.rates.length > 0) {
    console.log(
      `ratio = candidate / legacy = ${(median(candidate.rates) / median(legacy.rates)).toFixed(2)} (request records vs the old per-patient lines, same sink, same run)`,
    );
  }
  // per core: 1 s of CPU over the CPU the sink spent per event (JS and engine threads of this process)
  const perCore = 1e6 / median(candidate.cpu);
  const sinkRate = median(candidate.rates);
  console.log(
    `target: one core >= 150,000 per-patient events/s: ${Math.round(perCore).toLocaleString('en-US')} (${perCore >= 150_000 ? 'MET' : 'NOT MET'}); embedded sink >= 300,000 events/s: ${Math.round(sinkRate).toLocaleString('en-US')} (${sinkRate >= 300_000 ? 'MET' : 'NOT MET'}); load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await sink.close();
  await textSink?.close();
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
