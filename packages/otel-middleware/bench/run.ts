/**
 * Middleware overhead on the reference gateway (slo.md: "gateway throughput with full
 * instrumentation ≥ 95 % of the same gateway uninstrumented; ≤ 0.3 ms added p99").
 *
 * Processes: the mock EHR (one process), three gateways started fresh each round (`baseline` =
 * unwrapped, `batched` / `strict` = wrapped by the full middleware, exporting spans, metrics and
 * audit records for real to a local receiver in this process), and the load generator (this process,
 * one closed loop of `--connections` keep-alive connections per gateway, all three driven in the
 * same window so load from elsewhere on the machine hits them alike). The ratio is taken per round
 * and the median printed. Also printed: each gateway's CPU time per request (from /proc), the
 * figure least disturbed by a busy machine.
 *
 * Traffic (`--mix`, a comma list, default `read,app,batch`: the three mixes issue 18's target names, run one
 * after the other): `app` is the Patients app's own pattern, per iteration one POST /Patient/_search (10
 * results) and one list-refresh batch of 5 patients × 7 entries (`listRefreshBundle`), plus a
 * GET /Patient/{id} every second iteration (a clinician opening a patient): 2 searches, 2 batches, 1 read per
 * 5 requests. `read`, `search`, `batch` run one request type alone (to split the cost per type); `legacy` is
 * the earlier mix (50 % reads, 25 % searches, 25 % batches of 1 patient × 7).
 *
 * Usage: npm run bench [-- --seconds 3 --rounds 3 --connections 16 --mix read,app,batch --profile --split --compare <commit>]
 *   --profile: one more round of the app mix with the uninstrumented and the batched gateway (`--profile-mode
 *     batched-old` with --compare: the old middleware instead, for a before profile) both under
 *     --cpu-prof: CPU per request by component for each (so the host's own cost with and without the audit
 *     is compared like for like; node's response write reached through the audit's `res.end` hook is
 *     charged to the host), the hottest functions and leaves.
 *   --split: add a gateway with batched audit without the OTel SDK (audit vs telemetry cost).
 *   --compare <commit>: add `batched-old` (and `strict-old`), the middleware of that commit
 *     (its src/ extracted with git into .tmp/), driven in the same window.
 *   --modes a,b,c: which gateways (default baseline,batched,strict,stock).
 *   `stock` = no middleware: the stock @opentelemetry/instrumentation-http + instrumentation-undici (spans +
 *   metrics, no audit) on the same gateway (bench/stock-sdk.ts). Every run ends, per mix, with the gateway CPU
 *   per request of ours (batched, strict; and the `-old` ones) vs stock vs uninstrumented and the verdict of
 *   the target (ours ≤ 1.5× uninstrumented and below stock, each mix, batched and strict), with the load
 *   average (the machine is shared).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { listRefreshBundle } from '@fhirwatch/contract';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    profile: { type: 'boolean', default: false },
    /** The instrumented gateway the profiled round runs (`batched-old` with --compare: the before profile). */
    'profile-mode': { type: 'string', default: 'batched' },
    /** Also run a batched gateway without the OTel SDK (audit cost alone). */
    split: { type: 'boolean', default: false },
    mix: { type: 'string', default: 'read,app,batch' },
    compare: { type: 'string' },
    modes: { type: 'string' },
  },
});
/** `--mix` takes a comma list; the default runs the three mixes the issue-18 target names. */
const MIXES = (values.mix as string).split(',');
for (const m of MIXES)
  if (!['app', 'legacy', 'read', 'search', 'batch'].includes(m)) throw new Error(`unknown --mix ${m}`);
/** The mix being driven (the runs go mix after mix). */
let MIX = MIXES[0] as string;
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const TENANT = '3b3b3b3b-aaaa-4bbb-8ccc-dddddddddddd';
const here = import.meta.dirname;
const workDir = mkdtempSync(join(tmpdir(), 'fw-mw-bench-'));

