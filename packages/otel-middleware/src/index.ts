export type { ChainBreak, ChainState } from './chain.ts';
export { chainKey, requestHasher, verifyChain } from './chain.ts';
export type { RequestAuditContext, UpstreamCall } from './context.ts';
export { getRequestContext, recordUpstream, setRequestContext } from './context.ts';
export type { AuditErrorCode } from './errors.ts';
export { AUDIT_ERROR_CODES, AUDIT_ERRORS, FhirAuditError } from './errors.ts';
export { readKeyFile } from './key-file.ts';
export type { ConnectMiddleware, FastifyPlugin, FhirAudit, FhirAuditHealth, FhirAuditStats } from './middleware.ts';
export { fhirAudit } from './middleware.ts';
export {
  ATTR_AUDIT_OUTCOME,
  METRIC_AUDIT_RECORDS_QUARANTINED,
  METRIC_AUDIT_RECORDS_REJECTED,
  METRIC_AUDIT_SHIP_LAG,
  METRIC_AUDIT_SPOOL_AGE,
  METRIC_AUDIT_SPOOL_DEPTH,
} from './pipeline-metrics.ts';
export type { AccessFacts } from './records.ts';
export {
  buildAuditRecords,
  buildAuditRequest,
  failedBatchRequest,
  needsReturnedPatients,
  RESULT_COUNT_UNKNOWN,
} from './records.ts';
export type { ShipperOptions, ShipperStats } from './shipper.ts';
export { AuditShipper, SPOOL_MEDIA_TYPE } from './shipper.ts';
export type { SegmentContents, SegmentInfo, SpoolOptions, SpoolStats, UnchainedRecord } from './spool.ts';
export { AuditSpool, frameLine, parseSegment, segmentLine } from './spool.ts';
export type { SpoolFailureCode, SpoolFailurePolicy, SpoolHealthSnapshot } from './spool-health.ts';
export type { ResourceDetail } from './stream-scan.ts';
export { StreamScanner, scanBody } from './stream-scan.ts';
export type { Telemetry } from './telemetry.ts';
export { setupTelemetry } from './telemetry.ts';
export type {
  AuditMode,
  AuditUser,
  DisclosureMode,
  FhirAuditOptions,
  RequestHookInfo,
  TelemetryOptions,
  UserExtractor,
} from './types.ts';
export { uuidv7, uuidv7Time } from './uuidv7.ts';
