/**
 * The comparison point of the bench's `stock` mode: the OpenTelemetry JS SDK with the stock
 * `@opentelemetry/instrumentation-http` + `@opentelemetry/instrumentation-undici` (spans + metrics, no audit,
 * no logs), with the same exporters (OTLP/HTTP JSON), batch span processor settings and metric interval as
 * the middleware's `setupTelemetry` gets in the bench (src/telemetry.ts), so only the instrumentation differs.
 */
import { AggregationTemporalityPreference, OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

export function startStockSdk(endpoint: string, instrumentations: Instrumentation[]): NodeSDK {
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'fhirwatch-bench-stock' }),
    autoDetectResources: false,
    instrumentations,
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }), {
        maxExportBatchSize: 512,
        scheduledDelayMillis: 1000,
        maxQueueSize: 8192,
      }),
    ],
    metricReaders: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({
          url: `${endpoint}/v1/metrics`,
          temporalityPreference: AggregationTemporalityPreference.DELTA,
        }),
        exportIntervalMillis: 2000,
        exportTimeoutMillis: 2000,
      }),
    ],
    logRecordProcessors: [],
  });
  sdk.start();
  return sdk;
}
