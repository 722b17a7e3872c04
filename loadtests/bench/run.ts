/**
 * `npm run bench` (loadtests): the most requests/s the open-model runner issues on one core, as a ratio to
 * autocannon against the same trivial local server in the same run (target ≥ 0.8).
 *
 * The server runs in its own process pinned to CPU 0 (`taskset -c 0`), each generator round in a fresh
 * process pinned to CPU 1. Rounds alternate runner / autocannon after a warm-up; medians are compared:
 * ratio = runner / autocannon. The runner checks every answer (status, resource type, id, required
 * fields) and records latency into HDR histograms; autocannon sends one static request and checks nothing.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const node = process.execPath;
const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return cpus().length > 1;
  } catch {
    return false;
  }
})();
const pinned = (cpu: number, args: string[]): [string, string[]] =>
  hasTaskset ? ['taskset', ['-c', String(cpu), node, ...args]] : [node, args];

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const [cmd, args] = pinned(0, [here('./trivial-server.ts')]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (c: Buffer) => resolve({ child, url: c.toString().trim() }));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

interface Round {
  rps: number;
  perCpuSecond: number;
  failures: number;
}

function round(engine: 'runner' | 'autocannon', url: string, seconds: number): Round {
  const [cmd, args] = pinned(1, [
    '--conditions=fhirwatch-source',
    here('./generator.ts'),
    engine,
    url,
    String(CONNECTIONS),
    String(seconds),
  ]);
  const out = execFileSync(cmd, args, { encoding: 'utf8', timeout: (seconds + 60) * 1000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Round;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { child, url } = await startServer();
try {
  round('runner', url, 1);
  round('autocannon', url, 1);
  const runner: number[] = [];
  const baseline: number[] = [];
  const runnerCpu: number[] = [];
  const baselineCpu: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = round('runner', url, SECONDS);
    const a = round('autocannon', url, SECONDS);
    if (r.failures > 0 || a.failures > 0)
      throw new Error(`failures in a round: runner ${r.failures}, autocannon ${a.failures}`);
    runner.push(r.rps);
    baseline.push(a.rps);
    runnerCpu.push(r.perCpuSecond);
    baselineCpu.push(a.perCpuSecond);
    process.stdout.write(
      `round ${i + 1}: runner ${r.rps.toFixed(0)}/s (${r.perCpuSecond.toFixed(0)} per CPU-s), autocannon ${a.rps.toFixed(0)}/s (${a.perCpuSecond.toFixed(0)} per CPU-s)\n`,
    );
  }
  const ratio = median(runner) / median(baseline);
  process.stdout.write(
    [
      `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${hasTaskset ? 'server on CPU 0, generator on CPU 1' : 'no taskset: unpinned'}`,
      `${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s each, medians`,
      `open-model runner (one core, every answer checked): ${median(runner).toFixed(0)} requests/s`,
      `autocannon (one core, closed model, no checks):     ${median(baseline).toFixed(0)} requests/s`,
      `ratio = runner / autocannon = ${ratio.toFixed(2)} (requests/s, target >= 0.8)`,
      `requests per CPU-second of the generator: runner ${median(runnerCpu).toFixed(0)}, autocannon ${median(baselineCpu).toFixed(0)}, ratio = ${(median(runnerCpu) / median(baselineCpu)).toFixed(2)}`,
      '',
    ].join('\n'),
  );
} finally {
  child.kill('SIGTERM');
  await once(child, 'exit');
}
