/**
 * Gateway overhead: list-refresh batches per second through gateway → mock EHR versus straight to the
 * same mock EHR, in one run. Target (../../shared/spec/slo.md): ratio ≥ 0.85.
 *
 *   npm run bench                                   (defaults below)
 *   npm run bench -- --seconds 2 --rounds 7 --concurrency 16 --patients 5 --version STU3
 *
 * Fairness: the mock EHR and the gateway each run in their own process; this process only generates
 * load (undici Pool, closed loop, fixed concurrency, keep-alive). Direct and gateway runs alternate
 * (D G, G D, D G …) so drift on a shared machine hits both; the ratio is the median over rounds of
 * gateway/direct measured back to back. Every answer is checked (200 and a batch-response with
 * all entries 200); a failed check fails the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FhirVersion } from '@fhirwatch/contract';
import { listRefreshBundle } from '@fhirwatch/contract';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '7' },
    concurrency: { type: 'string', default: '16' },
    patients: { type: 'string', default: '5' },
    version: { type: 'string', default: 'STU3' },
    population: { type: 'string', default: '1000' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const perBatch = Number(values.patients);
const version = values.version as FhirVersion;
const serversScript = fileURLToPath(new URL('./servers.ts', import.meta.url));

interface Started {
  child: ChildProcess;
  info: Record<string, string>;
}

async function startServer(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--conditions=fhirwatch-source', serversScript, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
  return { child, info: JSON.parse(line) as Record<string, string> };
}

function stopServer(server: Started): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null) return resolve();
    server.child.once('exit', () => resolve());
    server.child.kill('SIGTERM');
  });
}

/** Closed-loop load for `ms`: returns completed batches per second. */
async function load(baseUrl: string, headers: Record<string, string>, bodies: string[], ms: number): Promise<number> {
  const url = new URL(baseUrl);
  const pool = new Pool(url.origin, { connections: concurrency, pipelining: 1 });
  const path = url.pathname === '/' ? '/' : url.pathname;
  let done = 0;
  let next = 0;
  const end = performance.now() + ms;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const body = bodies[next++ % bodies.length] as string;
      const res = await pool.request({ origin: url.origin, path, method: 'POST', headers, body });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      const bundle = JSON.parse(text) as { type: string; entry: { response: { status: string } }[] };
      if (bundle.type !== 'batch-response' || bundle.entry.length !== perBatch * 7)
        throw new Error('bad batch-response');
      if (!bundle.entry.every((e) => e.response.status.startsWith('200'))) throw new Error('failed batch entry');
      done += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - started;
  await pool.close();
  return (done / elapsed) * 1000;
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const dataDir = mkdtempSync(join(tmpdir(), 'fw-gateway-bench-'));
const mock = await startServer(['mock-ehr', version, values.population as string]);
const gateway = await startServer(['gateway', mock.info.url as string, version, dataDir]);
try {
  const tokenResponse = await fetch(`${gateway.info.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: gateway.info.clientId as string,
      client_secret: gateway.info.clientSecret as string,
      scope: `tenant:${gateway.info.tenant}`,
    }),
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };

  // Patient ids from the provider itself; 20 different batches, cycled.
  const search = (await (await fetch(`${mock.info.url}/Patient?_count=100`)).json()) as {
    entry: { resource: { id: string } }[];
  };
  const ids = search.entry.map((e) => e.resource.id);
  const bodies = Array.from({ length: 20 }, (_, i) =>
    JSON.stringify(
      listRefreshBundle(version, ids.slice((i * perBatch) % ids.length, ((i * perBatch) % ids.length) + perBatch)),
    ),
  );
  const type = version === 'DSTU2' ? 'application/json+fhir' : 'application/fhir+json';
  const directHeaders = { 'content-type': type, accept: type };
  const gatewayHeaders = { ...directHeaders, authorization: `Bearer ${token}` };

  // Warm-up (JIT, connection pools, token cache), not measured.
  await load(mock.info.url as string, directHeaders, bodies, 1000);
  await load(gateway.info.url as string, gatewayHeaders, bodies, 1000);

  const direct: number[] = [];
  const through: number[] = [];
  const ratios: number[] = [];
  const cpuNotes: string[] = [];
  const mockCpuPerBatch: number[] = [];
  const gatewayCpuPerBatch: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    // Order alternates (D G, G D, …) so a drift in machine load does not favour one side.
    const directRound = async (): Promise<{ rate: number; mockCpu: number }> => {
      const before = cpuSeconds(mock.child.pid);
      const rate = await load(mock.info.url as string, directHeaders, bodies, seconds * 1000);
      return { rate, mockCpu: cpuSeconds(mock.child.pid) - before };
    };
    const gatewayRound = async (): Promise<{ rate: number; mockCpu: number; gatewayCpu: number }> => {
      const mockBefore = cpuSeconds(mock.child.pid);
      const gatewayBefore = cpuSeconds(gateway.child.pid);
      const rate = await load(gateway.info.url as string, gatewayHeaders, bodies, seconds * 1000);
      return {
        rate,
        mockCpu: cpuSeconds(mock.child.pid) - mockBefore,
        gatewayCpu: cpuSeconds(gateway.child.pid) - gatewayBefore,
      };
    };
    let directResult: Awaited<ReturnType<typeof directRound>>;
    let gatewayResult: Awaited<ReturnType<typeof gatewayRound>>;
    if (round % 2 === 0) {
      directResult = await directRound();
      gatewayResult = await gatewayRound();
    } else {
      gatewayResult = await gatewayRound();
      directResult = await directRound();
    }
    const d = directResult.rate;
    const g = gatewayResult.rate;
    // Where the time goes: CPU ms per batch of each process (the bench machine is shared).
    mockCpuPerBatch.push((directResult.mockCpu * 1000) / (d * seconds));
    gatewayCpuPerBatch.push((gatewayResult.gatewayCpu * 1000) / (g * seconds));
    cpuNotes.push(
      `  cpu ms/batch: direct round mock ${((directResult.mockCpu * 1000) / (d * seconds)).toFixed(2)}; ` +
        `gateway round mock ${((gatewayResult.mockCpu * 1000) / (g * seconds)).toFixed(2)}, ` +
        `gateway ${((gatewayResult.gatewayCpu * 1000) / (g * seconds)).toFixed(2)}`,
    );
    direct.push(d);
    through.push(g);
    ratios.push(g / d);
    process.stdout.write(
      `round ${round + 1}: direct ${d.toFixed(1)} batches/s, gateway ${g.toFixed(1)} batches/s, ratio ${(g / d).toFixed(3)}\n${cpuNotes[cpuNotes.length - 1]}\n`,
    );
  }
  process.stdout.write(
    [
      `list-refresh batches (${perBatch} patients × 7 entries, ${version}), concurrency ${concurrency}, ${rounds} × ${seconds} s each`,
      `direct  (mock EHR)           median ${median(direct).toFixed(1)} batches/s`,
      `gateway (gateway → mock EHR) median ${median(through).toFixed(1)} batches/s`,
      `ratio = gateway / direct = ${median(ratios).toFixed(3)} (median of per-round ratios; target ≥ 0.85)`,
      `cpu ms/batch (median): mock EHR ${median(mockCpuPerBatch).toFixed(2)}, gateway ${median(gatewayCpuPerBatch).toFixed(2)}` +
        ' (with a core per process the gateway caps throughput only when its figure exceeds the mock EHR one)',
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
      '',
    ].join('\n'),
  );
} finally {
  await stopServer(gateway);
  await stopServer(mock);
  rmSync(dataDir, { recursive: true, force: true });
}
