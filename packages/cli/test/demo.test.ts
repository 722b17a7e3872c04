/**
 * `fhirwatch demo` end to end through the real bin: mock EHRs, gateway + audit middleware, sink on a
 * real chDB store, bounded Patients-app traffic; then the store, released by the demo, is opened by
 * `fhirwatch audit` in another process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AUDIT_EVENT_TYPES } from '@fhirwatch/contract';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fhirwatch-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fhirwatch demo', () => {
  it('runs traffic through the whole pipeline and leaves a verifiable audit store', { timeout: 240_000 }, async () => {
    const { stdout } = await run(
      process.execPath,
      [bin, 'demo', '--duration', '4s', '--dir', dir, '--patients', '60'],
      {
        timeout: 200_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    expect(stdout).toContain('fhirwatch demo: everything on 127.0.0.1');
    expect(stdout).toMatch(/HMAC chain of writer demo-gateway intact \(seq 1\.\.\d+, \d+ records\)/);
    expect(stdout).toMatch(/Audit: \d+ records shipped, 0 lost to spool errors/);
    // Both tenants' traffic reached the SRE view.
    expect(stdout).toMatch(/Contoso Health \(DSTU2\)\s+\/Patient\/_search\s+\d+ req/);
    expect(stdout).toMatch(/Fabrikam Medical \(STU3\)\s+\/Patient\/_search\s+\d+ req/);

    // The demo exited and released the store: another process opens it.
    const store = join(dir, 'store');
    const summary = await run(
      process.execPath,
      [bin, 'audit', 'summary', '--store', store, '--since', '1d', '--format', 'json'],
      {
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const rows = (JSON.parse(summary.stdout) as { rows: { event_type: string; events: number }[] }).rows;
    const types = new Set(rows.map((row) => row.event_type));
    // The list refresh covers 9 of the 11 event types on every run (LocationView and ExportInitiation are random).
    for (const type of AUDIT_EVENT_TYPES.filter((t) => t !== 'LocationView' && t !== 'ExportInitiation')) {
      expect(types, type).toContain(type);
    }
    const verify = await run(
      process.execPath,
      [
        bin,
        'audit',
        'verify',
        '--store',
        store,
        '--hmac-key-file',
        join(dir, 'audit-spool', 'hmac.key'),
        '--format',
        'json',
      ],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    expect(JSON.parse(verify.stdout)).toMatchObject({ rows: [{ recorded_by: 'demo-gateway', status: 'ok' }] });
  });

  it('refuses an unbounded or malformed duration', async () => {
    const failure = await run(process.execPath, [bin, 'demo', '--duration', 'forever']).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('--duration');
  });
});
