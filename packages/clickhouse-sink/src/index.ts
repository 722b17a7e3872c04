export type { SinkErrorCode } from './errors.ts';
export { SINK_ERROR_STATUS, SinkError } from './errors.ts';
export type { RecordProblem } from './ingest/validate.ts';
export { auditRecordProblem, isAuditRecord } from './ingest/validate.ts';
export type { LoadtestRunRow } from './loadtest-runs.ts';
export { insertLoadtestRun } from './loadtest-runs.ts';
export type { SinkLogEntry, SinkLogger } from './log.ts';
export { stderrLogger } from './log.ts';
export type { Row, RowsByTable } from './otlp/map.ts';
export { mapLogs, mapMetrics, mapTraces } from './otlp/map.ts';
export type { OtlpSignal } from './otlp/proto.ts';
export { decodeOtlpProtobuf } from './otlp/proto.ts';
export * from './queries/index.ts';
export * from './query-api/index.ts';
export * from './schema/index.ts';
export type { SelfMetrics } from './self-metrics.ts';
export { SELF_METRICS_SERVICE, SINK_METRIC_NAMES } from './self-metrics.ts';
export type { SinkHandlerDeps, SinkServer } from './server.ts';
export { buildSinkHandler, parseAuditBatch, startSink } from './server.ts';
export type { StoreOptions } from './store.ts';
export { openStore, STORE_SETTINGS } from './store.ts';
export type { SinkOptions, SinkQueryApiOptions } from './types.ts';
export {
  AUDIT_REQUEST_INSERT_COLUMNS,
  auditRequestRowValues,
  encodeAuditRequestRows,
} from './writer/audit-encode.ts';
export type { AuditWriterOptions, AuditWriterStats, WriteResult } from './writer/audit-writer.ts';
export { AuditWriter } from './writer/audit-writer.ts';
export type { RetryOptions } from './writer/retry.ts';
export type { SpoolFile } from './writer/spool.ts';
export { Spool } from './writer/spool.ts';
export { describeStoreError, REQUIRED_TABLES, StoreMonitor } from './writer/store-monitor.ts';
export type {
  TelemetryWriteResult,
  TelemetryWriterOptions,
  TelemetryWriterStats,
} from './writer/telemetry-writer.ts';
export { TelemetryWriter } from './writer/telemetry-writer.ts';
