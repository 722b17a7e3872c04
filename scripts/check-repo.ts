/**
 * `npm test`'s first step: fails on merge-conflict markers in tracked files and on repository paths cited in
 * Markdown or source comments that do not exist (rules: packages/testkit/src/repo-check.ts).
 */
import { fileURLToPath } from 'node:url';
import { checkRepo, formatFindings } from '@fhirwatch/testkit/repo-check';

const root = fileURLToPath(new URL('..', import.meta.url));
const findings = checkRepo(root);
if (findings.length > 0) {
  process.stderr.write(`${formatFindings(findings, root)}\ncheck-repo: ${findings.length} problem(s)\n`);
  process.exitCode = 1;
} else {
  process.stdout.write('check-repo: no conflict markers, every cited repository path exists\n');
}
