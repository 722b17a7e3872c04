/**
 * The repository check (src/repo-check.ts) on a real git repository made here: it reports exactly the conflict
 * markers and the dead cited paths planted, and none of the look-alikes (URLs, npm scopes, command examples,
 * patterns, git-ignored run output, paths outside the repository).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRepo, conflictMarkers, sourceComments } from '../src/repo-check.ts';

const root = mkdtempSync(join(tmpdir(), 'fw-repo-check-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const [open, middle, close] = ['<'.repeat(7), '='.repeat(7), '>'.repeat(7)];

function repo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(root, 'r-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  execFileSync('git', ['init', '-q'], { cwd: dir });
  execFileSync('git', ['add', '-A'], { cwd: dir });
  return dir;
}

describe('conflict markers', () => {
  it('finds the three marker lines of a conflict, with their line numbers', () => {
    const text = `a\n${open} HEAD\nours\n${middle}\ntheirs\n${close} branch\nb\n`;
    expect(conflictMarkers('f.md', text).map((f) => f.line)).toEqual([2, 4, 6]);
  });

  it('leaves a Markdown setext underline and longer rules alone', () => {
    expect(conflictMarkers('f.md', `Title\n${middle}\n\n${'='.repeat(8)}\n<<<< not one\n`)).toEqual([]);
  });
});

describe('source comments', () => {
  it('finds line and block comments, not comment-looking text in strings, templates or regex literals', () => {
    const source = [
      "const accept = '*/*'; // one",
      'const re = /[\'"]//x/g; /* two */',
      'const t = `a // b /* c */`;',
      'const s = \'/* not */\' + "// not";',
      'const q = a / b; // three',
    ].join('\n');
    expect(sourceComments(source).map((c) => c.text)).toEqual(['// one', '/* two */', '// three']);
  });
});

describe('checkRepo', () => {
  const files: Record<string, string> = {
    '.gitignore': 'packages/web/test/artifacts/\n',
    'README.md': [
      'See [the web package](packages/web/README.md) and [a gone page](docs/gone.md).',
      'Run `scripts/test.sh`; the old `scripts/setup.sh` is gone.',
      'Docs live in notes/wire.md (missing) and https://example.com/packages/nothing/here (a URL).',
      'Import `@fhirwatch/contract/src/x.ts` (an npm scope), run `fhirwatch sink --store ./data/x`.',
      'Design: [architecture](../shared/spec/ARCHITECTURE.md) (outside the repository).',
      '- `cd packages/web && npx vitest run test/app.test.ts` and test/missing.test.ts from there.',
      'The web package (web) keeps its tests in',
      'test/app.test.ts; the api package (api) has none: test/api.test.ts.',
    ].join('\n'),
    'scripts/test.sh': '#!/usr/bin/env bash\n# ends with scripts/test-summary.ts\necho "#not/a/comment"\n',
    'scripts/test-summary.ts': '// the summary\n',
    'packages/web/README.md': 'Sources: src/app.ts, src/gone.ts, golden files `test/golden/schema.{a,b}.sql`.\n',
    'packages/web/src/app.ts': [
      '/**',
      ' * Serves public/index.html (see packages/web/README.md); the old packages/web/src/old.ts moved.',
      ' * Screenshots land in test/artifacts/ (git-ignored). A command: src/commands/<name>.ts.',
      ' */',
      "const url = 'http://127.0.0.1/packages/none'; // packages/web/src/app.ts is this file",
      "export const path = 'packages/not/checked/in/a/string.ts';",
    ].join('\n'),
    'packages/web/public/index.html': '<html></html>\n',
    'packages/web/src/commands/a.ts': '// a command\n',
    'packages/web/test/app.test.ts': '// a test\n',
    'packages/web/test/golden/schema.a.sql': 'SELECT 1;\n',
    'packages/web/notes.md': `A note\n${open} HEAD\nx\n${middle}\ny\n${close} other\n`,
  };

  it('reports each planted problem once, and nothing else', () => {
    const findings = checkRepo(repo(files)).map((f) => `${f.file}:${f.line}: ${f.message}`);
    expect(findings.sort()).toEqual(
      [
        'README.md:1: cites docs/gone.md, which does not exist in the repository',
        'README.md:2: cites scripts/setup.sh, which does not exist in the repository',
        'README.md:3: cites notes/wire.md, which does not exist in the repository',
        'README.md:6: cites packages/web/test/missing.test.ts, which does not exist in the repository',
        'README.md:8: cites packages/web/test/api.test.ts, which does not exist in the repository',
        'packages/web/README.md:1: cites packages/web/src/gone.ts, which does not exist in the repository',
        'packages/web/notes.md:2: merge-conflict marker: <<<<<<< HEAD',
        'packages/web/notes.md:4: merge-conflict marker: =======',
        'packages/web/notes.md:6: merge-conflict marker: >>>>>>> other',
        'packages/web/src/app.ts:2: cites packages/web/src/old.ts, which does not exist in the repository',
      ].sort(),
    );
  });

  it('passes a repository without problems', () => {
    expect(
      checkRepo(
        repo({
          'README.md': 'See [web](packages/web/README.md).\n',
          'packages/web/README.md': 'src/app.ts\n',
          'packages/web/src/app.ts': '',
        }),
      ),
    ).toEqual([]);
  });
});
