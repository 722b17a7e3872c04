/**
 * Shipping to a real HTTP receiver: retries with Retry-After, an unreachable sink, quarantine of
 * invalid batches, and what a restart finds in the spool.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { AUDIT_ERROR_CODES, type FhirAuditError } from '../src/errors.ts';
import { fhirAudit } from '../src/middleware.ts';
import {
  METRIC_AUDIT_RECORDS_QUARANTINED,
  METRIC_AUDIT_SHIP_LAG,
  METRIC_AUDIT_SPOOL_AGE,
  METRIC_AUDIT_SPOOL_DEPTH,
} from '../src/pipeline-metrics.ts';
import { AuditSpool } from '../src/spool.ts';
import { fhirHandler, listen } from './fhir-handler.ts';
import { startReceiver } from './receiver.ts';

/** A pull reader: `collect()` observes the gauges now. */
class PullReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** name → the last data point value (gauge/sum) or the histogram's count, from one collection. */
async function metricValues(reader: PullReader): Promise<Map<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, number>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        const value = point.value as number | { count: number };
        out.set(metric.descriptor.name, typeof value === 'number' ? value : value.count);
      }
    }
  }
  return out;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'fw-ship-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function traffic(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/Patient?family:contains=Zorvath`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
}

describe('audit shipping', () => {
  it('keeps everything while the sink is unreachable and drains the spool once it is back', async () => {
    const dir = await tempDir();
    const port = await freePort();
    let failures = 0;
    let sawTwoFailures: () => void = () => {};
    const twoFailures = new Promise<void>((resolve) => {
      sawTwoFailures = resolve;
    });
    const reader = new PullReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const audit = fhirAudit({
      meterProvider,
      spoolDir: dir,
      sinkUrl: `http://127.0.0.1:${port}`,
      recordedBy: 'w',
      hmacKey: 'k',
      shipIntervalMs: 20,
      flushIntervalMs: 5,
      minBackoffMs: 20,
      maxBackoffMs: 100,
      onError: (e) => {
        if (e.code === AUDIT_ERROR_CODES.sinkUnavailable && ++failures === 2) sawTwoFailures();
      },
    });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    await traffic(app.url, 10); // 10 request records = 70 per-patient rows
    await audit.flush();
    await twoFailures; // the shipper has tried and failed at least twice
    expect(audit.stats().spool?.written).toBe(10);
    // pipeline health while the sink is down: 10 records waiting, the oldest for a while
    let metrics = await metricValues(reader);
    expect(metrics.get(METRIC_AUDIT_SPOOL_DEPTH)).toBe(10);
    expect(metrics.get(METRIC_AUDIT_SPOOL_AGE)).toBeGreaterThan(0);
    const receiver = await startReceiver(port);
    cleanups.push(() => receiver.close());
    await traffic(app.url, 2); // 14 more while draining
    await audit.drain();
    expect(receiver.records).toHaveLength(84);
    expect(new Set(receiver.records.map((r) => r.event_id)).size).toBe(84);
    expect(audit.stats().spool?.segments).toBe(0);
    metrics = await metricValues(reader);
    expect(metrics.get(METRIC_AUDIT_SPOOL_DEPTH)).toBe(0);
    expect(metrics.get(METRIC_AUDIT_SPOOL_AGE)).toBe(0);
    expect(metrics.get(METRIC_AUDIT_SHIP_LAG)).toBeGreaterThanOrEqual(1); // segments shipped, lag recorded
    expect(metrics.get(METRIC_AUDIT_RECORDS_QUARANTINED)).toBe(0);
  });

  it('honours 503 + Retry-After and retries the same batch', async () => {
    const dir = await tempDir();
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    receiver.failNext(2, 503, 0);
    const audit = fhirAudit({
      spoolDir: dir,
      sinkUrl: receiver.url,
      hmacKey: 'k',
      shipIntervalMs: 20,
      flushIntervalMs: 5,
      onError: () => {},
    });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    await traffic(app.url, 3);
    await audit.drain();
    expect(receiver.records).toHaveLength(21);
    expect(audit.stats().shipper?.failedAttempts).toBeGreaterThanOrEqual(2);
  });

  it('ships gzip-compressed batches when asked', async () => {
    const dir = await tempDir();
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const audit = fhirAudit({
      spoolDir: dir,
      sinkUrl: receiver.url,
      hmacKey: 'k',
      gzip: true,
      shipIntervalMs: 20,
      flushIntervalMs: 5,
    });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    await traffic(app.url, 2);
    await audit.drain();
    expect(receiver.records).toHaveLength(14);
    expect(receiver.gzipBatches).toBeGreaterThan(0);
  });

  it('quarantines the record the sink rejects as invalid (400) in rejected/ and goes on with the rest', async () => {
    const dir = await tempDir();
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const errors: FhirAuditError[] = [];
    const audit = fhirAudit({
      spoolDir: dir,
      sinkUrl: receiver.url,
      hmacKey: 'k',
      shipIntervalMs: 20,
      flushIntervalMs: 5,
      onError: (e) => errors.push(e),
    });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    await audit.ready();
    receiver.rejectRecords((r) => r.seq === 2);
    await traffic(app.url, 3); // 3 request records of 7 per-patient rows each
    await audit.drain();
    expect(errors.map((e) => e.code)).toContain(AUDIT_ERROR_CODES.sinkRejected);
    expect((await readdir(join(dir, 'rejected'))).length).toBe(1);
    expect(receiver.requests.map((r) => r.seq)).toEqual([1, 3]);
    expect(receiver.records).toHaveLength(14);
    expect(audit.stats().shipper?.rejectedRecords).toBe(1);
    await traffic(app.url, 1);
    await audit.drain();
    expect(receiver.records).toHaveLength(21);
  });

  it('ships on start what an earlier run left in the spool, continuing its chain', async () => {
    const dir = await tempDir();
    const first = fhirAudit({ spoolDir: dir, recordedBy: 'w', hmacKey: 'k', flushIntervalMs: 5 }); // no sink
    const app1 = await listen(first.wrap(fhirHandler()));
    await traffic(app1.url, 2);
    await app1.close();
    await first.shutdown();
    // what the earlier run left counts in the spool depth of the next one (pipeline health after a restart)
    const reopened = await AuditSpool.open({ dir, recordedBy: 'w', hmacKey: 'k' });
    expect(reopened.stats().unshipped).toBe(2);
    await reopened.close();
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const second = fhirAudit({
      spoolDir: dir,
      recordedBy: 'w',
      hmacKey: 'k',
      sinkUrl: receiver.url,
      shipIntervalMs: 20,
      flushIntervalMs: 5,
    });
    const app2 = await listen(second.wrap(fhirHandler()));
    cleanups.push(
      () => second.shutdown(),
      () => app2.close(),
    );
    await traffic(app2.url, 1);
    await second.drain();
    // one request record per search (seq 1..3), each expanding to its 7 patients
    expect(receiver.requests.map((r) => r.seq).sort((a, b) => a - b)).toEqual([1, 2, 3]);
    expect(receiver.records).toHaveLength(21);
    expect(receiver.framedBatches).toBe(receiver.batches); // segment bytes as they are
  });

  it('under steady traffic ships the active segment once it is shipIntervalMs old, not after every POST', async () => {
    // A sink that holds the first POST until more records are spooled: the shipper then finds a fresh
    // active segment. It waits for that segment to be shipIntervalMs old (one POST, one chain-file write,
    // one new segment per interval) instead of sealing and posting it the moment the first POST returns.
    const interval = 1500;
    const posts: { at: number; lines: number }[] = [];
    let releaseFirst: () => void = () => {};
    const firstHeld = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let sawFirst: () => void = () => {};
    const firstArrived = new Promise<void>((resolve) => {
      sawFirst = resolve;
    });
    let sawSecond: () => void = () => {};
    const secondArrived = new Promise<void>((resolve) => {
      sawSecond = resolve;
    });
    const sink = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const lines = Buffer.concat(chunks)
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== '').length;
        posts.push({ at: Date.now(), lines });
        if (posts.length === 1) {
          sawFirst();
          await firstHeld;
        }
        if (posts.length === 2) sawSecond();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ accepted: lines, duplicates: 0 }));
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => sink.close(() => resolve())));
    const dir = await tempDir();
    const audit = fhirAudit({
      spoolDir: dir,
      sinkUrl: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
      hmacKey: 'k',
      shipIntervalMs: interval,
      flushIntervalMs: 5,
    });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    await traffic(app.url, 1);
    await audit.flush();
    await firstArrived; // the first segment (1 record) is being posted and held
    const before = Date.now();
    await traffic(app.url, 3);
    await audit.flush(); // 3 records in the new active segment, first written at or after `before`
    releaseFirst();
    await secondArrived;
    expect(posts.map((p) => p.lines)).toEqual([1, 3]);
    // sealed no earlier than shipIntervalMs after its first record (the old loop posted it at once)
    expect((posts[1]?.at ?? 0) - before).toBeGreaterThanOrEqual(interval);
  });
});
