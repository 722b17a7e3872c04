/**
 * CPU of the disclosure step per response body: `JSON.parse` (what the middleware did) vs
 * `projectBody` (test/baseline-json-scan.ts, the scanner before src/stream-scan.ts) at each detail, on bodies captured from the mock EHR
 * (a 10-patient searchset and a 5-patient × 7-entry list-refresh batch-response).
 * Run: node --conditions=fhirwatch-source bench/json-scan.ts
 */
import { listRefreshBundle } from '@fhirwatch/contract';
import { startMockEhr } from '@fhirwatch/mock-ehr';
import { scanBody } from '../src/stream-scan.ts';
import { projectBody } from '../test/baseline-json-scan.ts';

const ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 200, seed: 42 });
const ids = ehr.population.patients.slice(0, 5).map((p) => p.id);
const search = await (await fetch(`${ehr.url}/Patient?name:contains=a&_count=10`)).text();
const batch = await (
  await fetch(`${ehr.url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify(listRefreshBundle('STU3', ids)),
  })
).text();
await ehr.close();
const searchBytes = Buffer.from(search, 'latin1');
const batchBytes = Buffer.from(batch, 'latin1');

function time(label: string, fn: () => unknown, n: number): void {
  for (let i = 0; i < n / 10; i++) fn();
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const c = process.cpuUsage(t0);
  console.log(`${label.padEnd(44)} ${((c.user + c.system) / n).toFixed(1)} µs`);
}
console.log(`search body ${search.length} chars, batch body ${batch.length} chars`);
for (let round = 0; round < 3; round++) {
  time('search: JSON.parse', () => JSON.parse(search), 3000);
  time(
    'search: projectBody patients (old, + utf8 decode)',
    () => projectBody(searchBytes.toString('utf8'), false, () => 'patients'),
    3000,
  );
  time('search: stream scan patients', () => scanBody(searchBytes, false, () => 'patients'), 3000);
  time('batch: JSON.parse', () => JSON.parse(batch), 500);
  time(
    'batch: projectBody types (old, + utf8 decode)',
    () => projectBody(batchBytes.toString('utf8'), true, () => 'types'),
    500,
  );
  time('batch: stream scan types', () => scanBody(batchBytes, true, () => 'types'), 500);
  time(
    'batch: projectBody statuses only (old)',
    () => projectBody(batchBytes.toString('utf8'), true, () => undefined),
    500,
  );
  time('batch: stream scan statuses only', () => scanBody(batchBytes, true, () => undefined), 500);
}
