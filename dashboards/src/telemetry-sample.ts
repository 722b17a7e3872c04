/**
 * A deterministic (seeded) sample of the telemetry the gateway and the sink emit, as OTLP/JSON export requests
 * (what `POST /v1/traces` and `POST /v1/metrics` take): server spans per tenant and FHIR interaction with their
 * upstream (provider) client spans, `POST /token` spans, some 5xx and 4xx, and the audit-pipeline metrics
 * (PIPELINE_METRICS). Metric names, units and attribute keys come from @fhirwatch/contract (telemetry-names.ts),
 * the constants @fhirwatch/otel-middleware and the sink write with; never PHI.
 *
 * Used by the panel tests (every SRE panel must return rows for it) and by anyone who needs an SRE board with
 * data without running traffic (the console's browser tests). Feed it to the sink's OTLP endpoints, or map it
 * with the sink's `mapTraces` / `mapMetrics` and insert the rows.
 */
import { ATTRIBUTES, METRIC_UNITS, METRICS } from '@fhirwatch/contract';

export interface TelemetrySampleOptions {
  /** Tenants (GUIDs) that get traffic. */
  tenants: readonly string[];
  /** Exclusive end of the sample. Default: now. */
  end?: Date;
  /** Minutes of traffic before `end`. Default 30. */
  minutes?: number;
  /** Server requests per tenant per minute. Default 12. */
  requestsPerMinute?: number;
  seed?: number;
  serviceName?: string;
}

export interface TelemetrySample {
  /** OTLP/JSON ExportTraceServiceRequest. */
  traces: { resourceSpans: unknown[] };
  /** OTLP/JSON ExportMetricsServiceRequest. */
  metrics: { resourceMetrics: unknown[] };
  /** What was generated, for assertions. */
  counts: { serverSpans: number; clientSpans: number; tokenSpans: number; errors: number };
}

