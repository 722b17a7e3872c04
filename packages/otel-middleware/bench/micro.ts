/**
 * In-process micro-benchmark of the audit path alone: a node:http handler answering canned
 * Patients-app responses (captured from the mock EHR: a Patient, a 10-patient searchset, a
 * list-refresh batch-response of 5 patients × 7 entries), unwrapped vs wrapped (batched audit, spool
 * on disk, no OTel SDK, no sink), 4 requests in flight over keep-alive; prints process CPU per
 * request, per request type and for the app mix (per 5 requests: 2 searches, 2 batches, 1 read).
 * `BENCH_SRC=/path/to/src/index.ts` measures another copy of the middleware (e.g. an earlier
 * commit's, as extracted by `run.ts --compare`). Run with
 * `node --conditions=fhirwatch-source --cpu-prof bench/micro.ts` to see the audit path's profile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, type RequestListener, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRefreshBundle } from '@fhirwatch/contract';
import { startMockEhr } from '@fhirwatch/mock-ehr';
import * as current from '../src/index.ts';

const { fhirAudit, setRequestContext } = (
  process.env.BENCH_SRC === undefined ? current : await import(process.env.BENCH_SRC)
) as typeof current;

const ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 200, seed: 42 });
const id = ehr.population.patients[5]?.id as string;
const batchBody = JSON.stringify(
  listRefreshBundle(
    'STU3',
    ehr.population.patients.slice(5, 10).map((p) => p.id),
  ),
);
const canned = {
  read: Buffer.from(await (await fetch(`${ehr.url}/Patient/${id}`)).text()),
  search: Buffer.from(await (await fetch(`${ehr.url}/Patient?name:contains=a&_count=10`)).text()),
  batch: Buffer.from(
    await (
      await fetch(`${ehr.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: batchBody,
      })
    ).text(),
  ),
};
await ehr.close();

const handler: RequestListener = (req, res) => {
  setRequestContext(req, { tenantId: 't1', routedTenantId: 't1', clientId: 'c1', fhirVersion: 'STU3' });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = req.method === 'GET' ? canned.read : req.url === '/' ? canned.batch : canned.search;
    res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': body.length });
    res.end(body);
  });
};

type Kind = 'read' | 'search' | 'batch';
const APP: Kind[] = ['search', 'batch', 'read', 'search', 'batch'];

async function drive(listener: RequestListener, n: number, kinds: readonly Kind[]): Promise<number> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const one = (k: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const kind = kinds[k % kinds.length] as Kind;
      const method = kind === 'read' ? 'GET' : 'POST';
      const path = kind === 'search' ? '/Patient/_search' : kind === 'batch' ? '/' : `/Patient/${id}`;
      const body = kind === 'search' ? 'name:contains=a&_count=10' : kind === 'batch' ? batchBody : undefined;
      const req = request(
        {
          agent,
          host: '127.0.0.1',
          port,
          method,
          path,
          headers: {
            'content-type': kind === 'search' ? 'application/x-www-form-urlencoded' : 'application/fhir+json',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < n; k += 4) await Promise.all([one(k), one(k + 1), one(k + 2), one(k + 3)]);
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  server.close();
  return (cpu.user + cpu.system) / n;
}

const dir = mkdtempSync(join(tmpdir(), 'fw-micro-'));
const audit = fhirAudit({ spoolDir: dir, hmacKey: 'k', recordedBy: 'micro' });
await audit.ready();
const wrapped = audit.wrap(handler);
const N = Number(process.env.MICRO_N ?? 2000);
await drive(handler, 400, APP);
await drive(wrapped, 400, APP);
const added: Record<string, number[]> = { app: [], read: [], search: [], batch: [] };
for (let round = 0; round < 3; round++) {
  for (const [name, kinds] of [
    ['app', APP],
    ['read', ['read']],
    ['search', ['search']],
    ['batch', ['batch']],
  ] as const) {
    // Interleaved: plain and wrapped alternate, order flipped per round.
    const first = round % 2 === 0;
    const a = await drive(first ? handler : wrapped, N, kinds);
    const b = await drive(first ? wrapped : handler, N, kinds);
    const [base, cand] = first ? [a, b] : [b, a];
    added[name]?.push(cand - base);
    console.log(
      `round ${round + 1} ${name.padEnd(6)}: CPU per request plain ${base.toFixed(0)} µs, with audit ${cand.toFixed(0)} µs, audit adds ${(cand - base).toFixed(0)} µs`,
    );
  }
}
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
console.log(
  `median audit CPU added per request: ${Object.entries(added)
    .map(([k, v]) => `${k} ${med(v).toFixed(0)} µs`)
    .join(', ')}`,
);
await audit.shutdown();
rmSync(dir, { recursive: true, force: true });
