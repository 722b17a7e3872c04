/**
 * `npm run bench`: each scenario in its own fresh process (chDB binds one store per process):
 * bench/writer.ts (a: audit ingest ratio), then bench/queries.ts (b: compliance queries) when present, then
 * bench/ingest-under-query.ts (c: POST /v1/audit latency while the query API serves a heavy access report).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const scenarios = ['writer.ts', 'queries.ts', 'ingest-under-query.ts'];
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
