/**
 * OTLP/HTTP protobuf request messages as protobufjs reflection (JSON descriptors), only the messages a
 * receiver needs: ExportTraceServiceRequest, ExportLogsServiceRequest, ExportMetricsServiceRequest and what
 * they contain. Field names are the OTLP/JSON (camelCase) names, so a decoded message has the same shape as
 * an OTLP/JSON body and one mapping serves both encodings.
 * Source of truth: opentelemetry-proto, opentelemetry/proto/{common,resource,trace,logs,metrics}/v1/*.proto.
 * (@opentelemetry/otlp-transformer 0.223 ships request *encoders* and response decoders only.)
 */
import protobuf from 'protobufjs';

type Fields = Record<string, { type: string; id: number; rule?: 'repeated' }>;

const f = (type: string, id: number, repeated = false): Fields[string] =>
  repeated ? { type, id, rule: 'repeated' } : { type, id };

const message = (fields: Fields, oneofs?: Record<string, { oneof: string[] }>) =>
  oneofs === undefined ? { fields } : { fields, oneofs };

const descriptor = {
  nested: {
    otlp: {
      nested: {
        AnyValue: message(
          {
            stringValue: f('string', 1),
            boolValue: f('bool', 2),
            intValue: f('int64', 3),
            doubleValue: f('double', 4),
            arrayValue: f('ArrayValue', 5),
            kvlistValue: f('KeyValueList', 6),
            bytesValue: f('bytes', 7),
          },
          {
            value: {
              oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'],
            },
          },
        ),
        ArrayValue: message({ values: f('AnyValue', 1, true) }),
        KeyValueList: message({ values: f('KeyValue', 1, true) }),
        KeyValue: message({ key: f('string', 1), value: f('AnyValue', 2) }),
        InstrumentationScope: message({
          name: f('string', 1),
          version: f('string', 2),
          attributes: f('KeyValue', 3, true),
          droppedAttributesCount: f('uint32', 4),
        }),
        Resource: message({ attributes: f('KeyValue', 1, true), droppedAttributesCount: f('uint32', 2) }),

        ExportTraceServiceRequest: message({ resourceSpans: f('ResourceSpans', 1, true) }),
        ResourceSpans: message({
          resource: f('Resource', 1),
          scopeSpans: f('ScopeSpans', 2, true),
          schemaUrl: f('string', 3),
        }),
        ScopeSpans: message({
          scope: f('InstrumentationScope', 1),
          spans: f('Span', 2, true),
          schemaUrl: f('string', 3),
        }),
        Span: message({
          traceId: f('bytes', 1),
          spanId: f('bytes', 2),
          traceState: f('string', 3),
          parentSpanId: f('bytes', 4),
          flags: f('fixed32', 16),
          name: f('string', 5),
          kind: f('int32', 6),
          startTimeUnixNano: f('fixed64', 7),
          endTimeUnixNano: f('fixed64', 8),
          attributes: f('KeyValue', 9, true),
          droppedAttributesCount: f('uint32', 10),
          events: f('SpanEvent', 11, true),
          droppedEventsCount: f('uint32', 12),
          links: f('SpanLink', 13, true),
          droppedLinksCount: f('uint32', 14),
          status: f('Status', 15),
        }),
        SpanEvent: message({
          timeUnixNano: f('fixed64', 1),
          name: f('string', 2),
          attributes: f('KeyValue', 3, true),
          droppedAttributesCount: f('uint32', 4),
        }),
        SpanLink: message({
          traceId: f('bytes', 1),
          spanId: f('bytes', 2),
          traceState: f('string', 3),
          attributes: f('KeyValue', 4, true),
          droppedAttributesCount: f('uint32', 5),
          flags: f('fixed32', 6),
        }),
        Status: message({ message: f('string', 2), code: f('int32', 3) }),

        ExportLogsServiceRequest: message({ resourceLogs: f('ResourceLogs', 1, true) }),
        ResourceLogs: message({
          resource: f('Resource', 1),
          scopeLogs: f('ScopeLogs', 2, true),
          schemaUrl: f('string', 3),
        }),
        ScopeLogs: message({
          scope: f('InstrumentationScope', 1),
          logRecords: f('LogRecord', 2, true),
          schemaUrl: f('string', 3),
        }),
        LogRecord: message({
          timeUnixNano: f('fixed64', 1),
          observedTimeUnixNano: f('fixed64', 11),
          severityNumber: f('int32', 2),
          severityText: f('string', 3),
          body: f('AnyValue', 5),
          attributes: f('KeyValue', 6, true),
          droppedAttributesCount: f('uint32', 7),
          flags: f('fixed32', 8),
          traceId: f('bytes', 9),
          spanId: f('bytes', 10),
          eventName: f('string', 12),
        }),

        ExportMetricsServiceRequest: message({ resourceMetrics: f('ResourceMetrics', 1, true) }),
        ResourceMetrics: message({
          resource: f('Resource', 1),
          scopeMetrics: f('ScopeMetrics', 2, true),
          schemaUrl: f('string', 3),
        }),
        ScopeMetrics: message({
          scope: f('InstrumentationScope', 1),
          metrics: f('Metric', 2, true),
          schemaUrl: f('string', 3),
        }),
        Metric: message(
          {
            name: f('string', 1),
            description: f('string', 2),
            unit: f('string', 3),
            gauge: f('Gauge', 5),
            sum: f('Sum', 7),
            histogram: f('Histogram', 9),
            exponentialHistogram: f('ExponentialHistogram', 10),
            summary: f('Summary', 11),
            metadata: f('KeyValue', 12, true),
          },
          { data: { oneof: ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] } },
        ),
        Gauge: message({ dataPoints: f('NumberDataPoint', 1, true) }),
        Sum: message({
          dataPoints: f('NumberDataPoint', 1, true),
          aggregationTemporality: f('int32', 2),
          isMonotonic: f('bool', 3),
        }),
        Histogram: message({ dataPoints: f('HistogramDataPoint', 1, true), aggregationTemporality: f('int32', 2) }),
        ExponentialHistogram: message({
          dataPoints: f('ExponentialHistogramDataPoint', 1, true),
          aggregationTemporality: f('int32', 2),
        }),
        Summary: message({ dataPoints: f('SummaryDataPoint', 1, true) }),
        NumberDataPoint: message(
          {
            attributes: f('KeyValue', 7, true),
            startTimeUnixNano: f('fixed64', 2),
            timeUnixNano: f('fixed64', 3),
            asDouble: f('double', 4),
            asInt: f('sfixed64', 6),
            exemplars: f('Exemplar', 5, true),
            flags: f('uint32', 8),
          },
          { value: { oneof: ['asDouble', 'asInt'] } },
        ),
        HistogramDataPoint: message({
          attributes: f('KeyValue', 9, true),
          startTimeUnixNano: f('fixed64', 2),
          timeUnixNano: f('fixed64', 3),
          count: f('fixed64', 4),
          sum: f('double', 5),
          bucketCounts: f('fixed64', 6, true),
          explicitBounds: f('double', 7, true),
          exemplars: f('Exemplar', 8, true),
          flags: f('uint32', 10),
          min: f('double', 11),
          max: f('double', 12),
        }),
        ExponentialHistogramDataPoint: message({
          attributes: f('KeyValue', 1, true),
          startTimeUnixNano: f('fixed64', 2),
          timeUnixNano: f('fixed64', 3),
          count: f('fixed64', 4),
          sum: f('double', 5),
          scale: f('sint32', 6),
          zeroCount: f('fixed64', 7),
          positive: f('Buckets', 8),
          negative: f('Buckets', 9),
          flags: f('uint32', 10),
          exemplars: f('Exemplar', 11, true),
          min: f('double', 12),
          max: f('double', 13),
          zeroThreshold: f('double', 14),
        }),
        Buckets: message({ offset: f('sint32', 1), bucketCounts: f('uint64', 2, true) }),
        SummaryDataPoint: message({
          attributes: f('KeyValue', 7, true),
          startTimeUnixNano: f('fixed64', 2),
          timeUnixNano: f('fixed64', 3),
          count: f('fixed64', 4),
          sum: f('double', 5),
          quantileValues: f('ValueAtQuantile', 6, true),
          flags: f('uint32', 8),
        }),
        ValueAtQuantile: message({ quantile: f('double', 1), value: f('double', 2) }),
        Exemplar: message(
          {
            filteredAttributes: f('KeyValue', 7, true),
            timeUnixNano: f('fixed64', 2),
            asDouble: f('double', 3),
            asInt: f('sfixed64', 6),
            spanId: f('bytes', 4),
            traceId: f('bytes', 5),
          },
          { value: { oneof: ['asDouble', 'asInt'] } },
        ),
      },
    },
  },
};

