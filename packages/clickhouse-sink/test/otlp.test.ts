/** OTLP payloads produced by the real OpenTelemetry JS SDK + OTLP/HTTP exporters (JSON and protobuf). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';

let dir: string;
let sink: SinkServer;

async function rows<T>(query: string): Promise<T[]> {
  return (await sink.client.query({ query, format: 'JSONEachRow' })).json<T>();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-otlp-'));
  sink = await startSink({ store: join(dir, 'store'), flushIntervalMs: 50 });
});
afterAll(async () => {
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
});

const encodings = [
  { name: 'json', Trace: JsonTraceExporter, Metric: JsonMetricExporter, Log: JsonLogExporter },
  { name: 'protobuf', Trace: ProtoTraceExporter, Metric: ProtoMetricExporter, Log: ProtoLogExporter },
] as const;

for (const encoding of encodings) {
  describe(`OTLP/HTTP ${encoding.name} from the OpenTelemetry JS exporters`, () => {
    const service = `svc-${encoding.name}`;
    const resource = resourceFromAttributes({ 'service.name': service, 'tenant.id': `tenant-${encoding.name}` });

    it('spans land in otel_traces (and server spans in the latency rollup)', async () => {
      const provider = new BasicTracerProvider({
        resource,
        spanProcessors: [new SimpleSpanProcessor(new encoding.Trace({ url: `${sink.url}/v1/traces` }))],
      });
      const tracer = provider.getTracer('fhirwatch-test', '1.2.3');
      for (let i = 0; i < 5; i++) {
        const span = tracer.startSpan('GET /Patient/:id', {
          kind: SpanKind.SERVER,
          attributes: {
            'http.route': '/Patient/:id',
            'http.response.status_code': i === 4 ? 503 : 200,
            'fhir.count': i,
          },
        });
        span.addEvent('upstream', { attempt: 1 });
        if (i === 4) span.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream failed' });
        span.end();
      }
      const child = tracer.startSpan('upstream call', { kind: SpanKind.CLIENT });
      child.end();
      await provider.forceFlush();
      await provider.shutdown();
      await sink.telemetry.flush();

      const spans = await rows<{
        SpanName: string;
        SpanKind: string;
        StatusCode: string;
        ScopeName: string;
        ScopeVersion: string;
        TenantId: string;
        TraceId: string;
        SpanId: string;
        Duration: string;
        route: string;
        count: string;
        events: number;
        eventAttempt: string;
      }>(
        `SELECT SpanName, SpanKind, StatusCode, ScopeName, ScopeVersion, TenantId, TraceId, SpanId, Duration,
                SpanAttributes['http.route'] AS route, SpanAttributes['fhir.count'] AS count,
                length(Events.Name) AS events, Events.Attributes[1]['attempt'] AS eventAttempt
         FROM otel_traces WHERE ServiceName = '${service}' ORDER BY Timestamp`,
      );
      expect(spans).toHaveLength(6);
      const server = spans.filter((s) => s.SpanKind === 'SPAN_KIND_SERVER');
      expect(server).toHaveLength(5);
      expect(spans.filter((s) => s.SpanKind === 'SPAN_KIND_CLIENT')).toHaveLength(1);
      expect(server.filter((s) => s.StatusCode === 'STATUS_CODE_ERROR')).toHaveLength(1);
      expect(server[0]).toMatchObject({
        ScopeName: 'fhirwatch-test',
        ScopeVersion: '1.2.3',
        TenantId: `tenant-${encoding.name}`,
        route: '/Patient/:id',
        count: '0',
        events: 1,
        eventAttempt: '1',
      });
      expect(server[0]?.TraceId).toMatch(/^[0-9a-f]{32}$/);
      expect(server[0]?.SpanId).toMatch(/^[0-9a-f]{16}$/);

      const [rollup] = await rows<{ requests: string; errors: string }>(
        `SELECT toString(sum(Requests)) AS requests, toString(sum(Errors)) AS errors FROM otel_latency_rollup WHERE TenantId = 'tenant-${encoding.name}'`,
      );
      expect(rollup).toEqual({ requests: '5', errors: '1' });
    });

    it('metrics land in otel_metrics_sum, _histogram, _gauge and _exponential_histogram', async () => {
      const reader = new PeriodicExportingMetricReader({
        exporter: new encoding.Metric({ url: `${sink.url}/v1/metrics` }),
        exportIntervalMillis: 3_600_000,
      });
      const provider = new MeterProvider({
        resource,
        readers: [reader],
        views: [{ instrumentName: 'exp.latency', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
      });
      const meter = provider.getMeter('fhirwatch-test', '1.2.3');
      meter.createCounter('requests').add(3, { route: '/Patient' });
      const histogram = meter.createHistogram('latency', { unit: 's' });
      for (const v of [0.01, 0.2, 0.3]) histogram.record(v, { route: '/Patient' });
      meter.createGauge('queue.depth').record(7);
      meter.createHistogram('exp.latency').record(0.5);
      await provider.forceFlush();
      await provider.shutdown();
      await sink.telemetry.flush();

      const [sum] = await rows<{ Value: number; IsMonotonic: boolean; route: string; TenantId: string }>(
        `SELECT Value, IsMonotonic, Attributes['route'] AS route, TenantId FROM otel_metrics_sum WHERE ServiceName = '${service}' AND MetricName = 'requests'`,
      );
      expect(sum).toEqual({ Value: 3, IsMonotonic: true, route: '/Patient', TenantId: `tenant-${encoding.name}` });
      const [hist] = await rows<{
        Count: string;
        Sum: number;
        Min: number;
        Max: number;
        MetricUnit: string;
        buckets: string;
      }>(
        `SELECT toString(Count) AS Count, Sum, Min, Max, MetricUnit, toString(arraySum(BucketCounts)) AS buckets FROM otel_metrics_histogram WHERE ServiceName = '${service}' AND MetricName = 'latency'`,
      );
      expect(hist).toMatchObject({ Count: '3', Min: 0.01, Max: 0.3, MetricUnit: 's', buckets: '3' });
      expect(hist?.Sum).toBeCloseTo(0.51);
      const [gauge] = await rows<{ Value: number }>(
        `SELECT Value FROM otel_metrics_gauge WHERE ServiceName = '${service}' AND MetricName = 'queue.depth'`,
      );
      expect(gauge).toEqual({ Value: 7 });
      const [exp] = await rows<{ Count: string; Sum: number }>(
        `SELECT toString(Count) AS Count, Sum FROM otel_metrics_exponential_histogram WHERE ServiceName = '${service}' AND MetricName = 'exp.latency'`,
      );
      expect(exp).toEqual({ Count: '1', Sum: 0.5 });
    });

    it('logs land in otel_logs', async () => {
      const provider = new LoggerProvider({
        resource,
        processors: [new SimpleLogRecordProcessor({ exporter: new encoding.Log({ url: `${sink.url}/v1/logs` }) })],
      });
      provider.getLogger('fhirwatch-test', '1.2.3').emit({
        severityNumber: SeverityNumber.WARN,
        severityText: 'WARN',
        body: 'upstream slow',
        attributes: { 'fhir.resource_type': 'Patient' },
      });
      await provider.forceFlush();
      await provider.shutdown();
      await sink.telemetry.flush();
      const [log] = await rows<{
        Body: string;
        SeverityText: string;
        SeverityNumber: number;
        rt: string;
        TenantId: string;
        ScopeName: string;
      }>(
        `SELECT Body, SeverityText, SeverityNumber, LogAttributes['fhir.resource_type'] AS rt, TenantId, ScopeName FROM otel_logs WHERE ServiceName = '${service}'`,
      );
      expect(log).toEqual({
        Body: 'upstream slow',
        SeverityText: 'WARN',
        SeverityNumber: SeverityNumber.WARN,
        rt: 'Patient',
        TenantId: `tenant-${encoding.name}`,
        ScopeName: 'fhirwatch-test',
      });
    });
  });
}

describe('OTLP backpressure', () => {
  it('answers 429 + Retry-After when the telemetry queue is full, and queues nothing of that request', async () => {
    const small = await startSink({
      client: sink.client,
      migrate: false,
      maxPendingTelemetryRows: 10,
      spoolDir: join(dir, 'spool-small'),
    });
    try {
      const spans = Array.from({ length: 20 }, (_, i) => ({
        traceId: '1'.repeat(32),
        spanId: (i + 1).toString(16).padStart(16, '0'),
        name: 'x',
        startTimeUnixNano: '1764064800000000000',
        endTimeUnixNano: '1764064800001000000',
      }));
      const res = await fetch(`${small.url}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }),
      });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FW_SINK_BUSY');
      expect(small.telemetry.pending).toBe(0);
    } finally {
      await small.close();
    }
  });
});

describe('OTLP bad input', () => {
  it('rejects malformed protobuf and JSON with 400, wrong content type with 415, and accepts gzip', async () => {
    const post = (path: string, body: Buffer | string, headers: Record<string, string>) =>
      fetch(`${sink.url}${path}`, { method: 'POST', headers, body });
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    const bad = await post('/v1/traces', garbage, { 'content-type': 'application/x-protobuf' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('FW_SINK_BAD_OTLP');
    expect((await post('/v1/logs', '{"resourceLogs": ', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await post('/v1/logs', '{"resourceLogs": 5}', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await post('/v1/metrics', '{}', { 'content-type': 'text/plain' })).status).toBe(415);
    const body = gzipSync(JSON.stringify({ resourceSpans: [] }));
    const ok = await post('/v1/traces', body, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(ok.status).toBe(200);
  });
});
