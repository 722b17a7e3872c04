/**
 * `npm run bench` (packages/mock-ehr): simple reads/s and list-refresh batches/s of the mock EHR on
 * one core, each against a baseline measured in the same run.
 *
 * Fairness: the server under test runs in its own process pinned to CPU 0 (`taskset -c 0`), the
 * load generator (autocannon) in another process pinned to CPU 1; the baseline is a bare node:http
 * server in the same setup answering the same number of bytes from a precomputed buffer, so
 * `ratio = mock EHR / baseline` is the share of raw node:http throughput the mock EHR keeps.
 * Short runs (a warm-up, then alternating 2 s rounds of candidate and baseline, medians): the
 * machine is shared, so the per-CPU-second figures and the ratios are the comparable numbers.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_SECONDS = 1;
const READ_TARGET = 10_000;
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return cpus().length >= 2;
  } catch {
    return false;
  }
}
const pinned = hasTaskset();

/** node with the source condition, pinned to `cpu` when taskset is there. */
function nodeCommand(cpu: number, script: string, args: string[]): [string, string[]] {
  const nodeArgs = ['--conditions=fhirwatch-source', script, ...args];
  return pinned ? ['taskset', ['-c', String(cpu), process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
}

/** Line reader over a child's stdout: `next()` resolves with the next line, rejects once the child exits. */
function lines(child: ChildProcess): { next(): Promise<string> } {
  let buffer = '';
  const waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  const ready: string[] = [];
  let exited: Error | undefined;
  child.stdout!.on('data', (c: Buffer) => {
    buffer += c.toString();
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const waiter = waiting.shift();
      if (waiter) waiter.resolve(line);
      else ready.push(line);
    }
  });
  child.once('exit', (code) => {
    exited = new Error(`process exited (${code}) before answering`);
    for (const waiter of waiting.splice(0)) waiter.reject(exited);
  });
  return {
    next: () =>
      new Promise((resolve, reject) => {
        const line = ready.shift();
        if (line !== undefined) resolve(line);
        else if (exited !== undefined) reject(exited);
        else waiting.push({ resolve, reject });
      }),
  };
}

async function firstLine(child: ChildProcess): Promise<string> {
  return lines(child).next();
}

interface Server {
  child: ChildProcess;
  info: Record<string, unknown>;
  /** CPU time (µs) the server process has used so far. */
  cpuUs(): Promise<number>;
}

async function startServer(args: string[]): Promise<Server> {
  const [command, commandArgs] = nodeCommand(0, here('./server.ts'), args);
  const child = spawn(command, commandArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
  const out = lines(child);
  const info = JSON.parse(await out.next()) as Record<string, unknown>;
  return {
    child,
    info,
    cpuUs: async () => {
      child.stdin!.write('cpu\n');
      return (JSON.parse(await out.next()) as { cpuUs: number }).cpuUs;
    },
  };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

interface LoadResult {
  requests: number;
  rps: number;
  non2xx: number;
  errors: number;
  p50: number;
  p99: number;
  /** Requests per CPU-second of the server process. */
  perCpuSecond: number;
}

async function load(spec: Record<string, unknown>): Promise<LoadResult> {
  // The spec (with the batch bodies) goes through stdin: too large for argv.
  const [command, args] = nodeCommand(1, here('./load.ts'), []);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin!.end(JSON.stringify(spec));
  return JSON.parse(await firstLine(child)) as LoadResult;
}

async function measureOnce(server: Server, spec: Record<string, unknown>, seconds: number): Promise<LoadResult> {
  const cpuBefore = await server.cpuUs();
  const result = await load({ ...spec, url: server.info.url as string, seconds });
  result.perCpuSecond = (result.requests / ((await server.cpuUs()) - cpuBefore)) * 1e6;
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`bench run had ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  }
  return result;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Warm both servers up, then alternate candidate and baseline runs for ROUNDS rounds, so that load
 * from other processes on the machine falls on both alike; report the medians.
 */
async function compare(
  candidate: Server,
  baseline: Server,
  spec: Record<string, unknown>,
): Promise<{ candidate: LoadResult; baseline: LoadResult; ratios: number[]; cpuRatios: number[] }> {
  await measureOnce(candidate, spec, WARMUP_SECONDS);
  await measureOnce(baseline, spec, WARMUP_SECONDS);
  const c: LoadResult[] = [];
  const b: LoadResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    c.push(await measureOnce(candidate, spec, SECONDS));
    b.push(await measureOnce(baseline, spec, SECONDS));
  }
  const summary = (runs: LoadResult[]): LoadResult => ({
    requests: runs.reduce((n, r) => n + r.requests, 0),
    rps: median(runs.map((r) => r.rps)),
    non2xx: 0,
    errors: 0,
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    perCpuSecond: median(runs.map((r) => r.perCpuSecond)),
  });
  return {
    candidate: summary(c),
    baseline: summary(b),
    ratios: c.map((r, i) => r.rps / b[i]!.rps),
    cpuRatios: c.map((r, i) => r.perCpuSecond / b[i]!.perCpuSecond),
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const mock = await startServer(['mock']);
let baseline: Server | undefined;
let report: string[] = [];
try {
  const { readPaths, batchBodies, readBytes, batchBytes } = mock.info as {
    readPaths: string[];
    batchBodies: string[];
    readBytes: number;
    batchBytes: number;
  };
  baseline = await startServer(['baseline', String(readBytes), String(batchBytes)]);
  const reads = await compare(mock, baseline, { method: 'GET', paths: readPaths, connections: 16 });
  const batches = await compare(mock, baseline, { method: 'POST', bodies: batchBodies, connections: 8 });

  const row = (label: string, r: LoadResult, unit: string) =>
    `  ${label.padEnd(9)} ${fmt(r.rps).padStart(7)} ${unit}/s measured   ${fmt(r.perCpuSecond).padStart(7)} ${unit} per CPU-second   p50 ${r.p50} ms  p99 ${r.p99} ms`;
  const ratio = (c: { ratios: number[]; cpuRatios: number[] }) =>
    `  ratio = ${median(c.ratios).toFixed(2)} measured, ${median(c.cpuRatios).toFixed(2)} per CPU-second` +
    ` (median of ${ROUNDS} alternating rounds; per round ${c.cpuRatios.map((r) => r.toFixed(2)).join(' ')})`;
  report = [
    `mock-ehr bench: node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}), ` +
      (pinned ? 'servers pinned to CPU 0, autocannon on CPU 1' : 'NOT pinned (taskset unavailable)') +
      `, ${ROUNDS} rounds of ${SECONDS} s per scenario after ${WARMUP_SECONDS} s warm-up`,
    'population: STU3, 1000 patients, seed 42; baseline: bare node:http answering a precomputed buffer of the same size',
    '"per CPU-second" = requests / CPU time the server process used: the throughput of one core of its own,',
    'which holds when other work shares the machine ("measured" does not). Figures are medians over the rounds.',
    '',
    `simple reads (GET /Patient/{id}, ${readBytes} B, 16 connections)`,
    row('mock EHR', reads.candidate, 'reads'),
    row('baseline', reads.baseline, 'req'),
    ratio(reads),
    `  target >= ${fmt(READ_TARGET)} reads/s on one core: ${reads.candidate.perCpuSecond >= READ_TARGET ? 'met' : 'NOT met'} (per CPU-second)`,
    '',
    `list-refresh batches (POST / Bundle batch, 5 patients x 7 entries, ${batchBytes} B response, 8 connections)`,
    row('mock EHR', batches.candidate, 'batches'),
    row('baseline', batches.baseline, 'req'),
    ratio(batches),
    `  = ${fmt(batches.candidate.perCpuSecond * 35)} batch entries per CPU-second`,
  ];
} finally {
  await stopServer(mock.child);
  if (baseline !== undefined) await stopServer(baseline.child);
}
process.stdout.write(`${report.join('\n')}\n`);
