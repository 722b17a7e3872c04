/**
 * In-process micro-benchmark of the audit path alone: a node:http handler answering canned
 * Patients-app responses (captured from the mock EHR: a Patient, a 10-patient searchset, a
 * list-refresh batch-response), unwrapped vs wrapped (batched audit, spool on disk, no OTel SDK, no
 * sink), driven sequentially over keep-alive; prints process CPU per request. Run with
 * `node --conditions=fhirwatch-source --cpu-prof bench/micro.ts` to see the audit path's profile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, type RequestListener, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockEhr } from '@fhirwatch/mock-ehr';
import { fhirAudit, setRequestContext } from '../src/index.ts';

const ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 200, seed: 42 });
const id = ehr.population.patients[5]?.id as string;
const batchBody = JSON.stringify({
  resourceType: 'Bundle',
  type: 'batch',
  entry: [
    `Patient/${id}`,
    `Observation?patient=${id}&category=vital-signs&_sort=-date&_count=10`,
    `Condition?patient=${id}&_count=10`,
    `Encounter?patient=${id}&_sort=-date&_count=1`,
    `AllergyIntolerance?patient=${id}`,
    `MedicationRequest?patient=${id}&_count=10`,
    `Coverage?patient=${id}`,
  ].map((u) => ({ request: { method: 'GET', url: u } })),
});
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

async function drive(listener: RequestListener, n: number): Promise<number> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const one = (k: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const slot = k % 4;
      const method = slot === 1 || slot === 3 ? 'POST' : 'GET';
      const path = slot === 1 ? '/Patient/_search' : slot === 3 ? '/' : `/Patient/${id}`;
      const body = slot === 1 ? 'name:contains=a&_count=10' : slot === 3 ? batchBody : undefined;
      const req = request(
        {
          agent,
          host: '127.0.0.1',
          port,
          method,
          path,
          headers: { 'content-type': slot === 1 ? 'application/x-www-form-urlencoded' : 'application/fhir+json' },
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
const N = 4000;
await drive(handler, 800);
await drive(wrapped, 800);
for (let round = 0; round < 3; round++) {
  const base = await drive(handler, N);
  const cand = await drive(wrapped, N);
  console.log(
    `round ${round + 1}: process CPU per request: plain ${base.toFixed(0)} µs, with audit ${cand.toFixed(0)} µs, audit adds ${(cand - base).toFixed(0)} µs`,
  );
}
await audit.shutdown();
rmSync(dir, { recursive: true, force: true });