/** mulberry32, as in the sink's audit dataset. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type AnyValue = { stringValue: string } | { intValue: string };
const attr = (key: string, value: string | number): { key: string; value: AnyValue } => ({
  key,
  value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value },
});
const nanos = (ms: number): string => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

const INTERACTIONS = [
  { interaction: 'read', resourceType: 'Patient', route: '/{tenant}/Patient/{id}', method: 'GET', weight: 4 },
  { interaction: 'search-type', resourceType: 'Patient', route: '/{tenant}/Patient', method: 'GET', weight: 3 },
  { interaction: 'search-type', resourceType: 'Observation', route: '/{tenant}/Observation', method: 'GET', weight: 3 },
  { interaction: 'batch', resourceType: 'Bundle', route: '/{tenant}', method: 'POST', weight: 2 },
] as const;

export function generateTelemetrySample(options: TelemetrySampleOptions): TelemetrySample {
  const random = prng(options.seed ?? 9);
  const endMs = (options.end ?? new Date()).getTime();
  const minutes = options.minutes ?? 30;
  const perMinute = options.requestsPerMinute ?? 12;
  const serviceName = options.serviceName ?? 'fhirwatch-gateway';
  const hex = (len: number): string =>
    Array.from({ length: len }, () => Math.floor(random() * 16).toString(16)).join('');
  const weighted = INTERACTIONS.flatMap((i) => Array.from({ length: i.weight }, () => i));
  const spans: unknown[] = [];
  const counts = { serverSpans: 0, clientSpans: 0, tokenSpans: 0, errors: 0 };
  const startMs = endMs - minutes * 60_000;

  for (let minute = 0; minute < minutes; minute += 1) {
    for (const tenant of options.tenants) {
      for (let r = 0; r < perMinute; r += 1) {
        const at = startMs + minute * 60_000 + Math.floor(random() * 59_000);
        const kind = weighted[Math.floor(random() * weighted.length)]!;
        const upstreamMs = 5 + random() * 60 + (random() < 0.02 ? 400 : 0);
        const ownMs = 0.5 + random() * 4;
        const roll = random();
        const status = roll < 0.02 ? 503 : roll < 0.04 ? 404 : 200;
        const traceId = hex(32);
        const serverId = hex(16);
        const attributes = [
          attr(ATTRIBUTES.httpRequestMethod, kind.method),
          attr(ATTRIBUTES.httpRoute, kind.route),
          attr(ATTRIBUTES.httpResponseStatusCode, status),
          attr(ATTRIBUTES.tenantId, tenant),
          attr(ATTRIBUTES.fhirVersion, 'STU3'),
          attr(ATTRIBUTES.fhirInteraction, kind.interaction),
          attr(ATTRIBUTES.fhirResourceType, kind.resourceType),
        ];
        if (status >= 500) attributes.push(attr(ATTRIBUTES.errorType, String(status)));
        spans.push({
          traceId,
          spanId: serverId,
          name: `${kind.method} ${kind.route}`,
          kind: 2,
          startTimeUnixNano: nanos(at),
          endTimeUnixNano: nanos(at + ownMs + upstreamMs),
          attributes,
          status: status >= 500 ? { code: 2 } : { code: 0 },
        });
        spans.push({
          traceId,
          spanId: hex(16),
          parentSpanId: serverId,
          name: kind.method,
          kind: 3,
          startTimeUnixNano: nanos(at + ownMs / 2),
          endTimeUnixNano: nanos(at + ownMs / 2 + upstreamMs),
          attributes: [
            attr(ATTRIBUTES.tenantId, tenant),
            attr(ATTRIBUTES.httpRequestMethod, kind.method),
            attr(ATTRIBUTES.httpResponseStatusCode, status),
          ],
          status: status >= 500 ? { code: 2 } : { code: 0 },
        });
        counts.serverSpans += 1;
        counts.clientSpans += 1;
        if (status >= 500) counts.errors += 1;
      }
      // a token every few minutes per tenant; one in ten refused (bad secret)
      if (minute % 3 === 0) {
        const at = startMs + minute * 60_000 + Math.floor(random() * 59_000);
        const refused = random() < 0.1;
        spans.push({
          traceId: hex(32),
          spanId: hex(16),
          name: 'POST /token',
          kind: 2,
          startTimeUnixNano: nanos(at),
          endTimeUnixNano: nanos(at + 80 + random() * 120),
          attributes: [
            attr(ATTRIBUTES.httpRequestMethod, 'POST'),
            attr(ATTRIBUTES.httpRoute, '/token'),
            attr(ATTRIBUTES.httpResponseStatusCode, refused ? 401 : 200),
            attr(ATTRIBUTES.tenantId, tenant),
          ],
          status: { code: 0 },
        });
        counts.serverSpans += 1;
        counts.tokenSpans += 1;
      }
    }
  }

  // pipeline metrics, one export every 30 s: gauges, and cumulative counters (temporality 2) since `startMs`
  const gauge = (name: string, unit: string, points: { at: number; value: number }[]): unknown => ({
    name,
    unit,
    gauge: {
      dataPoints: points.map((p) => ({
        startTimeUnixNano: nanos(startMs),
        timeUnixNano: nanos(p.at),
        asDouble: p.value,
        attributes: [],
      })),
    },
  });
  const counter = (
    name: string,
    unit: string,
    series: { attributes: { key: string; value: AnyValue }[]; points: { at: number; value: number }[] }[],
  ): unknown => ({
    name,
    unit,
    sum: {
      aggregationTemporality: 2,
      isMonotonic: true,
      dataPoints: series.flatMap((one) =>
        one.points.map((p) => ({
          startTimeUnixNano: nanos(startMs),
          timeUnixNano: nanos(p.at),
          asInt: String(Math.round(p.value)),
          attributes: one.attributes,
        })),
      ),
    },
  });
  const ticks = Array.from({ length: minutes * 2 }, (_, i) => startMs + (i + 1) * 30_000);
  const depth = ticks.map((at, i) => ({ at, value: Math.round(20 + 15 * Math.sin(i / 5) + random() * 10) }));
  const age = ticks.map((at) => ({ at, value: Math.round((0.5 + random() * 1.5) * 100) / 100 }));
  const lag = ticks.map((at) => ({ at, value: Math.round((0.2 + random()) * 100) / 100 }));
  const cumulative = (perTick: () => number): { at: number; value: number }[] => {
    let total = 0;
    return ticks.map((at) => {
      total += perTick();
      return { at, value: total };
    });
  };
  const perTickRequests = (perMinute * options.tenants.length) / 2;
  const metrics = [
    gauge(METRICS.auditSpoolDepth, METRIC_UNITS.auditSpoolDepth, depth),
    gauge(METRICS.auditSpoolAge, METRIC_UNITS.auditSpoolAge, age),
    gauge(METRICS.auditShipLag, METRIC_UNITS.auditShipLag, lag),
    counter(METRICS.auditRecordsRejected, METRIC_UNITS.auditRecordsRejected, [
      { attributes: [attr(ATTRIBUTES.auditOutcome, 'refused')], points: cumulative(() => (random() < 0.1 ? 1 : 0)) },
      { attributes: [attr(ATTRIBUTES.auditOutcome, 'dropped')], points: cumulative(() => (random() < 0.05 ? 1 : 0)) },
    ]),
    counter(METRICS.auditRecordsQuarantined, METRIC_UNITS.auditRecordsQuarantined, [
      { attributes: [], points: cumulative(() => (random() < 0.05 ? 1 : 0)) },
    ]),
    counter(METRICS.sinkIngestRows, METRIC_UNITS.sinkIngestRows, [
      { attributes: [attr(ATTRIBUTES.table, 'audit_events')], points: cumulative(() => perTickRequests * 1.5) },
      { attributes: [attr(ATTRIBUTES.table, 'otel_traces')], points: cumulative(() => perTickRequests * 2) },
    ]),
    counter(METRICS.sinkTelemetryRefused, METRIC_UNITS.sinkTelemetryRefused, [
      { attributes: [attr(ATTRIBUTES.table, 'otel_traces')], points: cumulative(() => (random() < 0.05 ? 3 : 0)) },
    ]),
  ];

  const resource = { attributes: [attr('service.name', serviceName), attr('service.instance.id', 'sample-1')] };
  return {
    traces: {
      resourceSpans: [{ resource, scopeSpans: [{ scope: { name: '@fhirwatch/otel-middleware' }, spans }] }],
    },
    metrics: {
      resourceMetrics: [{ resource, scopeMetrics: [{ scope: { name: '@fhirwatch/otel-middleware' }, metrics }] }],
    },
    counts,
  };
}
