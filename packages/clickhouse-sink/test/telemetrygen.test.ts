/**
 * The OpenTelemetry Collector's load generator, `telemetrygen` (Go, opentelemetry-collector-contrib
 * cmd/telemetrygen, built on first use by @fhirwatch/testkit/telemetrygen with `go install`), sends OTLP/HTTP protobuf to the real sink on chDB, and
 * every span, data point and log record lands. Its gauges carry no start time: before issue 11 the whole
 * batch was refused by the store (and dropped after a 200).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { telemetrygen as buildTelemetrygen, TELEMETRYGEN_BUILD_TIMEOUT_MS } from '@fhirwatch/testkit/telemetrygen';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';

const run = promisify(execFile);

let dir: string;
let sink: SinkServer;
let telemetrygen: string;

// The first run builds telemetrygen (go install, minutes on a loaded machine); later runs reuse the cached binary.
beforeAll(async () => {
  telemetrygen = await buildTelemetrygen();
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-telemetrygen-'));
  sink = await startSink({ store: join(dir, 'store'), flushIntervalMs: 50, selfMetricsIntervalMs: 0 });
}, TELEMETRYGEN_BUILD_TIMEOUT_MS + 60_000);
afterAll(async () => {
  await sink?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** One bounded telemetrygen run over OTLP/HTTP (protobuf) against the sink; fails the test if it fails. */
async function generate(signal: 'traces' | 'metrics' | 'logs', service: string, args: string[]): Promise<string> {
  const endpoint = new URL(sink.url).host;
  const { stderr } = await run(
    telemetrygen,
    [
      signal,
      '--otlp-http',
      '--otlp-insecure',
      '--otlp-endpoint',
      endpoint,
      '--service',
      service,
      '--rate',
      '0',
      ...args,
    ],
    { timeout: 60_000 },
  );
  return stderr;
}

async function count(table: string, service: string): Promise<number> {
  const rows = await (
    await sink.client.query({
      query: `SELECT count() AS n FROM ${table} WHERE ServiceName = {service:String}`,
      query_params: { service },
      format: 'JSONEachRow',
    })
  ).json<{ n: string }>();
  return Number(rows[0]?.n);
}

describe('telemetrygen → sink (OTLP/HTTP protobuf, real chDB store)', () => {
  it('traces: every span lands (telemetrygen sends a parent and a child per trace)', async () => {
    await generate('traces', 'tg-traces', ['--traces', '6']);
    await sink.telemetry.flush();
    expect(await count('otel_traces', 'tg-traces')).toBe(12);
    const [lookup] = await (
      await sink.client.query({
        query: `SELECT count() AS traces FROM otel_traces_trace_id_ts
                WHERE TraceId IN (SELECT TraceId FROM otel_traces WHERE ServiceName = 'tg-traces')`,
        format: 'JSONEachRow',
      })
    ).json<{ traces: string }>();
    expect(Number(lookup?.traces)).toBe(6);
  });

  it('gauges without a start time land, with StartTimeUnix at the epoch', async () => {
    await generate('metrics', 'tg-gauge', ['--metrics', '8', '--metric-type', 'Gauge']);
    await sink.telemetry.flush();
    expect(await count('otel_metrics_gauge', 'tg-gauge')).toBe(8);
    const rows = await (
      await sink.client.query({
        query: `SELECT DISTINCT toUnixTimestamp64Nano(StartTimeUnix) AS start, TimeUnix > now() - INTERVAL 1 HOUR AS recent
                FROM otel_metrics_gauge WHERE ServiceName = 'tg-gauge'`,
        format: 'JSONEachRow',
      })
    ).json<{ start: string; recent: number }>();
    expect(rows.map((r) => ({ start: String(r.start), recent: Number(r.recent) }))).toEqual([
      { start: '0', recent: 1 },
    ]);
    expect(sink.telemetry.stats.refusedRows).toBe(0);
  });

  it('sums, histograms and exponential histograms land in their tables', async () => {
    await generate('metrics', 'tg-sum', ['--metrics', '4', '--metric-type', 'Sum']);
    await generate('metrics', 'tg-histogram', ['--metrics', '4', '--metric-type', 'Histogram']);
    await generate('metrics', 'tg-exp', ['--metrics', '4', '--metric-type', 'ExponentialHistogram']);
    await sink.telemetry.flush();
    expect(await count('otel_metrics_sum', 'tg-sum')).toBe(4);
    expect(await count('otel_metrics_histogram', 'tg-histogram')).toBe(4);
    expect(await count('otel_metrics_exponential_histogram', 'tg-exp')).toBe(4);
  });

  it('logs: every record lands', async () => {
    await generate('logs', 'tg-logs', ['--logs', '7']);
    await sink.telemetry.flush();
    expect(await count('otel_logs', 'tg-logs')).toBe(7);
    expect(sink.telemetry.stats.refusedRows).toBe(0);
    expect(sink.telemetry.stats.droppedRows).toBe(0);
  });

  it('a timed run (--duration, 2 workers) loses nothing the generator sent', async () => {
    const log = await generate('logs', 'tg-duration', ['--duration', '2s', '--workers', '2', '--rate', '50']);
    // each worker reports `logs generated {"worker": n, "logs": count}` when it stops
    const generated = [...log.matchAll(/logs generated\s+\{"worker": \d+, "logs": (\d+)\}/g)].map((m) => Number(m[1]));
    expect(generated).toHaveLength(2);
    const sent = generated.reduce((a, b) => a + b, 0);
    expect(sent).toBeGreaterThan(50);
    await sink.telemetry.flush();
    expect(await count('otel_logs', 'tg-duration')).toBe(sent);
    expect(sink.telemetry.stats.droppedRows).toBe(0);
    expect(sink.telemetry.stats.spooledRows).toBe(0);
  });
});