// responses: Export*ServiceResponse { partial_success = 1 } (opentelemetry/proto/collector/*/v1/*_service.proto)
Object.assign(descriptor.nested.otlp.nested, {
  ExportTraceServiceResponse: message({ partialSuccess: f('ExportTracePartialSuccess', 1) }),
  ExportTracePartialSuccess: message({ rejectedSpans: f('int64', 1), errorMessage: f('string', 2) }),
  ExportLogsServiceResponse: message({ partialSuccess: f('ExportLogsPartialSuccess', 1) }),
  ExportLogsPartialSuccess: message({ rejectedLogRecords: f('int64', 1), errorMessage: f('string', 2) }),
  ExportMetricsServiceResponse: message({ partialSuccess: f('ExportMetricsPartialSuccess', 1) }),
  ExportMetricsPartialSuccess: message({ rejectedDataPoints: f('int64', 1), errorMessage: f('string', 2) }),
});

const root = protobuf.Root.fromJSON(descriptor);

export const OTLP_REQUEST_TYPES = {
  traces: root.lookupType('otlp.ExportTraceServiceRequest'),
  logs: root.lookupType('otlp.ExportLogsServiceRequest'),
  metrics: root.lookupType('otlp.ExportMetricsServiceRequest'),
} as const;

export type OtlpSignal = keyof typeof OTLP_REQUEST_TYPES;

/** Response message and the partial_success field that counts rejected items, per signal. */
export const OTLP_RESPONSE_TYPES: Record<OtlpSignal, { type: protobuf.Type; rejectedField: string }> = {
  traces: { type: root.lookupType('otlp.ExportTraceServiceResponse'), rejectedField: 'rejectedSpans' },
  logs: { type: root.lookupType('otlp.ExportLogsServiceResponse'), rejectedField: 'rejectedLogRecords' },
  metrics: { type: root.lookupType('otlp.ExportMetricsServiceResponse'), rejectedField: 'rejectedDataPoints' },
};

/** Decode a protobuf request into the OTLP/JSON object shape (ids as Uint8Array, 64-bit ints as strings). */
export function decodeOtlpProtobuf(signal: OtlpSignal, body: Uint8Array): Record<string, unknown> {
  const type = OTLP_REQUEST_TYPES[signal];
  return type.toObject(type.decode(body), { longs: String, enums: Number, bytes: Array, defaults: false }) as Record<
    string,
    unknown
  >;
}
