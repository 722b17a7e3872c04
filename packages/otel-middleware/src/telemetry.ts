/**
 * `setupTelemetry(options)`: starts @opentelemetry/sdk-node with OTLP/HTTP (JSON) exporters for
 * traces, metrics and logs, a BatchSpanProcessor, a periodic metric reader and a batch log
 * processor. No auto-instrumentations are registered (`instrumentations: []`): the middleware
 * creates its own spans, which is what keeps its overhead low (the http auto-instrumentation alone
 * costs more than our whole per-request budget). Resource detection is off except what is given:
 * host/process detectors add attributes (command lines) we do not want to audit for PHI.
 *
 * Temporality: delta by default (see TelemetryOptions.temporality).
 */
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { AggregationTemporalityPreference, OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { type IMetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { TelemetryOptions } from './types.ts';

export interface Telemetry {
  /** Export everything buffered now (spans, metrics, logs). */
  forceFlush(): Promise<void>;
  /** Flush and stop the SDK. */
  shutdown(): Promise<void>;
}

export function setupTelemetry(options: TelemetryOptions = {}): Telemetry {
  const endpoint = (options.endpoint ?? 'http://127.0.0.1:4318').replace(/\/+$/, '');
  const headers = options.headers ?? {};
  const spanProcessors: SpanProcessor[] = [];
  const metricReaders: IMetricReader[] = [];
  const logProcessors: LogRecordProcessor[] = [];
  if (options.traces !== false) {
    spanProcessors.push(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, headers }), {
        maxExportBatchSize: options.maxExportBatchSize ?? 512,
        scheduledDelayMillis: options.scheduledDelayMillis ?? 1000,
        maxQueueSize: 8192,
      }),
    );
  }
  if (options.metrics !== false) {
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({
          url: `${endpoint}/v1/metrics`,
          headers,
          temporalityPreference:
            options.temporality === 'cumulative'
              ? AggregationTemporalityPreference.CUMULATIVE
              : AggregationTemporalityPreference.DELTA,
        }),
        exportIntervalMillis: options.metricExportIntervalMs ?? 10_000,
        exportTimeoutMillis: Math.min(options.metricExportIntervalMs ?? 10_000, 30_000),
      }),
    );
  }
  if (options.logs !== false) {
    logProcessors.push(
      new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${endpoint}/v1/logs`, headers }) }),
    );
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName ?? 'fhirwatch',
      ...options.resourceAttributes,
    }),
    autoDetectResources: false,
    instrumentations: [],
    spanProcessors,
    metricReaders,
    logRecordProcessors: logProcessors,
  });
  sdk.start();
  return {
    async forceFlush(): Promise<void> {
      await Promise.all([
        ...spanProcessors.map((p) => p.forceFlush()),
        ...metricReaders.map((r) => r.forceFlush()),
        ...logProcessors.map((p) => p.forceFlush()),
      ]);
    },
    shutdown: () => sdk.shutdown(),
  };
}
