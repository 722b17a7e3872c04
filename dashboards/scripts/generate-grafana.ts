/**
 * Writes the Grafana dashboards and provisioning files generated from PANELS (src/grafana.ts).
 * `--check`: write nothing, exit 1 when a committed file differs from what would be generated.
 * Run: npm run generate -w @fhirwatch/dashboards [-- --check]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/grafana.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const file of generatedFiles()) {
  const path = join(root, file.path);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (current === file.content) continue;
  if (check) {
    process.stderr.write(`stale: dashboards/${file.path}\n`);
    stale += 1;
    continue;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, file.content);
  process.stdout.write(`wrote dashboards/${file.path}\n`);
}
if (stale > 0) {
  process.stderr.write('run: npm run generate -w @fhirwatch/dashboards\n');
  process.exitCode = 1;
}
