/**
 * The sink's /healthz (alive) and /readyz (store reachable with its tables; outage spool writable and under its
 * limit), with the spool on a real 900 KiB tmpfs that fills up. Answered without credentials, minimal: no path,
 * no value. (A store that is down: outage.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountSmallTmpfs } from '@fhirwatch/testkit/tmpfs';
import { afterAll, describe, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-sink-health-'));
const tmp = mountSmallTmpfs('900k');
let sink: SinkServer | undefined;
afterAll(async () => {
  await sink?.close();
  tmp.close();
  rmSync(dir, { recursive: true, force: true });
});

async function probe(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${sink!.url}${path}`);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('sink /healthz and /readyz', () => {
  it('/readyz names the spool when its file system is full, and is ready again once space is back', async () => {
    sink = await startSink({ store: join(dir, 'store'), spoolDir: join(tmp.dir, 'spool') });
    expect(await probe('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await probe('/readyz');
    expect(ready).toMatchObject({
      status: 200,
      body: {
        status: 'ready',
        failing: [],
        checks: { store: { ok: true }, spool: { ok: true, nearlyFull: false, files: 0, oldestFileAgeS: null } },
      },
    });
    const free = tmp.fill();
    const down = await probe('/readyz');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      status: 'not ready',
      failing: ['spool'],
      checks: { store: { ok: true }, spool: { ok: false, errno: 'ENOSPC' } },
    });
    expect(JSON.stringify(down.body)).not.toContain(tmp.dir);
    expect((await probe('/healthz')).status).toBe(200);
    free();
    expect((await probe('/readyz')).status).toBe(200);
  });
});
