/**
 * Bench target, run in its own process (pinned to one core by run.ts). Prints one JSON line:
 * `{ "url": …, "readPaths": […], "batchBodies": […], "readBytes": n, "batchBytes": n }` for the mock EHR,
 * `{ "url": … }` for the baseline.
 *
 * Each line on stdin is answered on stdout with the process's CPU time so far (`{"cpuUs": n}`), so
 * run.ts can compute requests per CPU-second, a figure that holds on a machine shared with other load.
 *
 * argv[2] = 'mock' | 'baseline'. The baseline is a bare node:http server that answers every request
 * with a precomputed buffer of a given size (argv[3] bytes for GET, argv[4] for POST, after reading
 * the body): the floor cost of HTTP on this machine for a response of the same size.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMockEhr } from '../src/index.ts';

const mode = process.argv[2];

let pending = '';
process.stdin.on('data', (chunk: Buffer) => {
  pending += chunk.toString();
  while (pending.includes('\n')) {
    pending = pending.slice(pending.indexOf('\n') + 1);
    const { user, system } = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuUs: user + system })}\n`);
  }
});

if (mode === 'baseline') {
  const getBody = Buffer.alloc(Number(process.argv[3]), 'x');
  const postBody = Buffer.alloc(Number(process.argv[4]), 'y');
  const headers = (length: number) => ({
    'content-type': 'application/fhir+json;charset=utf-8',
    'content-length': length,
  });
  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      req.on('data', () => {});
      req.on('end', () => {
        res.writeHead(200, headers(postBody.length));
        res.end(postBody);
      });
      return;
    }
    res.writeHead(200, headers(getBody.length));
    res.end(getBody);
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  });
} else {
  const ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 1000, seed: 42 });
  const ids = ehr.population.patients.map((p) => p.id);
  const readPaths = ids.map((id) => `/Patient/${id}`);
  // The Patients app's list refresh: 5 patients × 7 entries.
  const batchBodies: string[] = [];
  for (let b = 0; b < 50; b++) {
    const entry = ids
      .slice(b * 5, b * 5 + 5)
      .flatMap((id) =>
        [
          `Patient/${id}`,
          `Observation?patient=${id}&category=vital-signs&_sort=-date&_count=7`,
          `Condition?patient=${id}&_count=10`,
          `Encounter?patient=${id}&_sort:desc=date&_count=1`,
          `AllergyIntolerance?patient=${id}`,
          `MedicationRequest?patient=${id}&_count=10`,
          `Coverage?patient=${id}`,
        ].map((url) => ({ request: { method: 'GET', url } })),
      );
    batchBodies.push(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }));
  }
  // Typical response sizes, so the baseline answers with the same number of bytes.
  const read = await fetch(`${ehr.url}${readPaths[0]}`);
  const readBytes = (await read.arrayBuffer()).byteLength;
  const batch = await fetch(`${ehr.url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: batchBodies[0],
  });
  const batchBytes = (await batch.arrayBuffer()).byteLength;
  process.stdout.write(`${JSON.stringify({ url: ehr.url, readPaths, batchBodies, readBytes, batchBytes })}\n`);
}
