/**
 * Nothing lost silently (issue 11): one telemetry row the store refuses loses only itself, the sender is told
 * (OTLP partial_success), the refusal is counted and logged without values, spool replay isolates the same
 * way, and a request whose rows can be neither stored nor spooled never gets a 200.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SinkLogEntry, type SinkServer, startSink } from '../src/index.ts';
import { mapTraces, Spool } from '../src/ingest/index.ts';
import { OTLP_REQUEST_TYPES } from '../src/ingest/otlp/proto.ts';

let dir: string;
let sink: SinkServer;
const logged: SinkLogEntry[] = [];
const MARKER = 'do-not-log-me-7f3a';
const nowNanos = (): bigint => BigInt(Date.now()) * 1_000_000n;
/** 2264-09-14: a valid OTLP fixed64 past DateTime64(9)'s range (2262-04-11), which the store refuses. */
const FAR_FUTURE = '9300000000000000000';

async function count(query: string): Promise<number> {
  const rows = await (await sink.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(rows[0]?.n);
}

function spans(service: string, n: number, bad: number[] = []): Record<string, unknown> {
  const start = nowNanos();
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [
          {
            spans: Array.from({ length: n }, (_, i) => ({
              traceId: (i + 1).toString(16).padStart(32, 'a'),
              spanId: (i + 1).toString(16).padStart(16, '0'),
              name: `${MARKER}-${i}`,
              kind: 2,
              startTimeUnixNano: bad.includes(i) ? FAR_FUTURE : String(start),
              endTimeUnixNano: String(start + 1_000_000n),
            })),
          },
        ],
      },
    ],
  };
}

