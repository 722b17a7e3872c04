/**
 * The sink's pipeline-health metrics (`fhirwatch.sink.ingest.rows`, `fhirwatch.sink.telemetry.refused`, both
 * per `table`) land in its own otel_metrics_sum table, measured by the OpenTelemetry metrics SDK.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';
import { SELF_METRICS_SERVICE, SINK_METRIC_NAMES } from '../src/ingest/index.ts';

let dir: string;
let sink: SinkServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-self-metrics-'));
  // an interval far beyond the test: points are stored by flush() and by close()
  sink = await startSink({
    store: join(dir, 'store'),
    flushIntervalMs: 20,
    selfMetricsIntervalMs: 3_600_000,
    logger: () => {},
  });
});
afterAll(async () => {
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Latest cumulative value per table of one of the sink's own counters. */
async function latest(metric: string): Promise<Record<string, number>> {
  const rows = await (
    await sink.client.query({
      query: `SELECT Attributes['table'] AS table, argMax(Value, TimeUnix) AS value, any(IsMonotonic) AS monotonic,
                     any(AggregationTemporality) AS temporality, any(MetricUnit) AS unit
              FROM otel_metrics_sum
              WHERE ServiceName = {service:String} AND MetricName = {metric:String}
              GROUP BY table`,
      query_params: { service: SELF_METRICS_SERVICE, metric },
      format: 'JSONEachRow',
    })
  ).json<{ table: string; value: number; monotonic: boolean; temporality: number; unit: string }>();
  for (const row of rows) expect(row).toMatchObject({ monotonic: true, temporality: 2, unit: '{row}' });
  return Object.fromEntries(rows.map((row) => [row.table, row.value]));
}

describe('sink pipeline-health metrics', () => {
  it('count stored and refused rows per table, through the sink own meter into otel_metrics_sum', async () => {
    const time = String(BigInt(Date.now()) * 1_000_000n);
    const res = await fetch(`${sink.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'sender' } }] },
            scopeLogs: [
              {
                logRecords: [
                  ...Array.from({ length: 9 }, () => ({ timeUnixNano: time, body: { stringValue: 'ok' } })),
                  // SeverityNumber is UInt8: the store refuses -1
                  { timeUnixNano: time, severityNumber: -1, body: { stringValue: 'bad' } },
                ],
              },
            ],
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { partialSuccess: { rejectedLogRecords: string } }).partialSuccess).toMatchObject({
      rejectedLogRecords: '1',
    });

    await sink.selfMetrics?.flush();
    const ingest = await latest(SINK_METRIC_NAMES.ingestRows);
    expect(ingest.otel_logs).toBe(9);
    expect(ingest.audit_events).toBe(0);
    expect(ingest.otel_traces).toBe(0);
    const refused = await latest(SINK_METRIC_NAMES.telemetryRefused);
    expect(refused.otel_logs).toBe(1);
    expect(refused.otel_traces).toBe(0);

    // the first collection's own points were stored too, and the next collection counts them
    await sink.selfMetrics?.flush();
    const again = await latest(SINK_METRIC_NAMES.ingestRows);
    // 8 ingest series (7 telemetry tables + audit_events) and 7 refused series from the first collection
    expect(again.otel_metrics_sum).toBe(15);

    // the README's rows/s query over two collections
    const rates = await (
      await sink.client.query({
        query: `SELECT table, rows_per_s FROM (
                  SELECT Attributes['table'] AS table, TimeUnix,
                         (Value - lagInFrame(Value) OVER w)
                           / ((toUnixTimestamp64Milli(TimeUnix) - toUnixTimestamp64Milli(lagInFrame(TimeUnix) OVER w)) / 1000) AS rows_per_s,
                         row_number() OVER w AS n
                  FROM otel_metrics_sum
                  WHERE ServiceName = 'fhirwatch-sink' AND MetricName = 'fhirwatch.sink.ingest.rows'
                  WINDOW w AS (PARTITION BY Attributes['table'] ORDER BY TimeUnix ROWS BETWEEN 1 PRECEDING AND CURRENT ROW))
                WHERE n = 2 AND table IN ('otel_logs', 'otel_metrics_sum')`,
        format: 'JSONEachRow',
      })
    ).json<{ table: string; rows_per_s: number }>();
    const byTable = Object.fromEntries(rates.map((r) => [r.table, r.rows_per_s]));
    expect(byTable.otel_logs).toBe(0); // no logs between the two collections
    expect(byTable.otel_metrics_sum).toBeGreaterThan(0);
  });
});
