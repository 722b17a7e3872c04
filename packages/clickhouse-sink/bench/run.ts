/**
 * `npm run bench`: each scenario in its own fresh process (chDB binds one store per process):
 * bench/writer.ts (a: audit ingest ratio), bench/ingest-parts.ts (a2: what each part of the storage costs at ingest), bench/queries.ts (b: compliance queries), bench/verify.ts (c: audit
 * verify, 10 M events), bench/ingest-under-query.ts (d: POST /v1/audit latency while the query API serves a heavy
 * access report); BENCH_SCENARIOS=verify.ts (comma-separated) runs a subset.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const scenarios = (
  process.env.BENCH_SCENARIOS ?? 'writer.ts,ingest-parts.ts,queries.ts,verify.ts,ingest-under-query.ts'
).split(',');
let failed = false;
for (const scenario of scenarios) {
  const file = fileURLToPath(new URL(`./${scenario}`, import.meta.url));
  if (!existsSync(file)) {
    process.stdout.write(`bench/${scenario}: not present, skipped\n`);
    continue;
  }
  process.stdout.write(`\n== bench/${scenario}\n`);
  const result = spawnSync(process.execPath, ['--conditions=fhirwatch-source', file], { stdio: 'inherit' });
  if (result.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
