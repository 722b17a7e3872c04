/**
 * The OTel side of one request, in-process: what the middleware asks of the SDK for a read (one
 * SERVER span with its 13 attributes, the handler run in `context.with`, one back-dated CLIENT span,
 * both exported by the BatchSpanProcessor as OTLP/HTTP JSON to a local server that discards them),
 * then the cost per span of serializing a 512-span export batch as OTLP JSON vs protobuf.
 *
 * `@opentelemetry/otlp-transformer` is the OTLP exporters' own serializer (a dependency of
 * `@opentelemetry/exporter-trace-otlp-http`), imported here only to time it.
 *
 * Usage: node --conditions=fhirwatch-source bench/otel-micro.ts   (OTEL_MICRO_N=20000 requests per round)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { setupTelemetry } from '../src/index.ts';

const N = Number(process.env.OTEL_MICRO_N ?? 20_000);
const SERVER_ATTRS: [string, string | number][] = [
  ['http.request.method', 'GET'],
  ['http.route', '/Patient/{id}'],
  ['http.response.status_code', 200],
  ['url.scheme', 'http'],
  ['server.port', 8080],
  ['server.address', '127.0.0.1'],
  ['fhir.version', 'STU3'],
  ['tenant.id', '3b3b3b3b-aaaa-4bbb-8ccc-dddddddddddd'],
  ['client.id', 'bench-client'],
  ['fhir.interaction', 'read'],
  ['fhir.resource_type', 'Patient'],
  ['fhir.audit_event', 'PatientView'],
  ['fhir.audit.record_count', 1],
];
const CLIENT_ATTRS = {
  'tenant.id': '3b3b3b3b-aaaa-4bbb-8ccc-dddddddddddd',
  'http.request.method': 'GET',
  'http.response.status_code': 200,
  'server.address': '127.0.0.1',
  'server.port': 9090,
};

const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end('{}'));
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const telemetry = setupTelemetry({
  endpoint: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
  serviceName: 'otel-micro',
  metricExportIntervalMs: 2000,
});
const tracer = trace.getTracer('otel-micro');
const noop = (): void => {};

function oneRequest(): void {
  const span = tracer.startSpan('GET', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  context.with(ctx, noop);
  span.updateName('GET /Patient/{id}');
  for (const [k, v] of SERVER_ATTRS) span.setAttribute(k, v);
  const now = performance.timeOrigin + performance.now();
  tracer.startSpan('GET', { kind: SpanKind.CLIENT, startTime: now - 1, attributes: CLIENT_ATTRS }, ctx).end(now);
  span.end(now);
}

for (let round = 1; round <= 3; round++) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    oneRequest();
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve)); // let exports run
  }
  await telemetry.forceFlush();
  const c = process.cpuUsage(c0);
  console.log(
    `round ${round}: 2 spans + context.with + OTLP JSON export: ${((c.user + c.system) / N).toFixed(1)} µs CPU per request`,
  );
}
await telemetry.shutdown();
sink.close();

// Serialization alone, 512 spans like the ones above (one BatchSpanProcessor export).
const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
const t2 = provider.getTracer('otel-micro');
for (let i = 0; i < 512; i++) {
  const s = t2.startSpan('GET /Patient/{id}', { kind: SpanKind.SERVER });
  for (const [k, v] of SERVER_ATTRS) s.setAttribute(k, v);
  s.end();
}
const spans = memory.getFinishedSpans();
for (let round = 1; round <= 2; round++) {
  for (const [name, serializer] of [
    ['json', JsonTraceSerializer],
    ['protobuf', ProtobufTraceSerializer],
  ] as const) {
    const reps = 40;
    const c0 = process.cpuUsage();
    let bytes = 0;
    for (let i = 0; i < reps; i++) bytes = serializer.serializeRequest(spans)?.byteLength ?? 0;
    const c = process.cpuUsage(c0);
    console.log(
      `round ${round}: OTLP ${name.padEnd(8)} serialize ${((c.user + c.system) / reps / 512).toFixed(2)} µs per span, ${(bytes / 512).toFixed(0)} bytes per span`,
    );
  }
}
