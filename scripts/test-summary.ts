/**
 * Prints one repo-wide closing line, `Tests: N passed, N failed, N skipped`, from the JSON results
 * that every package's vitest run wrote (see vitest.shared.ts). Exits 1 when any test failed, any test
 * was skipped or left todo (a missing tool fails its test with the fix; nothing skips in silence), or a
 * package with tests wrote no result.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface VitestJson {
  testResults?: {
    name: string;
    status: string;
    message?: string;
    assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
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
const failures: string[] = [];
/** The first lines of a failure, so that the tail of a CI log names what broke without scrolling back. */
const firstLines = (text: string): string =>
  text
    .split('\n')
    .slice(0, 6)
    .map((line) => `      ${line}`)
    .join('\n');
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
  for (const file of result.testResults ?? []) {
    const where = file.name.slice(Math.max(file.name.indexOf(pkg), 0));
    const failedTests = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failedTests) {
      failures.push(`  ${where} > ${test.fullName}\n${firstLines((test.failureMessages ?? []).join('\n'))}`);
    }
    if (failedTests.length === 0 && file.status === 'failed') {
      failures.push(`  ${where} (the file failed outside a test)\n${firstLines(file.message ?? '')}`);
    }
  }
  process.stdout.write(
    `  ${pkg}: ${result.numPassedTests} passed, ${result.numFailedTests} failed` +
      (pkgSkipped > 0 ? `, ${pkgSkipped} skipped (not allowed)` : '') +
      '\n',
  );
}
if (failures.length > 0) process.stdout.write(`\nFailed:\n${failures.join('\n')}\n`);
process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed > 0 || skipped > 0 || missing > 0 || passed === 0 ? 1 : 0;
