/**
 * The telemetry tables stay a drop-in target for the OpenTelemetry Collector's ClickHouse exporter
 * (opentelemetry-collector-contrib exporter/clickhouseexporter, non-JSON DDL in internal/sqltemplates):
 * every column its INSERTs name exists with the exporter's type, migration 5 brings EventName and the
 * trace-id lookup to stores created before it, and the exporter's "trace by id" read works.
 * No ClickHouse server runs here, so the Collector itself is not started: the contract is checked on the schema.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openStore, startSink } from '../src/index.ts';
import { MIGRATIONS_TABLE, OTEL_TABLES } from '../src/store/index.ts';
import { TRACE_ID_TS_TABLE } from '../src/store/schema/index.ts';

/** Column → type of the exporter's tables (as of opentelemetry-collector-contrib v0.161, non-JSON schema). */
const COLLECTOR_COLUMNS: Record<string, Record<string, string>> = {
  [OTEL_TABLES.logs]: {
    Timestamp: 'DateTime64(9)',
    TimestampTime: 'DateTime',
    TraceId: 'String',
    SpanId: 'String',
    TraceFlags: 'UInt8',
    SeverityText: 'LowCardinality(String)',
    SeverityNumber: 'UInt8',
    ServiceName: 'LowCardinality(String)',
    Body: 'String',
    ResourceSchemaUrl: 'LowCardinality(String)',
    ResourceAttributes: 'Map(LowCardinality(String), String)',
    ScopeSchemaUrl: 'LowCardinality(String)',
    ScopeName: 'String',
    ScopeVersion: 'LowCardinality(String)',
    ScopeAttributes: 'Map(LowCardinality(String), String)',
    LogAttributes: 'Map(LowCardinality(String), String)',
    EventName: 'String',
  },
  [OTEL_TABLES.traces]: {
    Timestamp: 'DateTime64(9)',
    TraceId: 'String',
    SpanId: 'String',
    ParentSpanId: 'String',
    TraceState: 'String',
    SpanName: 'LowCardinality(String)',
    SpanKind: 'LowCardinality(String)',
    ServiceName: 'LowCardinality(String)',
    ResourceAttributes: 'Map(LowCardinality(String), String)',
    ScopeName: 'String',
    ScopeVersion: 'String',
    SpanAttributes: 'Map(LowCardinality(String), String)',
    Duration: 'UInt64',
    StatusCode: 'LowCardinality(String)',
    StatusMessage: 'String',
    'Events.Timestamp': 'Array(DateTime64(9))',
    'Events.Name': 'Array(LowCardinality(String))',
    'Events.Attributes': 'Array(Map(LowCardinality(String), String))',
    'Links.TraceId': 'Array(String)',
    'Links.SpanId': 'Array(String)',
    'Links.TraceState': 'Array(String)',
    'Links.Attributes': 'Array(Map(LowCardinality(String), String))',
  },
  [TRACE_ID_TS_TABLE]: {
    TraceId: 'String',
    Start: 'SimpleAggregateFunction(min, DateTime)',
    End: 'SimpleAggregateFunction(max, DateTime)',
  },
  [OTEL_TABLES.gauge]: {
    ResourceAttributes: 'Map(LowCardinality(String), String)',
    ResourceSchemaUrl: 'String',
    ScopeName: 'String',
    ScopeVersion: 'String',
    ScopeAttributes: 'Map(LowCardinality(String), String)',
    ScopeDroppedAttrCount: 'UInt32',
    ScopeSchemaUrl: 'String',
    ServiceName: 'LowCardinality(String)',
    MetricName: 'String',
    MetricDescription: 'String',
    MetricUnit: 'String',
    Attributes: 'Map(LowCardinality(String), String)',
    StartTimeUnix: 'DateTime64(9)',
    TimeUnix: 'DateTime64(9)',
    Value: 'Float64',
    Flags: 'UInt32',
    'Exemplars.FilteredAttributes': 'Array(Map(LowCardinality(String), String))',
    'Exemplars.TimeUnix': 'Array(DateTime64(9))',
    'Exemplars.Value': 'Array(Float64)',
    'Exemplars.SpanId': 'Array(String)',
    'Exemplars.TraceId': 'Array(String)',
  },
};

/** Columns the exporter's exponential-histogram INSERT names (config: metrics_tables.exponential_histogram.name). */
const COLLECTOR_EXP_HISTOGRAM_INSERT = [
  'ResourceAttributes',
  'ResourceSchemaUrl',
  'ScopeName',
  'ScopeVersion',
  'ScopeAttributes',
  'ScopeDroppedAttrCount',
  'ScopeSchemaUrl',
  'ServiceName',
  'MetricName',
  'MetricDescription',
  'MetricUnit',
  'Attributes',
  'StartTimeUnix',
  'TimeUnix',
  'Count',
  'Sum',
  'Scale',
  'ZeroCount',
  'PositiveOffset',
  'PositiveBucketCounts',
  'NegativeOffset',
  'NegativeBucketCounts',
  'Exemplars.FilteredAttributes',
  'Exemplars.TimeUnix',
  'Exemplars.Value',
  'Exemplars.SpanId',
  'Exemplars.TraceId',
  'Flags',
  'Min',
  'Max',
  'AggregationTemporality',
];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-collector-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function columns(client: ClickHouseClient, table: string): Promise<Map<string, string>> {
  const rows = await (
    await client.query({
      query: 'SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {table:String}',
      query_params: { table },
      format: 'JSONEachRow',
    })
  ).json<{ name: string; type: string }>();
  return new Map(rows.map((r) => [r.name, r.type]));
}

