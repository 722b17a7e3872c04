/**
 * Telemetry names shared by the writers (the middleware, the sink's self-metrics) and the readers (the
 * dashboards' SQL and their test sample): metric names, units, bucket boundaries and attribute keys. One
 * home, so renaming a metric changes what is written and what is read together, and a reader that keeps
 * an old literal fails its test. Attributes are never PHI.
 *
 * HTTP names are OpenTelemetry's stable semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/http/http-metrics/); the middleware's test checks them
 * against `@opentelemetry/semantic-conventions`. The FHIR and fhirwatch names are ours.
 */

/** Metric names. */
export const METRICS = {
  httpServerDuration: 'http.server.request.duration',
  httpClientDuration: 'http.client.request.duration',
  /** Gauge: request records spooled or queued and not yet acknowledged by the sink (nor quarantined). */
  auditSpoolDepth: 'fhirwatch.audit.spool.depth',
  /** Gauge: age of the oldest unshipped spool segment (0 when nothing waits). */
  auditSpoolAge: 'fhirwatch.audit.spool.age',
  /** Histogram: per shipped segment, from its first write to the sink's 200. */
  auditShipLag: 'fhirwatch.audit.ship.lag',
  /** Counter: records that never reached the spool (full or unwritable). */
  auditRecordsRejected: 'fhirwatch.audit.records.rejected',
  /** Counter: records the sink refused as invalid, kept in the spool's `rejected/`. */
  auditRecordsQuarantined: 'fhirwatch.audit.records.quarantined',
  /** Counter (attribute `table`): rows the sink committed per table. */
  sinkIngestRows: 'fhirwatch.sink.ingest.rows',
  /** Counter (attribute `table`): telemetry rows the store refused. */
  sinkTelemetryRefused: 'fhirwatch.sink.telemetry.refused',
} as const;
export type MetricKey = keyof typeof METRICS;

/** UCUM unit of each metric. */
export const METRIC_UNITS: Readonly<Record<MetricKey, string>> = {
  httpServerDuration: 's',
  httpClientDuration: 's',
  auditSpoolDepth: '{record}',
  auditSpoolAge: 's',
  auditShipLag: 's',
  auditRecordsRejected: '{record}',
  auditRecordsQuarantined: '{record}',
  sinkIngestRows: '{row}',
  sinkTelemetryRefused: '{row}',
};

/** Semconv advice for HTTP duration histograms, in seconds. */
export const HTTP_DURATION_BUCKETS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** Buckets of the ship lag (s): sub-second when healthy, up to an hour-long outage. */
export const SHIP_LAG_BUCKETS_S: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** Span, metric and log attribute keys. */
export const ATTRIBUTES = {
  errorType: 'error.type',
  httpRequestMethod: 'http.request.method',
  httpResponseStatusCode: 'http.response.status_code',
  httpRoute: 'http.route',
  networkProtocolVersion: 'network.protocol.version',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  urlScheme: 'url.scheme',
  fhirVersion: 'fhir.version',
  fhirInteraction: 'fhir.interaction',
  fhirResourceType: 'fhir.resource_type',
  fhirAuditEvent: 'fhir.audit_event',
  fhirBatchEntryCount: 'fhir.batch.entry_count',
  fhirAuditRecordCount: 'fhir.audit.record_count',
  fhirAuditBodyTruncated: 'fhir.audit.body_truncated',
  tenantId: 'tenant.id',
  clientId: 'client.id',
  /** Of `fhirwatch.audit.records.rejected`: `refused` (strict mode, the access got a 503) or `dropped` (batched). */
  auditOutcome: 'fhirwatch.audit.outcome',
  /** The sink's self-metrics: the table a count is about. */
  table: 'table',
} as const;

/** Route recorded when neither the host nor the classifier names one: never the raw path (PHI). */
export const UNMATCHED_ROUTE = '(unmatched)';