// --compare: the middleware's src/ at that commit, extracted next to this package (so that its
// `@fhirwatch/*` imports resolve through the workspace's node_modules).
let oldSrc: string | undefined;
if (values.compare !== undefined) {
  const pkgDir = join(here, '..');
  const dest = join(pkgDir, '.tmp', `src-${values.compare}`);
  mkdirSync(dest, { recursive: true });
  const files = execFileSync('git', ['ls-tree', '--name-only', values.compare, 'src/'], {
    cwd: pkgDir,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f.endsWith('.ts'));
  for (const f of files) {
    const text = execFileSync('git', ['show', `${values.compare}:./${f}`], { cwd: pkgDir, encoding: 'utf8' });
    writeFileSync(join(dest, f.slice('src/'.length)), text);
  }
  // The gateway hands its per-request context (tenant, client, upstream calls) to the middleware
  // through @fhirwatch/otel-middleware's context.ts, i.e. the *current* src/context.ts (a WeakMap).
  // The old copy must read that same map: with its own copy of context.ts it saw no tenant and no
  // upstream call, so it made no client span / client histogram point and looked cheaper than it is.
  writeFileSync(join(dest, 'context.ts'), `export * from '${join(pkgDir, 'src', 'context.ts')}';\n`);
  oldSrc = join(dest, 'index.ts');
}

// ---- the receiver standing in for the sink + OTLP collector: accept, count, discard ----
// Each gateway gets its own base URL `/m/<mode>`, so what each one exported is counted apart (a mode that
// exports nothing would be a broken comparison, and the summary says so).
let otlpBytes = 0;
let auditLines = 0;
const otlpBytesByMode = new Map<string, number>();
const receiver = createServer((req, res) => {
  let bytes = 0;
  let lines = 0;
  const match = /^\/m\/([^/]+)(\/.*)$/.exec(req.url ?? '');
  const path = match?.[2] ?? req.url;
  const isAudit = path === '/v1/audit';
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    if (isAudit) for (const b of c) if (b === 10) lines++;
  });
  req.on('end', () => {
    if (!isAudit && match?.[1] !== undefined)
      otlpBytesByMode.set(match[1], (otlpBytesByMode.get(match[1]) ?? 0) + bytes);
    if (isAudit) {
      auditLines += lines;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted: lines, duplicates: 0 }));
      return;
    }
    otlpBytes += bytes;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const sinkUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

function spawnChild(
  script: string,
  env: Record<string, string>,
  execArgv: string[] = [],
): Promise<{ child: ChildProcess; info: Record<string, unknown> }> {
  const child = spawn(process.execPath, [...execArgv, '--conditions=fhirwatch-source', join(here, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).once('line', (line) =>
      resolve({ child, info: JSON.parse(line) as Record<string, unknown> }),
    );
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
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

interface Result {
  mode: string;
  /** Gateway process CPU (user + system) per request, µs: robust to other load on the machine. */
  cpuUs: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function send(
  agent: Agent,
  url: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, method, path, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Target {
  mode: string;
  child: ChildProcess;
  url: URL;
  agent: Agent;
  auth: Record<string, string>;
  i: number;
}

async function startGateway(mode: string, profile: boolean): Promise<Target> {
  const execArgv = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(workDir, `prof-${mode}`)}`] : [];
  const gw = await spawnChild(
    'gateway-child.ts',
    {
      BENCH_MODE: mode,
      BENCH_SINK: `${sinkUrl}/m/${mode}`,
      BENCH_TENANT: TENANT,
      BENCH_EHR: ehr.info.url as string,
      BENCH_DIR: workDir,
      ...(mode.endsWith('-old') && oldSrc !== undefined ? { BENCH_SRC: oldSrc } : {}),
    },
    execArgv,
  );
  const tokenRes = await fetch(`${gw.info.url as string}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: gw.info.clientId as string,
      client_secret: gw.info.clientSecret as string,
      scope: `tenant:${TENANT}`,
    }).toString(),
  });
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  return {
    mode,
    child: gw.child,
    url: new URL(gw.info.url as string),
    agent: new Agent({ keepAlive: true, maxSockets: CONNECTIONS }),
    auth: { authorization: `Bearer ${token}` },
    i: 0,
  };
}

// Request bodies are built once: the load generator's own CPU competes with the gateways.
const BASE = `/${TENANT}`;
const batchBodies = ids.map((id) => JSON.stringify(listRefreshBundle('STU3', [id])));