describe('Collector ClickHouse exporter compatibility', () => {
  it('migration 5 upgrades a store created before it (EventName after LogAttributes, lookup table and view)', async () => {
    const client = openStore({ path: join(dir, 'upgrade') });
    try {
      // a store as migrations 1-4 left it (migrated, then migration 5 undone), with a log row written then
      await migrate(client);
      const sync = { clickhouse_settings: { mutations_sync: '2' as const } };
      await client.command({ query: 'DROP VIEW otel_traces_trace_id_ts_mv' });
      await client.command({ query: 'DROP TABLE otel_traces_trace_id_ts' });
      await client.command({ query: 'ALTER TABLE otel_logs DROP COLUMN EventName', ...sync });
      await client.command({ query: `ALTER TABLE ${MIGRATIONS_TABLE} DELETE WHERE version = 5`, ...sync });
      expect((await columns(client, OTEL_TABLES.logs)).has('EventName')).toBe(false);
      await client.insert({
        table: OTEL_TABLES.logs,
        values: [{ Timestamp: `${Math.floor(Date.now() / 1000)}.000000000`, ServiceName: 'before-5', Body: 'old' }],
        format: 'JSONEachRow',
      });

      const result = await migrate(client);
      expect(result.applied).toEqual([5]);
      const logs = [...(await columns(client, OTEL_TABLES.logs)).keys()];
      expect(logs.indexOf('EventName')).toBe(logs.indexOf('LogAttributes') + 1);
      expect((await columns(client, TRACE_ID_TS_TABLE)).size).toBe(3);
      const [old] = await (
        await client.query({
          query: "SELECT EventName FROM otel_logs WHERE ServiceName = 'before-5'",
          format: 'JSONEachRow',
        })
      ).json<{ EventName: string }>();
      expect(old).toEqual({ EventName: '' });
      expect((await migrate(client)).applied).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('every column the exporter writes exists with its type', async () => {
    const client = openStore({ path: join(dir, 'columns') });
    try {
      await migrate(client);
      for (const [table, expected] of Object.entries(COLLECTOR_COLUMNS)) {
        const actual = await columns(client, table);
        for (const [name, type] of Object.entries(expected)) {
          expect({ table, name, type: actual.get(name) }).toEqual({ table, name, type });
        }
      }
      const exp = await columns(client, OTEL_TABLES.exponentialHistogram);
      expect(COLLECTOR_EXP_HISTOGRAM_INSERT.filter((name) => !exp.has(name))).toEqual([]);
      expect(OTEL_TABLES.exponentialHistogram).toBe('otel_metrics_exponential_histogram');
    } finally {
      await client.close();
    }
  });

  it("spans through the sink fill the lookup, and the exporter's trace-by-id read finds them; EventName is stored", async () => {
    const sink = await startSink({ store: join(dir, 'sink'), flushIntervalMs: 20, selfMetricsIntervalMs: 0 });
    try {
      const traceId = '391dae938234560b16bb63f51501cb6f';
      const base = BigInt(Date.now()) * 1_000_000n;
      const span = (i: number, offsetSeconds: number) => ({
        traceId,
        spanId: (i + 1).toString(16).padStart(16, '0'),
        name: `op-${i}`,
        startTimeUnixNano: String(base + BigInt(offsetSeconds) * 1_000_000_000n),
        endTimeUnixNano: String(base + BigInt(offsetSeconds) * 1_000_000_000n + 1000n),
      });
      const post = (path: string, body: unknown) =>
        fetch(`${sink.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect(
        (await post('/v1/traces', { resourceSpans: [{ scopeSpans: [{ spans: [span(0, 0), span(1, 5)] }] }] })).status,
      ).toBe(200);
      expect((await post('/v1/traces', { resourceSpans: [{ scopeSpans: [{ spans: [span(2, 9)] }] }] })).status).toBe(
        200,
      );
      expect(
        (
          await post('/v1/logs', {
            resourceLogs: [
              { scopeLogs: [{ logRecords: [{ timeUnixNano: String(base), eventName: 'session.start' }] }] },
            ],
          })
        ).status,
      ).toBe(200);

      const [bounds] = await (
        await sink.client.query({
          query: `SELECT toUnixTimestamp(min(Start)) AS start, toUnixTimestamp(max(End)) AS end
                  FROM otel_traces_trace_id_ts WHERE TraceId = {traceId:String}`,
          query_params: { traceId },
          format: 'JSONEachRow',
        })
      ).json<{ start: number; end: number }>();
      const startSeconds = Number(base / 1_000_000_000n);
      expect(bounds).toEqual({ start: startSeconds, end: startSeconds + 9 });
      // the exporter README's query shape: bound Timestamp by the lookup, then filter by TraceId
      const spans = await (
        await sink.client.query({
          query: `WITH
                    {traceId:String} AS trace_id,
                    (SELECT min(Start) FROM otel_traces_trace_id_ts WHERE TraceId = trace_id) AS start,
                    (SELECT max(End) + 1 FROM otel_traces_trace_id_ts WHERE TraceId = trace_id) AS end
                  SELECT SpanName FROM otel_traces
                  WHERE TraceId = trace_id AND Timestamp >= start AND Timestamp <= end
                  ORDER BY Timestamp`,
          query_params: { traceId },
          format: 'JSONEachRow',
        })
      ).json<{ SpanName: string }>();
      expect(spans.map((s) => s.SpanName)).toEqual(['op-0', 'op-1', 'op-2']);

      const [log] = await (
        await sink.client.query({
          query: "SELECT EventName FROM otel_logs WHERE EventName != ''",
          format: 'JSONEachRow',
        })
      ).json<{ EventName: string }>();
      expect(log).toEqual({ EventName: 'session.start' });
    } finally {
      await sink.close();
    }
  });
});
