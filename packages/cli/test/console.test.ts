/**
 * `fhirwatch console` and `fhirwatch sink --console` through the real bin: the console's page and panel API are
 * served; a store owned by a running sink is refused with the exact command to use instead; the sink's query API
 * answers a compliance query while it keeps ingesting, and refuses a non-loopback bind without a token.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PANELS } from '@fhirwatch/dashboards';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-cli-console-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function firstLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

async function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

describe('fhirwatch sink --console', () => {
  // Four fhirwatch processes (two on chDB) one after the other: 37 s measured at load average 30 on 2 cores.
  it('serves the console page, the panels and the query API; a second process on the store is told what to run', {
    timeout: 180_000,
  }, async () => {
    const store = join(dir, 'sink-store');
    const sink = spawn(process.execPath, [bin, 'sink', '--store', store, '--console']);
    try {
      const url = await firstLine(sink);
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(await page.text()).toContain('<script src="vendor/uPlot.iife.min.js"></script>');
      expect((await fetch(`${url}/vendor/uPlot.iife.min.js`)).status).toBe(200);
      const { panels } = (await (await fetch(`${url}/api/panels`)).json()) as { panels: { id: string }[] };
      expect(panels.map((p) => p.id)).toEqual(PANELS.map((p) => p.id));
      const summary = await fetch(`${url}/api/audit/summary?since=1d`);
      expect(summary.status).toBe(200);

      const busy = await run(process.execPath, [bin, 'console', '--store', store]).catch((error: unknown) => error);
      expect(busy).toMatchObject({ code: 1 });
      expect((busy as { stderr: string }).stderr).toContain(`fhirwatch console --sink-url ${url}\n`);
      // told by the sink's marker and /healthz before chDB is asked: no lock error of chDB's own
      expect((busy as { stderr: string }).stderr).not.toContain('Cannot lock');
      const audit = await run(process.execPath, [bin, 'audit', 'summary', '--since', '1d', '--store', store]).catch(
        (error: unknown) => error,
      );
      expect(audit).toMatchObject({ code: 1 });
      expect((audit as { stderr: string }).stderr).toContain('FW_AUDIT_STORE_BUSY');
      expect((audit as { stderr: string }).stderr).toContain(`--sink-url ${url}`);
      expect((audit as { stderr: string }).stderr).not.toContain('Cannot lock');

      const front = spawn(process.execPath, [bin, 'console', '--sink-url', url]);
      try {
        const consoleUrl = await firstLine(front);
        expect(consoleUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
        const forwarded = await fetch(`${consoleUrl}api/audit/summary?since=1d&format=csv`);
        expect(forwarded.status).toBe(200);
        expect(forwarded.headers.get('content-type')).toMatch(/^text\/csv/);
      } finally {
        expect(await stop(front)).toBe(0);
      }
    } finally {
      expect(await stop(sink)).toBe(0);
    }
  });

  it('refuses a non-loopback bind without FHIRWATCH_QUERY_TOKEN (exit 2)', async () => {
    const env = { ...process.env };
    delete env.FHIRWATCH_QUERY_TOKEN;
    const failure = await run(
      process.execPath,
      [bin, 'sink', '--store', join(dir, 'open-store'), '--host', '0.0.0.0'],
      { env },
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('needs a bearer token');
  });

  it('refuses to start in front of a sink that does not answer (exit 1, says what to do)', async () => {
    const failure = await run(process.execPath, [bin, 'console', '--sink-url', 'http://127.0.0.1:9']).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toContain('FW_CONSOLE_SINK_UNREACHABLE');
    expect((failure as { stderr: string }).stderr).toContain('fhirwatch sink --store');
  });
});

describe('fhirwatch console --store', () => {
  it('refuses a store that does not exist (exit 2, names the path) and creates nothing there', async () => {
    const missing = join(dir, 'no-such-store');
    const failure = await run(process.execPath, [bin, 'console', '--store', missing], { timeout: 60_000 }).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain(`no store at ${missing}`);
    expect(existsSync(missing)).toBe(false);
  });

  it('opens a free store and serves the console and its API', async () => {
    const store = join(dir, 'free-store');
    await run(process.execPath, [bin, 'sink', 'migrate', '--store', store]);
    const child = spawn(process.execPath, [bin, 'console', '--store', store]);
    try {
      const url = await firstLine(child);
      expect((await fetch(url)).status).toBe(200);
      const log = await fetch(`${url}api/audit/query-log`);
      expect(log.status).toBe(200);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });
});
