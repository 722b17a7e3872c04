export * from './compliance/index.ts';
export type { SinkErrorCode } from './errors.ts';
export { SINK_ERROR_STATUS, SINK_ERRORS, SinkError } from './errors.ts';
export type { LoadtestRunRow } from './ingest/loadtest-runs.ts';
export { insertLoadtestRun } from './ingest/loadtest-runs.ts';
export type { SinkOptions, SinkQueryApiOptions } from './ingest/options.ts';
export type { Row, RowsByTable } from './ingest/otlp/map.ts';
export { mapLogs, mapMetrics, mapTraces } from './ingest/otlp/map.ts';
export type { OtlpSignal } from './ingest/otlp/proto.ts';
export { decodeOtlpProtobuf } from './ingest/otlp/proto.ts';
export type { SelfMetrics } from './ingest/self-metrics.ts';
export { SELF_METRICS_SERVICE, SINK_METRIC_NAMES } from './ingest/self-metrics.ts';
export type { SinkHandlerDeps, SinkServer } from './ingest/server.ts';
export { buildSinkHandler, parseAuditBatch, startSink } from './ingest/server.ts';
export type { RecordProblem } from './ingest/validate.ts';
export { auditRecordProblem, isAuditRecord } from './ingest/validate.ts';
export type { AuditWriterOptions, AuditWriterStats, WriteResult } from './ingest/writer/audit-writer.ts';
export { AuditWriter } from './ingest/writer/audit-writer.ts';
export type { RetryOptions } from './ingest/writer/retry.ts';
export type { SpoolFile } from './ingest/writer/spool.ts';
export { Spool } from './ingest/writer/spool.ts';
export { describeStoreError, REQUIRED_TABLES, StoreMonitor } from './ingest/writer/store-monitor.ts';
export type {
  TelemetryWriteResult,
  TelemetryWriterOptions,
  TelemetryWriterStats,
} from './ingest/writer/telemetry-writer.ts';
export { TelemetryWriter } from './ingest/writer/telemetry-writer.ts';
export type { SinkLogEntry, SinkLogger } from './log.ts';
export { stderrLogger } from './log.ts';
export * from './query-api/index.ts';
export {
  AUDIT_REQUEST_INSERT_COLUMNS,
  auditRequestRowValues,
  encodeAuditRequestRows,
  insertAuditRecords,
  requestFromRow,
} from './store/audit-encode.ts';
export type { StoreOptions } from './store/open.ts';
export { openStore, STORE_SETTINGS } from './store/open.ts';
export * from './store/schema/index.ts';
