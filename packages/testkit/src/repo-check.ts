/**
 * Checks of the repository itself, run by `npm test` (scripts/check-repo.ts) before anything is built:
 * - no merge-conflict markers in any tracked text file (a `<<<<<<< `/`>>>>>>> ` line, or a `=======` / `|||||||`
 *   line after an opening one);
 * - no repository path cited in a Markdown file or in a source comment (TS/JS comments, `#` lines of shell
 *   scripts) that does not exist.
 *
 * What counts as a cited path (to keep false positives out):
 * - a Markdown link target, resolved from the Markdown file's folder; URLs, anchors, `<placeholders>` and
 *   targets outside the repository are not checked;
 * - a token with at least one `/` whose first segment is a top-level folder of the repository, or `docs`/`notes`
 *   (where documents are expected), resolved from the repository root, like `packages/cli/src/main.ts`
 *   (inside a workspace, from the workspace folder too: `dashboards/`'s comments cite `scripts/…` of their own);
 * - inside a workspace (`packages/<name>/`, `loadtests/`, `dashboards/`), a token starting with `src/`, `test/`,
 *   `bench/`, `public/` or `bin/`, resolved from the workspace folder (how its README and comments cite files),
 *   or from the folder of a `cd <folder> &&` earlier on the same line (a command to run elsewhere), or from a
 *   workspace named earlier on the line or the line before ("clickhouse-sink's test/expansion.test.ts").
 * Bare `./…`/`../…` tokens are not checked (command examples: `--store ./data`).
 * A token followed by `{`, `*`, `<` or `$` (`schema.{single,cluster}.sql`, `src/commands/<name>.ts`) is a pattern:
 * only its folder must exist. Git-ignored paths (made by a run, like a test's `artifacts/` folder) are not required.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

export interface Finding {
  file: string;
  line: number;
  message: string;
}

const SEVEN = 7;
const OPEN = '<'.repeat(SEVEN);
const CLOSE = '>'.repeat(SEVEN);
const MIDDLE = '='.repeat(SEVEN);
const BASE = '|'.repeat(SEVEN);

/** Conflict markers in one file's text. */
export function conflictMarkers(file: string, text: string): Finding[] {
  const findings: Finding[] = [];
  let open = false;
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const isOpen = line === OPEN || line.startsWith(`${OPEN} `);
    const isClose = line === CLOSE || line.startsWith(`${CLOSE} `);
    const isInner = open && (line === MIDDLE || line === BASE || line.startsWith(`${BASE} `));
    if (isOpen || isClose || isInner) {
      findings.push({ file, line: index + 1, message: `merge-conflict marker: ${line.slice(0, 40)}` });
    }
    if (isOpen) open = true;
    if (isClose) open = false;
  });
  return findings;
}

