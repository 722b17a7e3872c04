/**
 * `POST /token` throughput with the verification cache versus without it (every request runs scrypt,
 * N=2^15 r=8), in one run: repeated client-credentials requests with the same right secret.
 *
 *   npm run bench:token                              (defaults below)
 *   npm run bench:token -- --seconds 2 --rounds 3 --concurrency 8
 *
 * Fairness: each gateway runs in its own process (defaults otherwise: scrypt concurrency min(4, cores));
 * this process only sends requests (undici Pool, closed loop, keep-alive). Rounds alternate the order
 * (C U, U C, …); the ratio is the median of per-round cached/uncached. Every answer must be 200 with
 * an access token, else the run fails. Latencies are closed-loop (concurrency 8 queues behind scrypt
 * without the cache): they show the queueing, not an SLO verdict (that needs an open-model k6 run).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const serversScript = fileURLToPath(new URL('./servers.ts', import.meta.url));

interface Started {
  child: ChildProcess;
  info: Record<string, string>;
  dataDir: string;
}

async function start(mode: 'cache' | 'no-cache'): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), `fw-gateway-token-bench-${mode}-`));
  const child = spawn(
    process.execPath,
    ['--conditions=fhirwatch-source', serversScript, 'token-gateway', dataDir, mode],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`token-gateway exited with ${code}`)));
  });
  return { child, info: JSON.parse(line) as Record<string, string>, dataDir };
}

function stop(server: Started): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      rmSync(server.dataDir, { recursive: true, force: true });
      resolve();
    };
    if (server.child.exitCode !== null) return done();
    server.child.once('exit', done);
    server.child.kill('SIGTERM');
  });
}

/** CPU seconds (user + system) a process has used so far (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

interface Result {
  rate: number;
  cpuMs: number;
  /** Latencies of the round, ms. */
  latencies: number[];
}

/** Closed-loop token requests for `ms`: tokens per second, CPU ms per token of the gateway, latencies. */
async function load(server: Started, ms: number): Promise<Result> {
  const url = new URL(server.info.url as string);
  const pool = new Pool(url.origin, { connections: concurrency, pipelining: 1 });
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: server.info.clientId as string,
    client_secret: server.info.clientSecret as string,
    scope: `tenant:${server.info.tenant}`,
  }).toString();
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  let done = 0;
  const latencies: number[] = [];
  const end = performance.now() + ms;
  const cpuBefore = cpuSeconds(server.child.pid);
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const sent = performance.now();
      const res = await pool.request({ origin: url.origin, path: '/token', method: 'POST', headers, body });
      const json = (await res.body.json()) as { access_token?: string };
      if (res.statusCode !== 200 || typeof json.access_token !== 'string') throw new Error(`status ${res.statusCode}`);
      latencies.push(performance.now() - sent);
      done += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - started;
  const cpu = cpuSeconds(server.child.pid) - cpuBefore;
  await pool.close();
  return { rate: (done / elapsed) * 1000, cpuMs: done === 0 ? 0 : (cpu * 1000) / done, latencies };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};
const latency = (results: Result[]): string => {
  const all = results.flatMap((r) => r.latencies);
  return `p50 ${quantile(all, 0.5).toFixed(1)} ms, p95 ${quantile(all, 0.95).toFixed(1)} ms`;
};

const cached = await start('cache');
const uncached = await start('no-cache');
try {
  // Warm-up (JIT, connections; fills the cache), not measured.
  await load(cached, 500);
  await load(uncached, 500);
  const ratios: number[] = [];
  const c: Result[] = [];
  const u: Result[] = [];
  for (let round = 0; round < rounds; round += 1) {
    let rc: Result;
    let ru: Result;
    if (round % 2 === 0) {
      rc = await load(cached, seconds * 1000);
      ru = await load(uncached, seconds * 1000);
    } else {
      ru = await load(uncached, seconds * 1000);
      rc = await load(cached, seconds * 1000);
    }
    c.push(rc);
    u.push(ru);
    ratios.push(rc.rate / ru.rate);
    process.stdout.write(
      `round ${round + 1}: cache ${rc.rate.toFixed(1)} tokens/s (${rc.cpuMs.toFixed(2)} cpu ms/token), ` +
        `no cache ${ru.rate.toFixed(1)} tokens/s (${ru.cpuMs.toFixed(2)} cpu ms/token), ratio ${(rc.rate / ru.rate).toFixed(1)}\n`,
    );
  }
  process.stdout.write(
    [
      `POST /token, same client and right secret, concurrency ${concurrency}, ${rounds} × ${seconds} s each`,
      `cache    median ${median(c.map((r) => r.rate)).toFixed(1)} tokens/s, ${median(c.map((r) => r.cpuMs)).toFixed(2)} cpu ms/token, ${latency(c)}`,
      `no cache median ${median(u.map((r) => r.rate)).toFixed(1)} tokens/s, ${median(u.map((r) => r.cpuMs)).toFixed(2)} cpu ms/token, ${latency(u)}`,
      `ratio = cache / no cache = ${median(ratios).toFixed(1)} (median of per-round ratios)`,
      `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} × ${cpus().length}`,
      '',
    ].join('\n'),
  );
} finally {
  await stop(cached);
  await stop(uncached);
}
