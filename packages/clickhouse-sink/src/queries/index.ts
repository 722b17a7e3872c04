/** Public API of the compliance queries (re-exported by the package index). */
export type { AuditEventOptions, AuditEventShape } from '../fhir/audit-event.ts';
export {
  auditEventBundle,
  auditEventFromRecord,
  BALP_PROFILES,
  FHIRWATCH_EVENT_TYPE_SYSTEM,
} from '../fhir/audit-event.ts';
export { CSV_BOM, csvField, formatCsv, parseCsv } from '../format/csv.ts';
export type { FormatOptions, OutputFormat } from '../format/index.ts';
export { formatReport, OUTPUT_FORMATS } from '../format/index.ts';
export { formatJson, reportToJson } from '../format/json.ts';
export type { TableOptions } from '../format/table.ts';
export { formatTable } from '../format/table.ts';
export type { AuditDataset, DatasetOptions, DatasetPlants, DatasetTenant } from './dataset.ts';
export { DATASET_TENANTS, generateAuditDataset, signAuditChain, zonedInstant } from './dataset.ts';
export type { AuditQueryErrorCode } from './errors.ts';
export { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
export type { FhirMrnOptions, ResolvedPatient, StoreMrnOptions } from './patient-resolve.ts';
export { resolveMrnFromStore, resolveMrnViaFhir } from './patient-resolve.ts';
export { toAuditRecord } from './records.ts';
export type {
  AfterHoursRow,
  ExportRow,
  FailureRow,
  NameProbingRow,
  SummaryRow,
  VipRow,
  VolumeRow,
} from './reports.ts';
export {
  accessReport,
  activityReport,
  afterHoursReport,
  exportsReport,
  failuresReport,
  nameProbingReport,
  REPORT_DEFAULTS,
  summaryReport,
  tenantIsolationReport,
  vipReport,
  volumeReport,
} from './reports.ts';
export type { TimeRange, TimeRangeInput } from './time-range.ts';
export { DEFAULT_SINCE, parseDuration, resolveTimeRange } from './time-range.ts';
export type {
  AccessReportOptions,
  ActivityReportOptions,
  AfterHoursReportOptions,
  ExportsReportOptions,
  FailuresReportOptions,
  NameProbingReportOptions,
  Report,
  ReportColumn,
  ReportName,
  ReportOptions,
  SummaryReportOptions,
  TenantIsolationReportOptions,
  VolumeReportOptions,
} from './types.ts';
export { REPORT_NAMES } from './types.ts';
export type { ChainBreak, ChainIssue, VerifyOptions, VerifyResult, VerifyRow, WriterVerification } from './verify.ts';
export { CHAIN_BREAKS, ROW_ISSUES, requestFromRow, verifyAuditChain, verifyReport } from './verify.ts';
export type { VipChange, VipEntry } from './vip.ts';
export { addVipPatient, ensureVipTable, listVipPatients, removeVipPatient, VIP_TABLE } from './vip.ts';
export type { ResolvedWorkHours, WorkHours, WorkHoursConfig } from './work-hours.ts';
export { DEFAULT_WORK_HOURS, isWithinWorkHours, resolveWorkHours } from './work-hours.ts';
