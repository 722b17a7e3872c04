/**
 * A trail that cannot lose a record in silence: the spool on a REAL full file system (a 900 KiB tmpfs
 * mounted by the test, then filled) and on a read-only one, in batched and strict mode, under
 * `onSpoolFailure: refuse` (default) and `serve`. Asserts what the client gets (200 with PHI, or 503
 * OperationOutcome without), what reaches the spool, the counts, and the log lines (no PHI).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expandRequestRecord } from '@fhirwatch/contract';
import { mountSmallTmpfs, type SmallTmpfs } from '@fhirwatch/testkit/tmpfs';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { AUDIT_ERROR_CODES } from '../src/errors.ts';
import { type FhirAudit, fhirAudit } from '../src/middleware.ts';
import type { FhirAuditOptions } from '../src/types.ts';
import { fhirHandler, listen, PATIENTS, PHI_STRINGS } from './fhir-handler.ts';
import { segmentRequests } from './requests.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A 900 KiB tmpfs (the size of the issue's reproduction), unmounted after the test. */
function smallTmpfs(): SmallTmpfs {
  const fs = mountSmallTmpfs('900k');
  cleanups.push(async () => fs.close());
  return fs;
}

interface Started {
  audit: FhirAudit;
  url: string;
  lines: Record<string, unknown>[];
}