// The app's list refresh: 5 patients × 7 entries per batch.
const listBodies = Array.from({ length: 40 }, (_, k) =>
  JSON.stringify(listRefreshBundle('STU3', ids.slice((k * 5) % ids.length, ((k * 5) % ids.length) + 5))),
);

type Kind = 'read' | 'search' | 'batch' | 'batch1';
/** Request kind of the k-th request of a connection loop, per --mix. */
function kindOf(k: number): Kind {
  if (MIX === 'read' || MIX === 'search' || MIX === 'batch') return MIX;
  if (MIX === 'legacy') {
    const slot = k % 4;
    return slot === 0 || slot === 2 ? 'read' : slot === 1 ? 'search' : 'batch1';
  }
  const slot = k % 5; // app: search, batch, read, search, batch
  return slot === 2 ? 'read' : slot === 0 || slot === 3 ? 'search' : 'batch';
}

function next(t: Target): Promise<number> {
  const k = t.i++;
  const id = ids[k % ids.length] as string;
  const kind = kindOf(k);
  if (kind === 'read') return send(t.agent, t.url, 'GET', `${BASE}/Patient/${id}`, t.auth);
  if (kind === 'batch') {
    return send(
      t.agent,
      t.url,
      'POST',
      `${BASE}/`,
      { ...t.auth, 'content-type': 'application/fhir+json' },
      listBodies[k % listBodies.length] as string,
    );
  }
  if (kind === 'search') {
    return send(
      t.agent,
      t.url,
      'POST',
      `${BASE}/Patient/_search`,
      { ...t.auth, 'content-type': 'application/x-www-form-urlencoded' },
      'name:contains=a&_count=10',
    );
  }
  return send(
    t.agent,
    t.url,
    'POST',
    `${BASE}/`,
    { ...t.auth, 'content-type': 'application/fhir+json' },
    batchBodies[k % batchBodies.length] as string,
  );
}

async function drive(
  t: Target,
  ms: number,
  latencies: number[] | undefined,
): Promise<{ done: number; errors: number }> {
  const until = performance.now() + ms;
  let done = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        const status = await next(t).catch(() => 0);
        if (status !== 200) errors++;
        latencies?.push(performance.now() - t0);
        done++;
      }
    }),
  );
  return { done, errors };
}

/**
 * The three gateways run at the same time, each with its own closed loop of CONNECTIONS: whatever
 * else loads the machine hits all of them in the same window, so the ratio is taken within one run.
 */
