/**
 * The gateway's /healthz (alive) and /readyz (the audit spool takes records), with the spool on a real 900 KiB
 * tmpfs that fills up: not ready → 503 naming `auditSpool`, no path or request data in the answer; ready again
 * once space is back. Probes are answered without credentials and never audited.
 */
import { mountSmallTmpfs } from '@fhirwatch/testkit/tmpfs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config.ts';
import { type InstrumentedGateway, startInstrumentedGateway } from '../src/instrumented.ts';
import { tempDir } from './helpers.ts';

const dir = tempDir('health');
const tmp = mountSmallTmpfs('900k');
let gateway: InstrumentedGateway | undefined;
const logLines: string[] = [];
afterAll(async () => {
  await gateway?.close();
  tmp.close();
  dir.remove();
});

async function probe(path: string, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gateway!.url}${path}`, { method });
  const text = await res.text();
  expect(res.headers.get('cache-control')).toBe('no-store');
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('gateway /healthz and /readyz', () => {
  it('answer without credentials; /readyz fails with the spool file system full and recovers', async () => {
    const config = parseGatewayConfig({ dataDir: 'data', audit: { spoolDir: tmp.dir } }, { baseDir: dir.path });
    gateway = await startInstrumentedGateway(config, { hmacKey: 'k', log: (line) => logLines.push(line) });
    expect(await probe('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await probe('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      failing: [],
      checks: {
        auditSpool: { ok: true, state: 'ok', policy: 'refuse', depth: 0, shipping: false, refused: 0, dropped: 0 },
      },
    });
    expect((await probe('/readyz', 'POST')).status).toBe(405);

    const free = tmp.fill();
    const down = await probe('/readyz');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      status: 'not ready',
      failing: ['auditSpool'],
      checks: { auditSpool: { ok: false, state: 'failed', code: 'FW_AUDIT_SPOOL_FULL', errno: 'ENOSPC' } },
    });
    expect(JSON.stringify(down.body)).not.toContain(tmp.dir);
    // the process is alive all along
    expect((await probe('/healthz')).status).toBe(200);

    free();
    expect((await probe('/readyz')).status).toBe(200);
    // probes are not FHIR traffic: nothing was spooled for them
    expect(gateway.audit?.health().depth).toBe(0);
  });
});
