/**
 * Store unavailable mid-stream: audit batches get 503 + Retry-After (the sender keeps and retries them),
 * telemetry goes to the disk spool and is replayed; afterwards counts are exact with no duplicates.
 * Two real failures: tables detached from the running chDB store, and a ClickHouse URL nobody listens on
 * (then a restart on a working store replays the spool).
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';
import { generateRecords } from './records.ts';

let dir: string;
let storeDir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-outage-'));
  storeDir = join(dir, 'store');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ndjson = (records: readonly AuditRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

interface SendLog {
  statuses: number[];
  accepted: number;
  duplicates: number;
}

/** An at-least-once sender like the middleware's shipper: keeps a batch until it gets a 200. */
async function sendUntilAcked(
  url: string,
  records: readonly AuditRecord[],
  log: SendLog,
  onRetry?: () => void,
): Promise<void> {
  for (let attempt = 0; attempt < 2000; attempt++) {
    const res = await fetch(`${url}/v1/audit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: ndjson(records),
    }).catch(() => undefined);
    if (res === undefined) continue;
    log.statuses.push(res.status);
    const body = (await res.json()) as { accepted: number; duplicates: number };
    if (res.status === 200) {
      log.accepted += body.accepted;
      log.duplicates += body.duplicates;
      return;
    }
    expect([429, 503]).toContain(res.status);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    onRetry?.();
    // honour Retry-After, shortened for the test
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('batch never acknowledged');
}

const OTLP_BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

function otlpSpans(service: string, from: number, count: number): string {
  // an hour ago, so that the 30-day telemetry TTL never expires the spans under the test
  const base = BigInt(OTLP_BASE_MS) * 1_000_000n;
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [
          {
            scope: { name: 'outage-test' },
            spans: Array.from({ length: count }, (_, k) => {
              const i = from + k;
              return {
                traceId: (i + 1).toString(16).padStart(32, '0'),
                spanId: (i + 1).toString(16).padStart(16, '0'),
                name: 'GET /Patient/:id',
                kind: 2,
                startTimeUnixNano: String(base + BigInt(i) * 1_000_000n),
                endTimeUnixNano: String(base + BigInt(i) * 1_000_000n + 5_000_000n),
              };
            }),
          },
        ],
      },
    ],
  });
}

async function postSpans(url: string, body: string): Promise<number> {
  const res = await fetch(`${url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

async function scalar(sink: SinkServer, query: string): Promise<number> {
  const rows = await (await sink.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(rows[0]?.n);
}

describe('store unavailable mid-stream (tables detached from the running store)', () => {
  it('audit: 503 + Retry-After while down, exact counts and no duplicates after recovery', async () => {
    const sink = await startSink({
      store: storeDir,
      probeIntervalMs: 50,
      flushIntervalMs: 20,
      retry: { attempts: 2, minDelayMs: 5 },
    });
    try {
      const batches = Array.from({ length: 30 }, (_, b) => generateRecords({ count: 200, offset: b * 200 }));
      const log: SendLog = { statuses: [], accepted: 0, duplicates: 0 };
      let spansSent = 0;
      // first third while the store is up
      for (const batch of batches.slice(0, 10)) await sendUntilAcked(sink.url, batch, log);
      expect(await postSpans(sink.url, otlpSpans('outage', 0, 100))).toBe(200);
      spansSent += 100;
      await sink.telemetry.flush();

      await sink.client.command({ query: 'DETACH TABLE audit_requests' });
      await sink.client.command({ query: 'DETACH TABLE otel_traces' });
      let attached = false;
      const reattach = (): void => {
        if (attached || log.statuses.filter((s) => s === 503).length < 5) return;
        attached = true;
        // telemetry received while down must be in the spool before the store comes back
        void (async () => {
          expect(await postSpans(sink.url, otlpSpans('outage', 100, 100))).toBe(200);
          spansSent += 100;
          await sink.telemetry.flush();
          expect(sink.spool.files().length).toBeGreaterThan(0);
          await sink.client.command({ query: 'ATTACH TABLE otel_traces' });
          await sink.client.command({ query: 'ATTACH TABLE audit_requests' });
        })();
      };
      // the rest while the store goes away and comes back; each batch is sent twice (a lost ack redelivered)
      await Promise.all(
        batches.slice(10).map(async (batch) => {
          await sendUntilAcked(sink.url, batch, log, reattach);
          await sendUntilAcked(sink.url, batch, log, reattach);
        }),
      );
      expect(attached).toBe(true);
      expect(log.statuses).toContain(503);
      expect(log.accepted).toBe(30 * 200);
      expect(log.duplicates).toBe(20 * 200);
      expect(await scalar(sink, 'SELECT count() AS n FROM audit_events')).toBe(6000);
      expect(await scalar(sink, 'SELECT uniqExact(event_id) AS n FROM audit_events')).toBe(6000);

      // the spool drains once the store is back (the monitor starts a replay; this joins or repeats it)
      await sink.telemetry.replay();
      expect(sink.spool.files()).toEqual([]);
      expect(await scalar(sink, "SELECT count() AS n FROM otel_traces WHERE ServiceName = 'outage'")).toBe(spansSent);
    } finally {
      await sink.close();
    }
  });
});

describe('ClickHouse unreachable, then restart on a working store', () => {
  it('audit answers 503, telemetry is spooled, and a restart replays the spool exactly once', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const deadPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const spoolDir = join(dir, 'spool-url');

    const down = await startSink({
      clickhouseUrl: `http://127.0.0.1:${deadPort}`,
      spoolDir,
      probeIntervalMs: 50,
      flushIntervalMs: 20,
      retry: { attempts: 2, minDelayMs: 5 },
    });
    try {
      // alive, but not ready: the store check fails (and says so without naming the store's address)
      expect((await fetch(`${down.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${down.url}/readyz`);
      expect(ready.status).toBe(503);
      const readyBody = (await ready.json()) as { failing: string[] };
      expect(readyBody.failing).toEqual(['store']);
      expect(JSON.stringify(readyBody)).not.toContain('127.0.0.1');
      const res = await fetch(`${down.url}/v1/audit`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: ndjson(generateRecords({ count: 5, offset: 90_000 })),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).not.toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FW_SINK_STORE_UNAVAILABLE');
      for (let i = 0; i < 5; i++) expect(await postSpans(down.url, otlpSpans('restart', i * 40, 40))).toBe(200);
    } finally {
      await down.close();
    }
    const spooled = readdirSync(join(spoolDir, 'otel_traces'));
    expect(spooled.length).toBeGreaterThan(0);
    // keep a copy of one file to simulate a crash between a replayed insert and the file's deletion
    const first = spooled.sort()[0]!;
    copyFileSync(join(spoolDir, 'otel_traces', first), join(dir, 'kept.ndjson'));

    const up = await startSink({ store: storeDir, spoolDir });
    try {
      expect(up.spool.files()).toEqual([]);
      expect(await scalar(up, "SELECT count() AS n FROM otel_traces WHERE ServiceName = 'restart'")).toBe(200);
      copyFileSync(join(dir, 'kept.ndjson'), join(spoolDir, 'otel_traces', first));
      await up.telemetry.replay();
      expect(up.spool.files()).toEqual([]);
      expect(await scalar(up, "SELECT count() AS n FROM otel_traces WHERE ServiceName = 'restart'")).toBe(200);
    } finally {
      await up.close();
    }
  });
});
