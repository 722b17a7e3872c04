/**
 * Prints one repo-wide closing line, `Tests: N passed, N failed, N skipped`, from the JSON results
 * that every package's vitest run wrote (see vitest.shared.ts). Exits 1 when any test failed, any test
 * was skipped or left todo (a missing tool fails its test with the fix; nothing skips in silence), or a
 * package with tests wrote no result.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  success: boolean;
}

let passed = 0;
let failed = 0;
let skipped = 0;
let missing = 0;
const workspaces = [...readdirSync('packages').map((dir) => join('packages', dir)), 'loadtests', 'dashboards'];
for (const pkg of workspaces) {
  if (!existsSync(join(pkg, 'package.json'))) continue;
  const scripts = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { scripts?: Record<string, string> })
    .scripts;
  if (!scripts?.test) continue;
  const file = join(pkg, '.vitest-result.json');
  if (!existsSync(file)) {
    process.stderr.write(`test-summary: ${pkg} wrote no test result\n`);
    missing++;
    continue;
  }
  const result = JSON.parse(readFileSync(file, 'utf8')) as VitestJson;
  passed += result.numPassedTests;
  failed += result.numFailedTests;
  const pkgSkipped = result.numPendingTests + result.numTodoTests;
  skipped += pkgSkipped;
  process.stdout.write(
    `  ${pkg}: ${result.numPassedTests} passed, ${result.numFailedTests} failed` +
      (pkgSkipped > 0 ? `, ${pkgSkipped} skipped (not allowed)` : '') +
      '\n',
  );
}
process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed > 0 || skipped > 0 || missing > 0 || passed === 0 ? 1 : 0;
