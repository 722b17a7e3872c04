/**
 * `@fhirwatch/clickhouse-sink/ingest`: the sink's intake. The HTTP server (`POST /v1/audit`, OTLP/HTTP, the query
 * API mounted beside them), the audit and telemetry writers with their disk spool, OTLP decoding and mapping to the
 * Collector's tables, the store monitor, the sink's self-metrics and load-test run records.
 */
export type { LoadtestRunRow } from './loadtest-runs.ts';
export { insertLoadtestRun } from './loadtest-runs.ts';
export type { SinkOptions, SinkQueryApiOptions } from './options.ts';
export type { Row, RowsByTable } from './otlp/map.ts';
export { mapLogs, mapMetrics, mapTraces } from './otlp/map.ts';
export type { OtlpSignal } from './otlp/proto.ts';
export { decodeOtlpProtobuf } from './otlp/proto.ts';
export type { SelfMetrics } from './self-metrics.ts';
export { SELF_METRICS_SERVICE, SINK_METRIC_NAMES } from './self-metrics.ts';
export type { SinkHandlerDeps, SinkServer } from './server.ts';
export { buildSinkHandler, parseAuditBatch, startSink } from './server.ts';
export type { RecordProblem } from './validate.ts';
export { auditRecordProblem, isAuditRecord } from './validate.ts';
export type { AuditWriterOptions, AuditWriterStats, WriteResult } from './writer/audit-writer.ts';
export { AuditWriter } from './writer/audit-writer.ts';
export type { RetryOptions } from './writer/retry.ts';
export type { SpoolFile } from './writer/spool.ts';
export { Spool } from './writer/spool.ts';
export { describeStoreError, REQUIRED_TABLES, StoreMonitor } from './writer/store-monitor.ts';
export type { TelemetryWriteResult, TelemetryWriterOptions, TelemetryWriterStats } from './writer/telemetry-writer.ts';
export { TelemetryWriter } from './writer/telemetry-writer.ts';