const SOURCE = /\.(?:ts|mts|cts|js|mjs|cjs)$/;
const SHELL = /(?:\.sh|^\.ci\/run)$/;
const WORKSPACE = /^(packages\/[^/]+|loadtests|dashboards)\//;
const WORKSPACE_ROOTS = new Set(['src', 'test', 'bench', 'public', 'bin']);
const DOC_ROOTS = ['docs', 'notes'];
const TOKEN = /(?<=^|[\s`'"([])((?:\.{1,2}\/)*[\w@.-]+(?:\/[\w@.-]+)+\/?)/g;
const LINK = /\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;

/**
 * The comments of TS/JS source, found by a small scanner that steps over string, template and regex literals
 * (so `'*' + '/' + '*'` in a string or a fixture's comment-looking text is not taken for a comment).
 */
export function sourceComments(text: string): { start: number; text: string }[] {
  const comments: { start: number; text: string }[] = [];
  let i = 0;
  let previous = ''; // the last significant code character: tells a regex literal from a division
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      comments.push({ start: i, text: text.slice(i, stop) });
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      comments.push({ start: i, text: text.slice(i, stop) });
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < text.length && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
      i++;
      previous = c;
    } else if (c === '/' && (previous === '' || '(,=:[!&|?{};+-*%<>~^'.includes(previous))) {
      let inClass = false;
      i++;
      while (i < text.length && text[i] !== '\n' && (inClass || text[i] !== '/')) {
        if (text[i] === '[') inClass = true;
        else if (text[i] === ']') inClass = false;
        i += text[i] === '\\' ? 2 : 1;
      }
      i++;
      previous = '/';
    } else {
      if (!/\s/.test(c)) previous = /[\w$)\].]/.test(c) ? 'x' : c;
      i++;
    }
  }
  return comments;
}

/** The parts of a file where paths are cited, with their line numbers: all of a Markdown file, comments elsewhere. */
export function citingText(file: string, text: string): { text: string; line: number }[] {
  if (file.endsWith('.md')) return text.split('\n').map((t, i) => ({ text: t, line: i + 1 }));
  const out: { text: string; line: number }[] = [];
  if (SOURCE.test(file)) {
    for (const comment of sourceComments(text)) {
      const first = text.slice(0, comment.start).split('\n').length;
      comment.text.split('\n').forEach((t, i) => {
        out.push({ text: t, line: first + i });
      });
    }
  } else if (SHELL.test(file)) {
    text.split('\n').forEach((t, i) => {
      const hash = t.indexOf('#');
      if (hash >= 0 && (hash === 0 || /\s/.test(t[hash - 1] ?? ''))) out.push({ text: t.slice(hash), line: i + 1 });
    });
  }
  return out;
}

export interface RepoView {
  /** Top-level folders of the repository. */
  roots: ReadonlySet<string>;
  /** Workspace folders by the name a text calls them (`clickhouse-sink` → `packages/clickhouse-sink`). */
  workspaces?: ReadonlyMap<string, string>;
  /** Whether a repo-relative path exists (or is git-ignored, so made by a run). */
  exists(path: string): boolean;
}

/** Repo-relative paths cited in `text` (one line) of `file` that do not exist. */
export function deadCitations(file: string, text: string, repo: RepoView, previousLine = ''): string[] {
  const dead: string[] = [];
  const found = (path: string, pattern: boolean): { normal: string; ok: boolean } => {
    const normal = normalize(path).split(sep).join('/').replace(/\/$/, '');
    if (normal === '' || normal === '.' || normal.startsWith('../')) return { normal, ok: true };
    const target = pattern ? dirname(normal) : normal;
    return { normal, ok: target === '.' || repo.exists(target) };
  };
  /** Dead when it exists under none of `bases`; reported as resolved from the first. */
  const check = (bases: readonly string[], path: string, pattern: boolean): void => {
    const results = bases.map((base) => found(join(base, path), pattern));
    if (results.every((r) => !r.ok)) dead.push(results[0]?.normal ?? path);
  };
  const workspace = WORKSPACE.exec(file)?.[1];
  for (const match of text.matchAll(LINK)) {
    const target = (match[1] ?? '').split('#')[0] ?? '';
    if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target) || /^\/|[<>{}*$]/.test(target)) continue;
    check([dirname(file)], decodeURI(target), false);
  }
  for (const match of text.matchAll(TOKEN)) {
    let token = match[1] ?? '';
    if (text[(match.index ?? 0) - 1] === '(' && text[(match.index ?? 0) - 2] === ']') continue; // a link, above
    const after = text[(match.index ?? 0) + match[0].length] ?? '';
    token = token.replace(/[.,:;]+$/, '');
    const pattern = /[{*<$[]/.test(after);
    const first = token.split('/')[0] ?? '';
    if (first === '.' || first === '..') continue;
    const cd = [...text.slice(0, match.index).matchAll(/\bcd\s+([\w@./-]+)\s*&&/g)].pop()?.[1];
    if (repo.roots.has(first) || DOC_ROOTS.includes(first)) {
      check(workspace === undefined ? ['.'] : ['.', workspace], token, pattern);
    } else if (WORKSPACE_ROOTS.has(first)) {
      const before = `${previousLine}\n${text.slice(0, match.index)}`;
      const named = [...(repo.workspaces ?? new Map<string, string>())]
        .filter(([name]) =>
          new RegExp(`(?<![\\w-])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`).test(before),
        )
        .map(([, folder]) => folder);
      const bases = [...(cd !== undefined ? [cd] : workspace !== undefined ? [workspace] : []), ...named];
      if (bases.length > 0) check(bases, token, pattern);
    }
  }
  return dead;
}

/** Every finding in the repository at `root` (a git checkout): tracked files only. */
export function checkRepo(root: string): Finding[] {
  let files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\0')
    .filter((f) => f !== '');
  // a file in conflict is listed once per stage: check it once
  const tracked = new Set(files);
  files = [...tracked];
  const folders = new Set<string>();
  for (const f of files) {
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
  }
  const ignoredCache = new Map<string, boolean>();
  const ignored = (path: string): boolean => {
    let answer = ignoredCache.get(path);
    if (answer === undefined) {
      try {
        // `dir/` too: a folder pattern (`artifacts/`) matches only a path that says it is a folder
        execFileSync('git', ['check-ignore', '--no-index', path, `${path}/`], { cwd: root, stdio: 'ignore' });
        answer = true;
      } catch {
        answer = false;
      }
      ignoredCache.set(path, answer);
    }
    return answer;
  };
  const workspaces = new Map<string, string>();
  for (const f of files) {
    const folder = WORKSPACE.exec(f)?.[1];
    if (folder !== undefined) workspaces.set(folder.split('/').pop() ?? folder, folder);
  }
  const repo: RepoView = {
    roots: new Set(files.filter((f) => f.includes('/')).map((f) => f.split('/')[0] ?? '')),
    workspaces,
    exists: (path) => tracked.has(path) || folders.has(path) || ignored(path),
  };
  const findings: Finding[] = [];
  for (const file of files) {
    const full = join(root, file);
    if (!existsSync(full)) continue;
    const bytes = readFileSync(full);
    if (bytes.includes(0)) continue; // binary
    const text = bytes.toString('utf8');
    findings.push(...conflictMarkers(file, text));
    let previous = '';
    for (const { text: part, line } of citingText(file, text)) {
      const dead = deadCitations(file, part, repo, previous);
      previous = part;
      for (const path of dead) {
        findings.push({ file, line, message: `cites ${path}, which does not exist in the repository` });
      }
    }
  }
  return findings;
}

/** `file:line: message` lines for a terminal. */
export function formatFindings(findings: readonly Finding[], root: string, cwd = process.cwd()): string {
  return findings.map((f) => `${relative(cwd, join(root, f.file)) || f.file}:${f.line}: ${f.message}`).join('\n');
}
