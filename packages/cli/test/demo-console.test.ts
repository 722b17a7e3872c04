/**
 * Smoke test of the demo's console: `fhirwatch demo --stay` prints the console URL; while it runs, the console's
 * query API serves audit records and a non-empty SRE panel from the demo's store; SIGTERM stops it cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fhirwatch-demo-console-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('fhirwatch demo --stay', () => {
  it('serves the console on the demo store: audit records and a non-empty panel, then stops', {
    timeout: 240_000,
  }, async () => {
    const child = spawn(process.execPath, [
      bin,
      'demo',
      '--duration',
      '4s',
      '--patients',
      '60',
      '--dir',
      dir,
      '--stay',
    ]);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const lines = createInterface({ input: child.stdout });
    // stopped once it stays up, so that the --stay path (not only the early stop) is what this test ends
    const staying = new Promise<void>((resolve) => {
      lines.on('line', (line) => {
        if (line.startsWith('Still running')) resolve();
      });
    });
    try {
      const consoleUrl = await new Promise<string>((resolve, reject) => {
        lines.on('line', (line) => {
          const match = /^\s+console\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
          if (match) resolve(match[1] as string);
        });
        child.once('exit', (code) => reject(new Error(`demo exited with ${code}`)));
      });
      expect((await fetch(consoleUrl)).headers.get('content-type')).toMatch(/^text\/html/);
      const events = await poll(
        'audit records',
        async () => {
          const body = (await (await fetch(`${consoleUrl}api/audit/search?since=1h&limit=5`)).json()) as {
            total: number;
          };
          return body.total > 0 ? body.total : undefined;
        },
        120_000,
      );
      expect(events).toBeGreaterThan(0);
      const rows = await poll(
        'a non-empty SRE panel',
        async () => {
          const to = new Date();
          const from = new Date(to.getTime() - 3_600_000);
          const body = (await (
            await fetch(
              `${consoleUrl}api/panels/sre-requests-per-tenant?from=${from.toISOString()}&to=${to.toISOString()}`,
            )
          ).json()) as { rows: unknown[] };
          return body.rows.length > 0 ? body.rows.length : undefined;
        },
        120_000,
      );
      expect(rows).toBeGreaterThan(0);
      await staying;
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
