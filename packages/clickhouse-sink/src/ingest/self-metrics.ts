/**
 * The sink's own pipeline-health metrics, measured with the OpenTelemetry metrics SDK and stored in its own
 * `otel_metrics_*` tables like any sender's (ServiceName `fhirwatch-sink`), so dashboards and alerts read them
 * with the same SQL:
 * - `fhirwatch.sink.ingest.rows` (counter, `{row}`, attribute `table`): rows committed per table (telemetry
 *   tables directly or from the spool; `audit_events` from the audit writer);
 * - `fhirwatch.sink.telemetry.refused` (counter, `{row}`, attribute `table`): telemetry rows the store refused.
 * Attributes are table names only, never PHI. Cumulative temporality: a rate is the difference of two points.
 *
 * Why the SDK and an in-process exporter rather than OTLP to ourselves: no HTTP round trip to our own port, no
 * global MeterProvider registered (an application embedding the sink keeps its own OTel setup), and the points
 * go through the same OTLP mapping (`@opentelemetry/otlp-transformer`'s JSON serializer, then `mapMetrics`)
 * and the same writer as received telemetry, so they are spooled when the store is down.
 */
import { ATTRIBUTES, METRIC_UNITS, METRICS } from '@fhirwatch/contract';
import type { Attributes, ObservableResult } from '@opentelemetry/api';
import { JsonMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { AUDIT_TABLE } from '../store/schema/audit.ts';
import { OTEL_TABLES } from '../store/schema/telemetry.ts';
import { mapMetrics } from './otlp/map.ts';
import type { AuditWriter } from './writer/audit-writer.ts';
import type { TelemetryWriter } from './writer/telemetry-writer.ts';

export const SELF_METRICS_SERVICE = 'fhirwatch-sink';
/** Names and units: @fhirwatch/contract telemetry-names.ts (the dashboards read the same constants). */
export const SINK_METRIC_NAMES = {
  ingestRows: METRICS.sinkIngestRows,
  telemetryRefused: METRICS.sinkTelemetryRefused,
} as const;

/** ExportResultCode of @opentelemetry/core (0 = SUCCESS, 1 = FAILED), without depending on that package. */
const EXPORT_SUCCESS = 0;
const EXPORT_FAILED = 1;

/** Hands the SDK's ResourceMetrics to the telemetry writer (no network). */
class StoreMetricExporter implements PushMetricExporter {
  private readonly telemetry: TelemetryWriter;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(telemetry: TelemetryWriter) {
    this.telemetry = telemetry;
  }

  export(metrics: ResourceMetrics, done: (result: { code: number; error?: Error }) => void): void {
    let write: Promise<unknown>;
    try {
      const request = JSON.parse(Buffer.from(JsonMetricsSerializer.serializeRequest(metrics) ?? []).toString('utf8'));
      write = this.telemetry.write(mapMetrics(request)).then(
        (result) => done({ code: result.lost > 0 ? EXPORT_FAILED : EXPORT_SUCCESS }),
        (error: unknown) => done({ code: EXPORT_FAILED, error: error as Error }),
      );
    } catch (error) {
      done({ code: EXPORT_FAILED, error: error as Error });
      return;
    }
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
  }

  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }
}

export interface SelfMetrics {
  /** Collect and store now (resolves when the points are stored or spooled). */
  flush(): Promise<void>;
  /** Final collection, then stop. */
  shutdown(): Promise<void>;
}

/** Every telemetry table gets a point (0 until something happens), so a series exists to alert on. */
function observeByTable(result: ObservableResult<Attributes>, counts: Readonly<Record<string, number>>): void {
  const tables = new Set([...Object.values(OTEL_TABLES), ...Object.keys(counts)]);
  for (const table of tables) result.observe(counts[table] ?? 0, { [ATTRIBUTES.table]: table });
}

/** Start measuring the writers; points are stored every `intervalMs`. */
export function startSelfMetrics(telemetry: TelemetryWriter, audit: AuditWriter, intervalMs: number): SelfMetrics {
  const reader = new PeriodicExportingMetricReader({
    exporter: new StoreMetricExporter(telemetry),
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(intervalMs, 30_000),
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': SELF_METRICS_SERVICE }),
    readers: [reader],
  });
  const meter = provider.getMeter('@fhirwatch/clickhouse-sink');
  meter
    .createObservableCounter(SINK_METRIC_NAMES.ingestRows, {
      description: 'Rows committed to the store, per table',
      unit: METRIC_UNITS.sinkIngestRows,
    })
    .addCallback((result) => {
      observeByTable(result, telemetry.stats.storedByTable);
      result.observe(audit.stats.insertedRows, { [ATTRIBUTES.table]: AUDIT_TABLE });
    });
  meter
    .createObservableCounter(SINK_METRIC_NAMES.telemetryRefused, {
      description:
        'Telemetry rows the store refused (bad values), per table; each is logged as FW_SINK_TELEMETRY_REFUSED',
      unit: METRIC_UNITS.sinkTelemetryRefused,
    })
    .addCallback((result) => observeByTable(result, telemetry.stats.refusedByTable));
  return {
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
