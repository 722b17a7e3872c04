/**
 * Classifier throughput: classifications/s for a search, a read and a 35-entry list-refresh batch,
 * each against a named baseline measured in the same process: the minimum any request handler does
 * with the same request (`new URL()` + `URLSearchParams` over every parameter; for the batch, also
 * `JSON.parse` of the body and the same URL parsing per entry).
 *
 * Fairness notes: same inputs for candidate and baseline; both warmed up, then 4 interleaved rounds
 * of ~250 ms each, best round kept per side; results are consumed so nothing is optimised away. One
 * process, one core. Run: `npm run bench` in packages/contract.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { type ClassifierRequest, classifyRequest, disclosedPatientsInBatch, listViewPatients } from '../src/index.ts';

const fixtures = new URL('../test/fixtures/stu3/', import.meta.url);
const batchBody = readFileSync(new URL('batch-list-refresh.json', fixtures), 'utf8');
const batchResponse = readFileSync(new URL('batch-list-refresh-response.json', fixtures), 'utf8');

let sink = 0;

function baselineUrl(path: string): void {
  const url = new URL(path, 'http://127.0.0.1');
  for (const [name, value] of url.searchParams) sink += name.length + value.length;
  sink += url.pathname.length;
}

/** Operations per second over one timed round of ~250 ms. */
function round(fn: () => void): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < 250) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    elapsed = performance.now() - start;
  }
  return (n * 1000) / elapsed;
}

/**
 * Best-of-4 rounds for candidate and baseline, interleaved (B, C, B, C …) so that a change in machine
 * load during the run hits both sides alike; the best round is the least disturbed one.
 */
function compare(candidate: () => void, baseline: () => void): { candidate: number; baseline: number } {
  for (let i = 0; i < 2_000; i++) {
    baseline();
    candidate();
  }
  let b = 0;
  let c = 0;
  for (let r = 0; r < 4; r++) {
    b = Math.max(b, round(baseline));
    c = Math.max(c, round(candidate));
  }
  return { candidate: c, baseline: b };
}

interface Scenario {
  name: string;
  candidate: () => void;
  baselineName: string;
  baseline: () => void;
}

const searchReq: ClassifierRequest = {
  method: 'GET',
  path: '/Observation?patient=pat-1001&category=vital-signs&_sort=-date&_count=50',
  headers: { host: '127.0.0.1', accept: 'application/fhir+json', authorization: 'Bearer x' },
  fhirVersion: 'STU3',
};
const readReq: ClassifierRequest = {
  method: 'GET',
  path: '/Patient/pat-1001',
  headers: { host: '127.0.0.1', accept: 'application/fhir+json', authorization: 'Bearer x' },
  fhirVersion: 'STU3',
};
const batchReq: ClassifierRequest = { method: 'POST', path: '/', body: batchBody, fhirVersion: 'STU3' };
const batchUrls = (JSON.parse(batchBody) as { entry: { request: { url: string } }[] }).entry.map((e) => e.request.url);
const batchClassification = classifyRequest(batchReq);

const scenarios: Scenario[] = [
  {
    name: 'search  GET /Observation?patient&category&_sort&_count',
    candidate: () => {
      sink += classifyRequest(searchReq).interactions.length;
    },
    baselineName: 'new URL + URLSearchParams',
    baseline: () => baselineUrl(searchReq.path),
  },
  {
    name: 'read    GET /Patient/{id}',
    candidate: () => {
      sink += classifyRequest(readReq).interactions.length;
    },
    baselineName: 'new URL + URLSearchParams',
    baseline: () => baselineUrl(readReq.path),
  },
  {
    name: 'batch   POST / (35 entries, JSON text)',
    candidate: () => {
      sink += classifyRequest(batchReq).interactions.length;
    },
    baselineName: 'JSON.parse + new URL + URLSearchParams per entry',
    baseline: () => {
      const parsed = JSON.parse(batchBody) as { entry: { request: { url: string } }[] };
      for (const e of parsed.entry) baselineUrl('/' + e.request.url);
    },
  },
  {
    name: 'disclose batch-response (35 entries) + listViewPatients',
    candidate: () => {
      const d = disclosedPatientsInBatch(batchClassification, batchResponse);
      sink += listViewPatients(batchClassification, d).length;
    },
    baselineName: 'JSON.parse of the response',
    baseline: () => {
      sink += (JSON.parse(batchResponse) as { entry: unknown[] }).entry.length;
    },
  },
];

const cpu = cpus()[0];
console.log(`node ${process.version}  cpu ${cpu?.model ?? 'unknown'} (${cpus().length} logical)`);
console.log(`batch entries: ${batchUrls.length}`);
for (const s of scenarios) {
  const { candidate, baseline } = compare(s.candidate, s.baseline);
  console.log(
    `${s.name.padEnd(58)} ${Math.round(candidate).toLocaleString('en-US').padStart(11)} /s   ` +
      `baseline (${s.baselineName}) ${Math.round(baseline).toLocaleString('en-US')} /s   ` +
      `ratio = ${(candidate / baseline).toFixed(2)}`,
  );
}
if (sink === 42) console.log('');
