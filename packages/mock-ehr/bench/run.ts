/**
 * `npm run bench` (packages/mock-ehr): simple reads/s and list-refresh batches/s of the mock EHR on
 * one core, each against a baseline measured in the same run.
 *
 * Fairness: the server under test runs in its own process pinned to CPU 0 (`taskset -c 0`), the
 * load generator (autocannon) in another process pinned to CPU 1; the baseline is a bare node:http
 * server in the same setup answering the same number of bytes from a precomputed buffer, so
 * `ratio = mock EHR / baseline` is the share of raw node:http throughput the mock EHR keeps.
 * Short runs (a warm-up, then a few seconds per scenario): the machine is shared, so read the
 * figures as an order of magnitude and the ratio as the comparable number.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
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

/** Line reader over a child's stdout: `next()` resolves with the next line. */
function lines(child: ChildProcess): { next(): Promise<string> } {
  let buffer = '';
  const waiting: ((line: string) => void)[] = [];
  const ready: string[] = [];
  child.stdout!.on('data', (c: Buffer) => {
    buffer += c.toString();
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else ready.push(line);
    }
  });
  return {
    next: () =>
      new Promise((resolve, reject) => {
        const line = ready.shift();
        if (line !== undefined) return resolve(line);
        waiting.push(resolve);
        child.once('exit', (code) => reject(new Error(`process exited (${code}) before answering`)));
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

async function measure(server: Server, spec: Record<string, unknown>): Promise<LoadResult> {
  const url = server.info.url as string;
  await load({ ...spec, url, seconds: WARMUP_SECONDS });
  const cpuBefore = await server.cpuUs();
  const result = await load({ ...spec, url, seconds: SECONDS });
  result.perCpuSecond = (result.requests / ((await server.cpuUs()) - cpuBefore)) * 1e6;
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`bench run had ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  }
  return result;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const mock = await startServer(['mock']);
let report: string[] = [];
try {
  const { readPaths, batchBodies, readBytes, batchBytes } = mock.info as {
    readPaths: string[];
    batchBodies: string[];
    readBytes: number;
    batchBytes: number;
  };
  const readSpec = { method: 'GET', paths: readPaths, connections: 16 };
  const batchSpec = { method: 'POST', bodies: batchBodies, connections: 8 };
  const mockReads = await measure(mock, readSpec);
  const mockBatches = await measure(mock, batchSpec);
  await stopServer(mock.child);

  const baseline = await startServer(['baseline', String(readBytes), String(batchBytes)]);
  let baseReads: LoadResult;
  let baseBatches: LoadResult;
  try {
    baseReads = await measure(baseline, readSpec);
    baseBatches = await measure(baseline, batchSpec);
  } finally {
    await stopServer(baseline.child);
  }

  const row = (label: string, r: LoadResult, unit: string) =>
    `  ${label.padEnd(9)} ${fmt(r.rps).padStart(7)} ${unit}/s measured   ${fmt(r.perCpuSecond).padStart(7)} ${unit} per CPU-second   p50 ${r.p50} ms  p99 ${r.p99} ms`;
  const ratio = (a: LoadResult, b: LoadResult) =>
    `  ratio = ${(a.rps / b.rps).toFixed(2)} measured, ${(a.perCpuSecond / b.perCpuSecond).toFixed(2)} per CPU-second`;
  report = [
    `mock-ehr bench: node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}), ` +
      (pinned ? 'server pinned to CPU 0, autocannon on CPU 1' : 'NOT pinned (taskset unavailable)') +
      `, ${SECONDS} s per scenario after ${WARMUP_SECONDS} s warm-up`,
    'population: STU3, 1000 patients, seed 42; baseline: bare node:http answering a precomputed buffer of the same size',
    '"per CPU-second" = requests / CPU time the server process used: the throughput of one core of its own,',
    'which holds when other work shares the machine ("measured" does not).',
    '',
    `simple reads (GET /Patient/{id}, ${readBytes} B, 16 connections)`,
    row('mock EHR', mockReads, 'reads'),
    row('baseline', baseReads, 'req'),
    ratio(mockReads, baseReads),
    `  target >= ${fmt(READ_TARGET)} reads/s on one core: ${mockReads.perCpuSecond >= READ_TARGET ? 'met' : 'NOT met'} (per CPU-second)`,
    '',
    `list-refresh batches (POST / Bundle batch, 5 patients x 7 entries, ${batchBytes} B response, 8 connections)`,
    row('mock EHR', mockBatches, 'batches'),
    row('baseline', baseBatches, 'req'),
    ratio(mockBatches, baseBatches),
  ];
} finally {
  await stopServer(mock.child);
}
process.stdout.write(`${report.join('\n')}\n`);