/** telemetrygen-shaped gauge points: no startTimeUnixNano. `badFlags` points carry flags the store refuses. */
function gauges(service: string, n: number, badFlags: number[] = []): Record<string, unknown> {
  const time = String(nowNanos());
  return {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'gen',
                gauge: {
                  dataPoints: Array.from({ length: n }, (_, i) => ({
                    timeUnixNano: time,
                    asInt: String(i),
                    attributes: [{ key: 'i', value: { intValue: String(i) } }],
                    ...(badFlags.includes(i) ? { flags: -1 } : {}),
                  })),
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

const postJson = (path: string, body: unknown, url = sink.url): Promise<Response> =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-refusals-'));
  sink = await startSink({
    store: join(dir, 'store'),
    flushIntervalMs: 100,
    selfMetricsIntervalMs: 0,
    logger: (entry) => logged.push(entry),
  });
});
afterAll(async () => {
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('one refused telemetry row among good ones', () => {
  it('loses only itself: the other rows of its request and of other senders in the same batch are stored (protobuf)', async () => {
    const before = logged.length;
    const type = OTLP_REQUEST_TYPES.traces;
    const encode = (body: Record<string, unknown>): Uint8Array => type.encode(type.fromObject(body)).finish();
    const post = (body: Uint8Array): Promise<Response> =>
      fetch(`${sink.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
    // both requests land in one queued batch (100 ms linger), as concurrent senders do
    const [bad, good] = await Promise.all([
      post(encode(spans('refusal-a', 50, [17]))),
      post(encode(spans('refusal-b', 20))),
    ]);
    expect(bad.status).toBe(200);
    expect(bad.headers.get('content-type')).toBe('application/x-protobuf');
    // decoded with the OpenTelemetry JS SDK's own response decoder
    const answer = ProtobufTraceSerializer.deserializeResponse(new Uint8Array(await bad.arrayBuffer()));
    expect(Number(answer.partialSuccess?.rejectedSpans)).toBe(1);
    expect(answer.partialSuccess?.errorMessage).toBe(
      '1 item refused by the store (store error 41 CANNOT_PARSE_DATETIME); not retryable',
    );
    expect(good.status).toBe(200);
    expect((await good.arrayBuffer()).byteLength).toBe(0);

    expect(await count("SELECT count() AS n FROM otel_traces WHERE ServiceName = 'refusal-a'")).toBe(49);
    expect(await count("SELECT count() AS n FROM otel_traces WHERE ServiceName = 'refusal-b'")).toBe(20);
    expect(
      await count(`SELECT count() AS n FROM otel_traces WHERE ServiceName = 'refusal-a' AND SpanName = '${MARKER}-17'`),
    ).toBe(0);
    expect(sink.telemetry.stats.refusedByTable.otel_traces).toBe(1);

    const entries = logged.slice(before).filter((e) => e.event === 'FW_SINK_TELEMETRY_REFUSED');
    expect(entries).toEqual([expect.objectContaining({ level: 'warn', table: 'otel_traces', rows: 1 })]);
    expect(entries[0]?.errors).toEqual(['store error 41 CANNOT_PARSE_DATETIME']);
    expect(JSON.stringify(logged)).not.toContain(MARKER);
  });

  it('telemetrygen-shaped gauges (no start time) land; points whose values the store refuses are rejected alone (JSON)', async () => {
    // flags -1 passes the OTLP/JSON mapping, and ClickHouse refuses it for a UInt32 column
    const res = await postJson('/v1/metrics', gauges('refusal-gauge', 30, [4, 22]));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const answer = (await res.json()) as { partialSuccess?: { rejectedDataPoints: string; errorMessage: string } };
    expect(answer.partialSuccess?.rejectedDataPoints).toBe('2');
    expect(answer.partialSuccess?.errorMessage).toBe(
      '2 items refused by the store (store error 72 CANNOT_PARSE_NUMBER); not retryable',
    );

    const rows = await (
      await sink.client.query({
        query: `SELECT Value, toUnixTimestamp64Nano(StartTimeUnix) AS start FROM otel_metrics_gauge
                WHERE ServiceName = 'refusal-gauge' ORDER BY Value`,
        format: 'JSONEachRow',
      })
    ).json<{ Value: number; start: string }>();
    expect(rows.map((r) => r.Value)).toEqual(
      Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 4 && i !== 22),
    );
    expect(new Set(rows.map((r) => String(r.start)))).toEqual(new Set(['0']));
    expect(sink.telemetry.stats.refusedByTable.otel_metrics_gauge).toBe(2);
  });

  it('answers an all-good protobuf request with an empty Export*ServiceResponse', async () => {
    const type = OTLP_REQUEST_TYPES.traces;
    const res = await fetch(`${sink.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: type.encode(type.fromObject(spans('refusal-ok', 3))).finish(),
    });
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.length).toBe(0);
    expect(ProtobufTraceSerializer.deserializeResponse(bytes).partialSuccess).toBeUndefined();
  });
});

describe('spool replay', () => {
  it('stores the good rows of a spooled file with a refused row, counts and logs the refusal, removes the file', async () => {
    const good = spans('refusal-replay', 12, [5]);
    const rows = mapTraces(good).get('otel_traces')!;
    const spool = new Spool(sink.spool.dir, 1024 ** 2);
    spool.append('otel_traces', rows);
    const before = logged.length;
    const refusedBefore = sink.telemetry.stats.refusedByTable.otel_traces ?? 0;
    await sink.telemetry.replay();
    expect(sink.spool.files()).toEqual([]);
    expect(await count("SELECT count() AS n FROM otel_traces WHERE ServiceName = 'refusal-replay'")).toBe(11);
    expect(sink.telemetry.stats.refusedByTable.otel_traces).toBe(refusedBefore + 1);
    expect(logged.slice(before)).toEqual([
      expect.objectContaining({ event: 'FW_SINK_TELEMETRY_REFUSED', table: 'otel_traces', rows: 1 }),
    ]);
    expect(JSON.stringify(logged)).not.toContain(MARKER);
  });
});

describe('rows neither stored nor spooled', () => {
  it('get 503 + Retry-After, never a 200 (store table gone, spool too small)', async () => {
    const tight = await startSink({
      client: sink.client,
      migrate: false,
      spoolDir: join(dir, 'spool-tight'),
      maxSpoolBytes: 64,
      selfMetricsIntervalMs: 0,
      retry: { attempts: 1 },
      logger: (entry) => logged.push(entry),
    });
    const before = logged.length;
    await sink.client.command({ query: 'DETACH TABLE otel_logs' });
    try {
      const body = {
        resourceLogs: [
          {
            scopeLogs: [
              { logRecords: [{ timeUnixNano: String(nowNanos()), body: { stringValue: `${MARKER} log body` } }] },
            ],
          },
        ],
      };
      const res = await postJson('/v1/logs', body, tight.url);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).not.toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FW_SINK_STORE_UNAVAILABLE');
      expect(logged.slice(before)).toContainEqual(
        expect.objectContaining({ event: 'FW_SINK_TELEMETRY_LOST', table: 'otel_logs', rows: 1 }),
      );
      expect(JSON.stringify(logged)).not.toContain(MARKER);
    } finally {
      await sink.client.command({ query: 'ATTACH TABLE otel_logs' });
      await tight.close();
    }
    // and the protobuf logs answer decodes as an empty response once the store is back
    const type = OTLP_REQUEST_TYPES.logs;
    const ok = await fetch(`${sink.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: type
        .encode(
          type.fromObject({
            resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: String(nowNanos()), eventName: 'e' }] }] }],
          }),
        )
        .finish(),
    });
    expect(ok.status).toBe(200);
    expect(ProtobufLogsSerializer.deserializeResponse(new Uint8Array(await ok.arrayBuffer())).partialSuccess).toBe(
      undefined,
    );
  });
});