async function measureTogether(modes: string[], profile = false): Promise<Result[]> {
  const targets: Target[] = [];
  for (const mode of modes) targets.push(await startGateway(mode, profile));
  await Promise.all(targets.map((t) => drive(t, 1000, undefined))); // warm-up (JIT, connections)
  const cpu0 = targets.map((t) => cpuTicks(t.child.pid));
  const t0 = performance.now();
  const runs = await Promise.all(
    targets.map(async (t) => {
      const latencies: number[] = [];
      const r = await drive(t, SECONDS * 1000, latencies);
      return { ...r, latencies };
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const results: Result[] = [];
  for (let k = 0; k < targets.length; k++) {
    const t = targets[k] as Target;
    const r = runs[k] as { done: number; errors: number; latencies: number[] };
    const cpuUs = ((cpuTicks(t.child.pid) - (cpu0[k] ?? 0)) * 10_000) / r.done; // 100 ticks/s
    r.latencies.sort((a, b) => a - b);
    const q = (p: number): number =>
      r.latencies[Math.min(r.latencies.length - 1, Math.floor(p * r.latencies.length))] ?? 0;
    results.push({ mode: t.mode, cpuUs, rps: r.done / elapsed, p50: q(0.5), p99: q(0.99), errors: r.errors });
  }
  for (const t of targets) {
    t.agent.destroy();
    await stop(t.child);
  }
  return results;
}

/** utime + stime of a process, in clock ticks (Linux /proc). */
function cpuTicks(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

const modes =
  values.modes !== undefined
    ? values.modes.split(',')
    : [
        'baseline',
        'batched',
        'strict',
        'stock',
        ...(values.split ? ['audit-only'] : []),
        ...(oldSrc !== undefined ? ['batched-old', 'strict-old'] : []),
      ];
if (modes[0] !== 'baseline') throw new Error('--modes must start with baseline');

type Summary = Record<string, { cpuUs: number; rps: number; p50: number; p99: number }>;

/** ROUNDS rounds of the current MIX, all modes at once; prints per round and the mix's summary. */
async function runMix(): Promise<Summary> {
  const results: Result[] = [];
  const ratios: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  const audit0 = auditLines;
  for (let r = 0; r < ROUNDS; r++) {
    const round = await measureTogether(r % 2 === 0 ? modes : [...modes].reverse());
    const base = round.find((x) => x.mode === 'baseline') as Result;
    for (const res of round) {
      results.push(res);
      if (res.mode !== 'baseline') ratios[res.mode]?.push(res.rps / base.rps);
      console.log(
        `mix ${MIX} round ${r + 1} ${res.mode.padEnd(11)} ${res.rps.toFixed(0).padStart(6)} req/s  gateway CPU ${res.cpuUs.toFixed(0)} µs/req  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  errors ${res.errors}  load ${loadavg()[0]?.toFixed(2)}`,
      );
    }
  }
  const summary = Object.fromEntries(
    modes.map((m) => {
      const rs = results.filter((x) => x.mode === m);
      return [
        m,
        {
          cpuUs: median(rs.map((x) => x.cpuUs)),
          rps: median(rs.map((x) => x.rps)),
          p50: median(rs.map((x) => x.p50)),
          p99: median(rs.map((x) => x.p99)),
        },
      ];
    }),
  ) as Summary;
  const b = summary.baseline as { cpuUs: number; rps: number; p99: number };
  console.log(
    `mix ${MIX}: ${modes.length} gateways driven at once, ${CONNECTIONS} connections each, ${SECONDS} s × ${ROUNDS} rounds, medians; receiver got ${auditLines - audit0} audit records`,
  );
  for (const m of modes.slice(1)) {
    const s = summary[m] as { cpuUs: number; rps: number; p99: number };
    console.log(
      `mix ${MIX} ${m.padEnd(11)} throughput ratio = candidate / baseline = ${median(ratios[m] ?? []).toFixed(3)} (median of per-round ratios; ${s.rps.toFixed(0)} vs ${b.rps.toFixed(0)} req/s); added p99 = ${(s.p99 - b.p99).toFixed(2)} ms (${s.p99.toFixed(2)} vs ${b.p99.toFixed(2)} ms); gateway CPU/request ${s.cpuUs.toFixed(0)} vs ${b.cpuUs.toFixed(0)} µs`,
    );
  }
  console.log('');
  return summary;
}

const byMix = new Map<string, Summary>();
for (const m of MIXES) {
  MIX = m;
  byMix.set(m, await runMix());
}
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`);
console.log(
  `OTLP bytes received per gateway: ${modes.map((m) => `${m} ${((otlpBytesByMode.get(m) ?? 0) / 1e6).toFixed(1)} MB`).join(', ')}; ${auditLines} audit records, ${(otlpBytes / 1e6).toFixed(1)} MB OTLP in all`,
);
for (const m of modes) {
  const exports = m !== 'baseline' && !m.startsWith('audit-only');
  if (exports && (otlpBytesByMode.get(m) ?? 0) === 0) console.log(`WARNING: ${m} exported no telemetry`);
}
// The target (issue 18): gateway CPU per request (the figure least disturbed by other load) of ours, batched
// and strict, ≤ 1.5× uninstrumented and below stock OTel http+undici, on each mix.
const verdicts: boolean[] = [];
for (const [m, summary] of byMix) {
  const base = (summary.baseline as { cpuUs: number }).cpuUs;
  const stock = summary.stock?.cpuUs;
  const parts = [`uninstrumented ${base.toFixed(0)} µs`];
  if (stock !== undefined) parts.push(`stock OTel http+undici ${stock.toFixed(0)} µs = ${(stock / base).toFixed(2)}×`);
  for (const ours of modes.filter((x) => x.startsWith('batched') || x.startsWith('strict'))) {
    const cpu = summary[ours]?.cpuUs;
    if (cpu === undefined) continue;
    const met = cpu / base <= 1.5 && (stock === undefined || cpu < stock);
    // the verdict is on the current code (`-old` = the --compare commit, shown for before/after)
    if (stock !== undefined && !ours.endsWith('-old')) verdicts.push(met);
    parts.push(
      `ours (${ours}) ${cpu.toFixed(0)} µs = ${(cpu / base).toFixed(2)}×${stock === undefined ? '' : `, ${(cpu / stock).toFixed(2)}× stock`}: ${stock === undefined ? 'no stock in this run' : met ? 'met' : 'NOT met'}`,
    );
  }
  console.log(`mix ${m.padEnd(6)} gateway CPU per request (median of rounds): ${parts.join('; ')}`);
}
console.log(
  `target ours (batched, strict) ≤ 1.5× uninstrumented and below stock on mixes ${MIXES.join(', ')}: ${verdicts.length === 0 ? 'not judged (needs batched/strict and stock)' : verdicts.every(Boolean) ? 'met' : `NOT met (${verdicts.filter(Boolean).length} of ${verdicts.length} met)`}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')} (1/5/15 min)`,
);

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Component of a profile sample = the nearest frame (leaf upwards) that matches one of these, so time in
 * the host's handler run inside `context.with` is charged to the gateway, not to the context. One
 * exception: node's own response write (`node:_http_outgoing`, `net`, stream internals) reached through
 * the middleware's `res.end`/`res.write` hook is the host's write, charged as such (it runs in the
 * uninstrumented gateway too).
 */
/** The middleware's source: the current src/ or a --compare copy in .tmp/src-<commit>/. */
const MW = 'otel-middleware/(?:src|\\.tmp/src-[^/]+)/';
const COMPONENTS: [string, (url: string) => boolean][] = [
  ['OTLP export (serialize + HTTP post)', (u) => /otlp-exporter-base|otlp-transformer|exporter-[a-z]+-otlp/.test(u)],
  ['metrics SDK (histograms, reader)', (u) => u.includes('sdk-metrics')],
  ['logs SDK', (u) => u.includes('sdk-logs')],
  ['spans SDK (start, attributes, end, batch processor)', (u) => /sdk-trace/.test(u)],
  ['context (AsyncLocalStorage, api)', (u) => /context-async-hooks|@opentelemetry\/(api|core)\//.test(u)],
  // the host's undici is the package (node_modules/undici); node's bundled one (node:internal/deps/undici) is
  // `fetch`, which the audit shipper uses: charged to whoever called it
  ['gateway (host)', (u) => u.includes('gateway/src') || u.includes('node_modules/undici/')],
  ['audit spool (chain, write, fdatasync, seal)', (u) => new RegExp(`${MW}(spool|chain)\\.ts`).test(u)],
  ['audit shipper', (u) => new RegExp(`${MW}shipper\\.ts`).test(u)],
  ['audit response scan (stream-scan, capture)', (u) => new RegExp(`${MW}(stream-scan|capture)\\.ts`).test(u)],
  ['audit records + pipeline + uuid', (u) => new RegExp(`${MW}(records|audit-pipeline|exchange|uuidv7)\\.ts`).test(u)],
  ['classifier (contract)', (u) => u.includes('contract/src')],
  ['middleware.ts (hooks, telemetry glue, defer)', (u) => new RegExp(`${MW}middleware\\.ts`).test(u)],
  ['telemetry.ts', (u) => new RegExp(`${MW}telemetry\\.ts`).test(u)],
];
const HOST_WRITE = 'gateway (host): its response write, under the audit hook';
const isNodeWrite = (u: string): boolean =>
  u === 'node:_http_outgoing' || u === 'node:net' || u.startsWith('node:internal/streams') || u === 'node:_http_server';

function frameKey(cf: { functionName: string; url: string; lineNumber: number }): string {
  return `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
}

/** Per component and per leaf: samples of the measured window (the last SECONDS of the process). */
function analyse(file: string): {
  total: number;
  byComponent: Map<string, number>;
  leaves: Map<string, number>;
  inclusive: Map<string, number>;
} {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const times: number[] = [];
  let t = 0;
  for (const d of prof.timeDeltas) {
    t += d;
    times.push(t);
  }
  const windowStart = t - SECONDS * 1e6;
  const byId = new Map<number, CpuProfile['nodes'][number]>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const samples = prof.samples.filter(
    (s, i) => (times[i] ?? 0) >= windowStart && byId.get(s)?.callFrame.functionName !== '(idle)',
  );
  const byComponent = new Map<string, number>();
  const leaves = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  for (const s of samples) {
    let who = 'node / other (no component frame on the stack)';
    let sawNodeWrite = false;
    for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
      const url = byId.get(id)?.callFrame.url ?? '';
      if (isNodeWrite(url)) sawNodeWrite = true;
      const hit = COMPONENTS.find(([, f]) => f(url));
      if (hit !== undefined) {
        who = sawNodeWrite && new RegExp(`${MW}(capture|middleware)\\.ts`).test(url) ? HOST_WRITE : hit[0];
        break;
      }
    }
    add(byComponent, who);
    const cf = byId.get(s)?.callFrame;
    if (cf !== undefined) add(leaves, frameKey(cf));
    const seen = new Set<string>();
    for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)?.callFrame;
      if (f !== undefined && COMPONENTS.some(([, match]) => match(f.url))) seen.add(frameKey(f));
    }
    for (const k of seen) add(inclusive, k);
  }
  return { total: samples.length, byComponent, leaves, inclusive };
}

if (values.profile) {
  // The profiled round: uninstrumented and batched, both under the profiler, same window, so the host's own
  // cost with and without the audit is compared like for like.
  MIX = MIXES.includes('app') ? 'app' : (MIXES[0] as string);
  const profMode = values['profile-mode'] as string;
  const profRound = await measureTogether(['baseline', profMode], true);
  const prof: Record<string, ReturnType<typeof analyse> & { cpuUs: number }> = {};
  for (const mode of ['baseline', profMode]) {
    const dir = join(workDir, `prof-${mode}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) continue;
    prof[mode === 'baseline' ? 'baseline' : 'ours'] = {
      ...analyse(join(dir, file)),
      cpuUs: profRound.find((x) => x.mode === mode)?.cpuUs ?? 0,
    };
  }
  const base = prof.baseline;
  const ours = prof.ours;
  if (base !== undefined && ours !== undefined) {
    const us = (p: typeof ours, k: string): number => (p.cpuUs * (p.byComponent.get(k) ?? 0)) / p.total;
    console.log(
      `\nprofiled round, mix ${MIX}: CPU by component, µs per request (incl. profiler overhead): uninstrumented ${base.cpuUs.toFixed(0)} µs, ${profMode} ${ours.cpuUs.toFixed(0)} µs`,
    );
    console.log(`${'uninstr.'.padStart(9)} ${profMode.padStart(11)}  component`);
    const keys = new Set([...ours.byComponent.keys(), ...base.byComponent.keys()]);
    for (const k of [...keys].sort((x, y) => us(ours, y) - us(ours, x)))
      console.log(
        `${us(base, k).toFixed(0).padStart(9)} ${us(ours, k).toFixed(0).padStart(11)}  ${k} (${((100 * (ours.byComponent.get(k) ?? 0)) / ours.total).toFixed(1)} % of ${profMode})`,
      );
    const host = (p: typeof ours): number => us(p, 'gateway (host)') + us(p, HOST_WRITE);
    console.log(
      `host (gateway + its response write): ${host(base).toFixed(0)} µs uninstrumented vs ${host(ours).toFixed(0)} µs ${profMode}; node/other (GC, I/O, timers): ${us(base, 'node / other (no component frame on the stack)').toFixed(0)} vs ${us(ours, 'node / other (no component frame on the stack)').toFixed(0)} µs`,
    );
    const top = (m: Map<string, number>, p: typeof ours, n: number): void => {
      for (const [k, v] of [...m].sort((x, y) => y[1] - x[1]).slice(0, n))
        console.log(
          `${((100 * v) / p.total).toFixed(1).padStart(5)} %  ${((p.cpuUs * v) / p.total).toFixed(0).padStart(5)} µs  ${k}`,
        );
    };
    console.log(`\n${profMode}: middleware / classifier / OTel / host functions by inclusive time:`);
    top(ours.inclusive, ours, 25);
    console.log(`${profMode}: hottest leaves:`);
    top(ours.leaves, ours, 20);
    console.log('uninstrumented: hottest leaves:');
    top(base.leaves, base, 12);
  }
}

await stop(ehr.child);
receiver.close();
rmSync(workDir, { recursive: true, force: true });
