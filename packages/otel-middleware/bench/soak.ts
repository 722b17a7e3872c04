/**
 * Soak bench (minutes long; never in CI, never from a test): the reference gateway wrapped by the middleware
 * (batched audit + spans + metrics) in front of the mock EHR, at the go-live profile (issue 11: 3 keep-alive
 * connections, ~67 requests/s, the Patients app's STU3 mix: per 5 requests 2 searches, 2 list-refresh batches of
 * 5 patients × 7 entries, 1 read), with the gateway's default per-client rate limiter on and a new access token
 * every minute (the /token path and its verification cache). Audit records and OTLP go to a counting receiver
 * in this process (the sink's own memory is not what is measured).
 *
 * Prints, every --sample-seconds: the gateway process's RSS, JS heap (used / total), external and
 * arrayBuffers memory, the spool's bytes on disk, requests and errors so far, records acknowledged, the load
 * average. At the end: the least-squares slope of RSS (and heap used) over the samples after the warm-up, per
 * 10 minutes, absolute and relative to the mean RSS after warm-up. Target (issue 11): after a 10-minute
 * warm-up, RSS slope < 1 % per 10 minutes.
 *
 *   cd packages/otel-middleware && timeout 1500 npx node --conditions=fhirwatch-source bench/soak.ts \
 *     [--minutes 20] [--warmup-minutes 10] [--rate 67] [--connections 3] [--sample-seconds 30] [--mode batched]
 *
 * Bounded: it stops after --minutes (and on SIGINT / SIGTERM, printing what it has).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { listRefreshBundle } from '@fhirwatch/contract';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '20' },
    'warmup-minutes': { type: 'string', default: '10' },
    rate: { type: 'string', default: '67' },
    connections: { type: 'string', default: '3' },
    'sample-seconds': { type: 'string', default: '30' },
    'token-seconds': { type: 'string', default: '60' },
    mode: { type: 'string', default: 'batched' },
  },
});
const MINUTES = Number(values.minutes);
const WARMUP_MIN = Number(values['warmup-minutes']);
const RATE = Number(values.rate);
const CONNECTIONS = Number(values.connections);
const SAMPLE_S = Number(values['sample-seconds']);
const TOKEN_S = Number(values['token-seconds']);
const MODE = values.mode as string;
for (const [name, v] of Object.entries({ MINUTES, WARMUP_MIN, RATE, CONNECTIONS, SAMPLE_S, TOKEN_S }))
  if (!(Number.isFinite(v) && v > 0) && !(name === 'WARMUP_MIN' && v === 0)) throw new Error(`bad ${name}: ${v}`);
if (MINUTES > 120) throw new Error('--minutes is capped at 120');
if (!['batched', 'strict', 'baseline', 'stock'].includes(MODE)) throw new Error(`unknown --mode ${MODE}`);

const TENANT = '3b3b3b3b-aaaa-4bbb-8ccc-dddddddddddd';
const here = import.meta.dirname;
const workDir = mkdtempSync(join(tmpdir(), 'fw-mw-soak-'));

// ---- counting receiver (sink + OTLP collector stand-in) ----
let auditLines = 0;
let otlpBytes = 0;
const receiver = createServer((req, res) => {
  let lines = 0;
  let bytes = 0;
  const isAudit = req.url?.endsWith('/v1/audit') === true;
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    if (isAudit) for (const b of c) if (b === 10) lines++;
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (isAudit) {
      auditLines += lines;
      res.end(JSON.stringify({ accepted: lines, duplicates: 0 }));
    } else {
      otlpBytes += bytes;
      res.end('{}');
    }
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const sinkUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

interface Spawned {
  child: ChildProcess;
  info: Record<string, unknown>;
  lines: AsyncIterableIterator<string>;
}
function spawnChild(script: string, env: Record<string, string>): Promise<Spawned> {
  const child = spawn(process.execPath, ['--conditions=fhirwatch-source', join(here, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> })[Symbol.asyncIterator]();
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    void lines.next().then((first) => {
      if (first.done === true) return reject(new Error(`${script} printed nothing`));
      resolve({ child, info: JSON.parse(first.value) as Record<string, unknown>, lines });
    });
  });
}
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const ehr = await spawnChild('ehr-child.ts', {});
const ids = ehr.info.ids as string[];
const gw = await spawnChild('gateway-child.ts', {
  BENCH_MODE: MODE,
  BENCH_SINK: sinkUrl,
  BENCH_TENANT: TENANT,
  BENCH_EHR: ehr.info.url as string,
  BENCH_DIR: workDir,
  BENCH_MEM_INTERVAL_MS: String(SAMPLE_S * 1000),
  BENCH_RATE_LIMIT: '1',
});
const base = new URL(gw.info.url as string);

let token = '';
async function refreshToken(): Promise<void> {
  const res = await fetch(`${base.origin}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: gw.info.clientId as string,
      client_secret: gw.info.clientSecret as string,
      scope: `tenant:${TENANT}`,
    }).toString(),
  });
  if (res.status !== 200) throw new Error(`token: ${res.status}`);
  token = ((await res.json()) as { access_token: string }).access_token;
}
await refreshToken();

// ---- load: CONNECTIONS paced loops, RATE requests/s in all, the app mix ----
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const listBodies = Array.from({ length: 40 }, (_, k) =>
  JSON.stringify(listRefreshBundle('STU3', ids.slice((k * 5) % ids.length, ((k * 5) % ids.length) + 5))),
);
function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: { ...headers, authorization: `Bearer ${token}` },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
let k = 0;
function next(): Promise<number> {
  const i = k++;
  const slot = i % 5; // search, batch, read, search, batch
  if (slot === 2) return send('GET', `/${TENANT}/Patient/${ids[i % ids.length]}`, {});
  if (slot === 1 || slot === 4)
    return send('POST', `/${TENANT}/`, { 'content-type': 'application/fhir+json' }, listBodies[i % listBodies.length]);
  return send(
    'POST',
    `/${TENANT}/Patient/_search`,
    { 'content-type': 'application/x-www-form-urlencoded' },
    'name:contains=a&_count=10',
  );
}

let requests = 0;
let errors = 0;
let stopping = false;
const t0 = performance.now();
const endAt = t0 + MINUTES * 60_000;
const periodMs = (1000 * CONNECTIONS) / RATE;
const loops = Array.from({ length: CONNECTIONS }, async (_, c) => {
  let due = t0 + (c * periodMs) / CONNECTIONS;
  while (!stopping && performance.now() < endAt) {
    const status = await next().catch(() => 0);
    requests++;
    if (status !== 200) errors++;
    due += periodMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -periodMs * 10) due = performance.now(); // fell far behind: do not burst to catch up
  }
});
const tokenTimer = setInterval(() => {
  refreshToken().catch((error: unknown) => console.error(`token refresh failed: ${(error as Error).message}`));
}, TOKEN_S * 1000);

// ---- samples ----
interface Sample {
  min: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}
const samples: Sample[] = [];
const MiB = 1024 * 1024;
function dirBytes(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      try {
        total += statSync(join(entry.parentPath, entry.name)).size;
      } catch {
        // a segment deleted while we looked
      }
    }
  }
  return total;
}
console.log(
  `soak: mode ${MODE}, ${RATE} req/s over ${CONNECTIONS} connections, app mix (STU3), ${MINUTES} min, warm-up ${WARMUP_MIN} min; node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`,
);
console.log(
  '   min    RSS MiB  heapUsed  heapTotal  external  arrayBuf  spool KiB  requests   req/s  errors  audit recs  load1',
);
const sampler = (async () => {
  let lastRequests = 0;
  let lastAt = t0;
  for await (const line of gw.lines) {
    const { mem } = JSON.parse(line) as { mem: NodeJS.MemoryUsage };
    const now = performance.now();
    const sample: Sample = {
      min: (now - t0) / 60_000,
      rss: mem.rss / MiB,
      heapUsed: mem.heapUsed / MiB,
      heapTotal: mem.heapTotal / MiB,
      external: mem.external / MiB,
      arrayBuffers: mem.arrayBuffers / MiB,
    };
    samples.push(sample);
    const rps = ((requests - lastRequests) * 1000) / (now - lastAt);
    lastRequests = requests;
    lastAt = now;
    console.log(
      `${sample.min.toFixed(2).padStart(6)} ${sample.rss.toFixed(1).padStart(10)} ${sample.heapUsed.toFixed(1).padStart(9)} ${sample.heapTotal.toFixed(1).padStart(10)} ${sample.external.toFixed(1).padStart(9)} ${sample.arrayBuffers.toFixed(1).padStart(9)} ${(dirBytes(workDir) / 1024).toFixed(0).padStart(10)} ${String(requests).padStart(9)} ${rps.toFixed(1).padStart(7)} ${String(errors).padStart(7)} ${String(auditLines).padStart(11)} ${loadavg()[0]?.toFixed(2).padStart(6)}`,
    );
    if (stopping) break;
  }
})();

const finish = async (): Promise<void> => {
  stopping = true;
  clearInterval(tokenTimer);
  await Promise.all(loops);
  await sleep(3000); // the last audit segment ships (1 s seal) before the gateway stops
  gw.child.kill('SIGTERM');
  await stop(gw.child);
  await sampler.catch(() => {});
  await stop(ehr.child);
  agent.destroy();
  receiver.close();
  rmSync(workDir, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void finish().then(report));

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

function report(): void {
  const elapsed = (performance.now() - t0) / 60_000;
  console.log(
    `\n${requests} requests in ${elapsed.toFixed(1)} min (${(requests / elapsed / 60).toFixed(1)} req/s), ${errors} errors, ${auditLines} audit records acknowledged, ${(otlpBytes / 1e6).toFixed(1)} MB OTLP; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}`,
  );
  const after = samples.filter((s) => s.min >= WARMUP_MIN);
  if (after.length < 3) {
    console.log(`fewer than 3 samples after the ${WARMUP_MIN}-minute warm-up: no slope (run longer)`);
    return;
  }
  const mean = after.reduce((a, s) => a + s.rss, 0) / after.length;
  const rssSlope = slope(after.map((s) => [s.min, s.rss])) * 10; // MiB per 10 min
  const heapSlope = slope(after.map((s) => [s.min, s.heapUsed])) * 10;
  const first = after[0] as Sample;
  const last = after[after.length - 1] as Sample;
  const pct = (100 * rssSlope) / mean;
  console.log(
    `after the ${WARMUP_MIN}-min warm-up (${after.length} samples, ${first.min.toFixed(1)}–${last.min.toFixed(1)} min): RSS ${first.rss.toFixed(1)} → ${last.rss.toFixed(1)} MiB (min ${Math.min(...after.map((s) => s.rss)).toFixed(1)}, max ${Math.max(...after.map((s) => s.rss)).toFixed(1)}), mean ${mean.toFixed(1)} MiB`,
  );
  console.log(
    `RSS slope = ${rssSlope.toFixed(2)} MiB per 10 min = ${pct.toFixed(2)} % of the mean per 10 min (target < 1 %: ${Math.abs(pct) < 1 ? 'met' : 'NOT met'}); heap used slope ${heapSlope.toFixed(2)} MiB per 10 min`,
  );
  const all = samples.filter((s) => s.min >= 1);
  if (all.length >= 3)
    console.log(
      `for reference, from minute 1: RSS slope ${((100 * slope(all.map((s) => [s.min, s.rss])) * 10) / mean).toFixed(2)} % per 10 min`,
    );
}

await Promise.all(loops);
if (!stopping) {
  await finish();
  report();
}