async function start(spoolDir: string, options: Partial<FhirAuditOptions>): Promise<Started> {
  const lines: Record<string, unknown>[] = [];
  const audit = fhirAudit({
    spoolDir,
    hmacKey: 'k',
    flushIntervalMs: 5,
    // one segment per write: every write needs fresh blocks (tmpfs pages are 4 KiB, a record ~800 bytes)
    segmentMaxBytes: 1,
    onError: () => {},
    spoolHealthLog: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    ...options,
  });
  await audit.ready().catch(() => undefined);
  const app = await listen(audit.wrap(fhirHandler()));
  cleanups.push(
    () => audit.shutdown(),
    () => app.close(),
  );
  return { audit, url: app.url, lines };
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

function outcomeCode(text: string): string | undefined {
  const body = JSON.parse(text) as {
    resourceType?: string;
    issue?: { details?: { coding?: { code?: string }[] } }[];
  };
  expect(body.resourceType).toBe('OperationOutcome');
  return body.issue?.[0]?.details?.coding?.[0]?.code;
}

function expectRefused(r: { status: number; text: string }, code: string): void {
  expect(r.status).toBe(503);
  expect(outcomeCode(r.text)).toBe(code);
  for (const phi of PHI_STRINGS) expect(r.text).not.toContain(phi);
}

function expectNoPhi(lines: Record<string, unknown>[]): void {
  const text = JSON.stringify(lines);
  for (const phi of PHI_STRINGS) expect(text).not.toContain(phi);
}

/** Patient ids of the PatientView rows on disk. */
async function viewedOnDisk(dir: string): Promise<string[]> {
  const { records } = await segmentRequests(dir);
  return records
    .flatMap(expandRequestRecord)
    .filter((r) => r.event_type === 'PatientView')
    .map((r) => r.patient_id)
    .sort();
}

/** Poll (bounded) until `check` holds. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const [p1, p2, p3, p4] = PATIENTS as [
  (typeof PATIENTS)[0],
  (typeof PATIENTS)[0],
  (typeof PATIENTS)[0],
  (typeof PATIENTS)[0],
];

describe('batched mode on a full file system', () => {
  it('refuse (default): refuses with 503 once a write failed, keeps the in-flight record, recovers, logs both', async () => {
    const tmp = smallTmpfs();
    const dir = tmp.dir;
    const { audit, url, lines } = await start(dir, {});
    expect((await get(`${url}/Patient/${p1.id}`)).status).toBe(200);
    await audit.flush();
    expect(audit.health().state).toBe('ok');

    const free = tmp.fill();
    // In flight: the spool has not failed a write yet, so this response goes out; its record is kept.
    const inFlight = await get(`${url}/Patient/${p2.id}`);
    expect(inFlight.status).toBe(200);
    await audit.flush(); // the write fails (ENOSPC): the spool health enters `failed`
    expect(audit.health()).toMatchObject({ state: 'failed', code: AUDIT_ERROR_CODES.spoolFull, errno: 'ENOSPC' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      event: 'fhirwatch.audit.spool.failed',
      code: 'FW_AUDIT_SPOOL_FULL',
      errno: 'ENOSPC',
      policy: 'refuse',
      spoolDir: dir,
    });

    // Every audited request is now refused before any PHI leaves: read, search, batch.
    expectRefused(await get(`${url}/Patient/${p3.id}`), AUDIT_ERROR_CODES.spoolFull);
    expectRefused(await get(`${url}/Patient?family:contains=Zorvath`), AUDIT_ERROR_CODES.spoolFull);
    // Traffic that discloses no patient is not held back.
    expect((await get(`${url}/metadata`)).status).toBe(200);
    expect(audit.health().refused).toBe(2);

    // Space comes back: the kept record is written by the retry, the state leaves `failed`.
    free();
    await until(() => audit.health().state === 'ok', 'the spool to recover');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      level: 'info',
      event: 'fhirwatch.audit.spool.recovered',
      refused: 2,
      dropped: 0,
    });
    expect((await get(`${url}/Patient/${p4.id}`)).status).toBe(200);
    await audit.flush();
    // Nothing served was lost: p1 and p4, and the in-flight p2 (kept in memory across the failure).
    expect(await viewedOnDisk(dir)).toEqual([p1.id, p2.id, p4.id].sort());
    expect(audit.stats().auditFailures).toBe(2);
    expect(audit.health().dropped).toBe(0);
    expectNoPhi(lines);
  });

  it('serve (explicit opt-in): serves PHI unaudited, counts the dropped records, logs it as an error', async () => {
    const tmp = smallTmpfs();
    const dir = tmp.dir;
    const { audit, url, lines } = await start(dir, { onSpoolFailure: 'serve' });
    expect((await get(`${url}/Patient/${p1.id}`)).status).toBe(200);
    await audit.flush();
    tmp.fill();
    for (const p of [p2, p3, p4]) expect((await get(`${url}/Patient/${p.id}`)).status).toBe(200);
    await audit.flush();
    expect(audit.health()).toMatchObject({ state: 'failed', errno: 'ENOSPC', policy: 'serve' });
    expect(lines[0]).toMatchObject({ level: 'error', event: 'fhirwatch.audit.spool.failed', policy: 'serve' });
    expect(String(lines[0]?.effect)).toMatch(/SERVED WITHOUT AUDIT RECORDS/);
    // The disk stays full until the process ends: the three served records are lost, and counted.
    await audit.shutdown();
    expect(audit.health().dropped).toBe(3);
    expect(audit.stats().auditFailures).toBe(3);
    expect(await viewedOnDisk(dir)).toEqual([p1.id]);
    expectNoPhi(lines);
  });
});

describe('strict mode on a full file system', () => {
  it('refuse (default): each request whose record cannot be written gets 503; recovers on the next good write', async () => {
    const tmp = smallTmpfs();
    const dir = tmp.dir;
    const { audit, url, lines } = await start(dir, { mode: 'strict' });
    expect((await get(`${url}/Patient/${p1.id}`)).status).toBe(200);
    const free = tmp.fill();
    expectRefused(await get(`${url}/Patient/${p2.id}`), AUDIT_ERROR_CODES.spoolFull);
    expectRefused(await get(`${url}/Patient?family:contains=Zorvath`), AUDIT_ERROR_CODES.spoolFull);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', code: 'FW_AUDIT_SPOOL_FULL', errno: 'ENOSPC', policy: 'refuse' });
    free();
    expect((await get(`${url}/Patient/${p3.id}`)).status).toBe(200);
    expect(lines[1]).toMatchObject({ level: 'info', event: 'fhirwatch.audit.spool.recovered', refused: 2 });
    expect(await viewedOnDisk(dir)).toEqual([p1.id, p3.id].sort());
    expect(audit.health()).toMatchObject({ state: 'ok', refused: 2, dropped: 0 });
    expectNoPhi(lines);
  });

  it('serve: the held response is released without its record, which is counted as dropped', async () => {
    const tmp = smallTmpfs();
    const dir = tmp.dir;
    const { audit, url, lines } = await start(dir, { mode: 'strict', onSpoolFailure: 'serve' });
    tmp.fill();
    const r = await get(`${url}/Patient/${p1.id}`);
    expect(r.status).toBe(200);
    expect(r.text).toContain(p1.id);
    expect(audit.health()).toMatchObject({ state: 'failed', dropped: 1, refused: 0 });
    expect(lines[0]).toMatchObject({ level: 'error', policy: 'serve' });
    expect(await viewedOnDisk(dir)).toEqual([]);
  });
});

describe('an unwritable spool directory (read-only file system)', () => {
  it.each([
    ['batched', 'refuse'],
    ['strict', 'refuse'],
  ] as const)('%s mode, %s: every audited request is refused and the failure is logged', async (mode, policy) => {
    const tmp = smallTmpfs();
    const dir = tmp.dir;
    await mkdir(join(dir, 'spool', 'rejected'), { recursive: true });
    tmp.readOnly();
    const { audit, url, lines } = await start(join(dir, 'spool'), { mode, onSpoolFailure: policy });
    await expect(audit.ready()).rejects.toThrow();
    expectRefused(await get(`${url}/Patient/${p1.id}`), AUDIT_ERROR_CODES.spoolUnwritable);
    expect(lines[0]).toMatchObject({ level: 'error', code: 'FW_AUDIT_SPOOL_UNWRITABLE', errno: 'EROFS' });
    expect(audit.health()).toMatchObject({ state: 'failed', open: false, refused: 1 });
  });

  it('batched mode, serve: requests are served and every record is counted as dropped', async () => {
    const tmp = smallTmpfs();
    const dir = tmp.dir;
    await mkdir(join(dir, 'spool', 'rejected'), { recursive: true });
    tmp.readOnly();
    const { audit, url, lines } = await start(join(dir, 'spool'), { onSpoolFailure: 'serve' });
    expect((await get(`${url}/Patient/${p1.id}`)).status).toBe(200);
    await until(() => audit.health().dropped === 1, 'the dropped count');
    expect(lines[0]).toMatchObject({ level: 'error', errno: 'EROFS', policy: 'serve' });
  });
});

describe('log lines are rate-limited', () => {
  it('a flapping spool logs 4 lines a minute, then the suppressed count and the state at the end of the window', async () => {
    const tmp = smallTmpfs();
    const dir = tmp.dir;
    const { audit, url, lines } = await start(dir, { mode: 'strict' });
    for (let i = 0; i < 3; i++) {
      const free = tmp.fill();
      expect((await get(`${url}/Patient/${p1.id}`)).status).toBe(503);
      free();
      expect((await get(`${url}/Patient/${p2.id}`)).status).toBe(200);
    }
    // 6 transitions within the minute: 4 are logged, the rest wait for the window's end
    expect(lines.map((l) => l.level)).toEqual(['error', 'info', 'error', 'info']);
    await audit.shutdown(); // shutdown logs the pending line instead of waiting for the window
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatchObject({ level: 'info', suppressedTransitions: 2, refusedTotal: 3 });
  });
});

describe('checkHealth (what /readyz asks)', () => {
  it('probes the disk: a full spool file system is seen without any traffic, and so is its recovery', async () => {
    const tmp = smallTmpfs();
    const { audit, lines } = await start(tmp.dir, {});
    expect((await audit.checkHealth()).state).toBe('ok');
    const free = tmp.fill();
    expect(await audit.checkHealth()).toMatchObject({ state: 'failed', errno: 'ENOSPC', open: true, depth: 0 });
    expect(lines[0]).toMatchObject({ level: 'error', errno: 'ENOSPC' });
    free();
    expect((await audit.checkHealth()).state).toBe('ok');
    expect(lines[1]).toMatchObject({ level: 'info', event: 'fhirwatch.audit.spool.recovered' });
  });
});

describe('the pipeline-health metric', () => {
  it('fhirwatch.audit.records.rejected counts refused and dropped records by fhirwatch.audit.outcome', async () => {
    const reader = new PeriodicExportingMetricReader({
      exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
      exportIntervalMillis: 3_600_000,
    });
    const meterProvider = new MeterProvider({ readers: [reader] });
    cleanups.push(() => meterProvider.shutdown());
    const tmp = smallTmpfs();
    const { url } = await start(tmp.dir, { mode: 'strict', meterProvider });
    tmp.fill();
    expect((await get(`${url}/Patient/${p1.id}`)).status).toBe(503);
    expect((await get(`${url}/Patient/${p2.id}`)).status).toBe(503);
    const { resourceMetrics } = await reader.collect();
    const metric = resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .find((m) => m.descriptor.name === 'fhirwatch.audit.records.rejected');
    expect(metric).toBeDefined();
    const byOutcome = Object.fromEntries(
      metric!.dataPoints.map((p) => [String(p.attributes['fhirwatch.audit.outcome']), p.value]),
    );
    expect(byOutcome).toEqual({ refused: 2, dropped: 0 });
  });
});

describe('a spool directory that becomes read-only while serving', () => {
  it.each(['batched', 'strict'] as const)(
    '%s mode: refused with FW_AUDIT_SPOOL_UNWRITABLE (EROFS), recovers when writable',
    async (mode) => {
      const tmp = smallTmpfs();
      const { audit, url, lines } = await start(tmp.dir, { mode });
      expect((await get(`${url}/Patient/${p1.id}`)).status).toBe(200);
      await audit.flush(); // one segment per write: sealed and closed, so the remount is allowed
      tmp.readOnly();
      if (mode === 'batched') {
        // in flight: served while the spool was still ok; its record is kept for the retry
        expect((await get(`${url}/Patient/${p2.id}`)).status).toBe(200);
        await audit.flush();
      }
      expectRefused(await get(`${url}/Patient/${p3.id}`), AUDIT_ERROR_CODES.spoolUnwritable);
      expect(lines[0]).toMatchObject({ level: 'error', code: 'FW_AUDIT_SPOOL_UNWRITABLE', errno: 'EROFS' });
      tmp.writable();
      expect((await audit.checkHealth()).state).toBe('ok');
      await until(async () => (await viewedOnDisk(tmp.dir)).length === (mode === 'batched' ? 2 : 1), 'the kept record');
      expect(await viewedOnDisk(tmp.dir)).toEqual(mode === 'batched' ? [p1.id, p2.id].sort() : [p1.id]);
      expect(lines[1]).toMatchObject({ level: 'info', event: 'fhirwatch.audit.spool.recovered', refused: 1 });
      expect(audit.health()).toMatchObject({ refused: 1, dropped: 0 });
    },
  );
});
