/**
 * CPU of the disclosure step per response body: `JSON.parse` (what the middleware once did) vs
 * `projectBody` (test/baseline-json-scan.ts, the scanner before src/stream-scan.ts) vs the stream scanner, at each
 * detail, on bodies captured from the mock EHR (a 10-patient searchset and a 5-patient × 7-entry list-refresh
 * batch-response, 226 KB). With `BENCH_SRC=<path to another copy of src/index.ts>` (e.g. `.tmp/src-<commit>/index.ts`,
 * as `bench/run.ts --compare <commit>` extracts it) that copy's scanner runs too, interleaved with the current one:
 * the minimum of 12 alternations each, and the ratio now / then (the machine is shared: minima of interleaved runs
 * are the figure least disturbed by other load).
 * Run: node --conditions=fhirwatch-source bench/json-scan.ts
 */
import { loadavg } from 'node:os';
import { listRefreshBundle } from '@fhirwatch/contract';
import { startMockEhr } from '@fhirwatch/mock-ehr';
import type * as Current from '../src/index.ts';
import { type ResourceDetail, scanBody } from '../src/stream-scan.ts';
import { projectBody } from '../test/baseline-json-scan.ts';

const other =
  process.env.BENCH_SRC === undefined ? undefined : ((await import(process.env.BENCH_SRC)) as typeof Current).scanBody;

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
const searchBytes = Buffer.from(search);
const batchBytes = Buffer.from(batch);

/** CPU µs per call: the minimum over `rounds` runs of `n` calls. */
function time(fn: () => unknown, n: number, rounds = 1): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const c = process.cpuUsage(t0);
    best = Math.min(best, (c.user + c.system) / n);
  }
  return best;
}
console.log(
  `search body ${searchBytes.length} bytes, batch body ${batchBytes.length} bytes; load ${loadavg()[0]?.toFixed(2)}`,
);
for (let i = 0; i < 50; i++) {
  scanBody(batchBytes, true, () => 'types');
  other?.(batchBytes, true, () => 'types');
}
const line = (label: string, us: number): void => console.log(`${label.padEnd(52)} ${us.toFixed(1).padStart(8)} µs`);
line(
  'search: JSON.parse',
  time(() => JSON.parse(search), 600, 5),
);
line(
  'search: projectBody patients (old, + utf8 decode)',
  time(() => projectBody(search, false, () => 'patients'), 600, 5),
);
line(
  'batch: JSON.parse',
  time(() => JSON.parse(batch), 60, 5),
);
line(
  'batch: projectBody types (old, + utf8 decode)',
  time(() => projectBody(batch, true, () => 'types'), 60, 5),
);

const cases: [string, Buffer, boolean, () => ResourceDetail | undefined, number][] = [
  ['search: stream scan patients', searchBytes, false, () => 'patients', 400],
  ['batch: stream scan types (what a list refresh needs)', batchBytes, true, () => 'types', 40],
  ['batch: stream scan statuses only', batchBytes, true, () => undefined, 40],
  ['batch: stream scan patients', batchBytes, true, () => 'patients', 30],
];
for (const [label, body, isBatch, detail, n] of cases) {
  let now = Number.POSITIVE_INFINITY;
  let then = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 12; r++) {
    now = Math.min(
      now,
      time(() => scanBody(body, isBatch, detail), n),
    );
    if (other !== undefined)
      then = Math.min(
        then,
        time(() => other(body, isBatch, detail), n),
      );
  }
  console.log(
    `${label.padEnd(52)} ${now.toFixed(1).padStart(8)} µs${other === undefined ? '' : `   BENCH_SRC ${then.toFixed(1).padStart(8)} µs   now / then ${(now / then).toFixed(2)}`}`,
  );
}
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}`,
);
