/**
 * `npm run bench` (loadtests): the most requests/s the open-model runner issues on one core, as a ratio to
 * autocannon against the same trivial local server in the same run (target ≥ 0.8).
 *
 * The server runs in its own process pinned to CPU 0 (`taskset -c 0`), each generator round in a fresh
 * process pinned to CPU 1. Rounds alternate runner / autocannon after a warm-up; medians are compared:
 * ratio = runner / autocannon. The runner runs with its defaults for load generation (worker threads when
 * the cores allow: pinned to one CPU, this thread) in throughput mode: every answer's status, resource type
 * and id checked, the deep required-field checks on 1 answer in 16, latency into HDR histograms, requests
 * written as prebuilt bytes on raw keep-alive sockets (src/raw-http.ts); a third
 * engine, `runner-full`, checks everything on every answer (the runner before throughput mode); autocannon
 * sends one static request and checks nothing. The verdict needs the ratio in requests/s and per
 * CPU-second of the generator (the latter is what a busy shared machine disturbs least).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
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

function round(engine: 'runner' | 'runner-full' | 'autocannon', url: string, seconds: number): Round {
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
  const full: number[] = [];
  const baseline: number[] = [];
  const runnerCpu: number[] = [];
  const fullCpu: number[] = [];
  const baselineCpu: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = round('runner', url, SECONDS);
    const a = round('autocannon', url, SECONDS);
    const f = round('runner-full', url, SECONDS);
    if (r.failures > 0 || a.failures > 0 || f.failures > 0)
      throw new Error(`failures in a round: runner ${r.failures}, autocannon ${a.failures}, runner-full ${f.failures}`);
    runner.push(r.rps);
    baseline.push(a.rps);
    full.push(f.rps);
    runnerCpu.push(r.perCpuSecond);
    baselineCpu.push(a.perCpuSecond);
    fullCpu.push(f.perCpuSecond);
    process.stdout.write(
      `round ${i + 1}: runner ${r.rps.toFixed(0)}/s (${r.perCpuSecond.toFixed(0)} per CPU-s), autocannon ${a.rps.toFixed(0)}/s (${a.perCpuSecond.toFixed(0)} per CPU-s), runner with every check ${f.rps.toFixed(0)}/s (${f.perCpuSecond.toFixed(0)} per CPU-s)\n`,
    );
  }
  const ratio = median(runner) / median(baseline);
  const cpuRatio = median(runnerCpu) / median(baselineCpu);
  process.stdout.write(
    [
      `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${hasTaskset ? 'server on CPU 0, generator on CPU 1' : 'no taskset: unpinned'}`,
      `${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s each, medians`,
      `open-model runner, throughput mode (every status and identity checked, deep field checks 1 in 16): ${median(runner).toFixed(0)} requests/s`,
      `open-model runner, every check on every answer: ${median(full).toFixed(0)} requests/s`,
      `autocannon (one core, closed model, no checks): ${median(baseline).toFixed(0)} requests/s`,
      `ratio = runner / autocannon = ${ratio.toFixed(2)} (requests/s, target >= 0.8); every check: ${(median(full) / median(baseline)).toFixed(2)}`,
      `requests per CPU-second of the generator: runner ${median(runnerCpu).toFixed(0)}, every check ${median(fullCpu).toFixed(0)}, autocannon ${median(baselineCpu).toFixed(0)}, ratio = ${cpuRatio.toFixed(2)} (every check ${(median(fullCpu) / median(baselineCpu)).toFixed(2)})`,
      `target runner / autocannon >= 0.8 (requests/s and per CPU-second): ${ratio >= 0.8 && cpuRatio >= 0.8 ? 'met' : 'NOT met'}; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')}`,
      '',
    ].join('\n'),
  );
} finally {
  child.kill('SIGTERM');
  await once(child, 'exit');
}
