/** Public API of the compliance queries (re-exported by the package index). */

export type { AuditQueryErrorCode } from './errors.ts';
export { AUDIT_QUERY_ERROR_CODES, AUDIT_QUERY_ERRORS, AuditQueryError } from './errors.ts';
export type { ExplainedAccess, ExplainOptions, Explanation } from './explain.ts';
export { EXPLAIN_DEFAULTS, EXPLANATIONS, explainAccesses } from './explain.ts';
export type { AuditEventOptions, AuditEventShape } from './fhir/audit-event.ts';
export {
  auditEventBundle,
  auditEventFromRecord,
  BALP_PROFILES,
  FHIRWATCH_EVENT_TYPE_SYSTEM,
} from './fhir/audit-event.ts';
export { CSV_BOM, csvField, formatCsv, parseCsv } from './format/csv.ts';
export type { FormatOptions, OutputFormat } from './format/index.ts';
export { formatReport, OUTPUT_FORMATS } from './format/index.ts';
export { formatJson, reportToJson } from './format/json.ts';
export type { TableOptions } from './format/table.ts';
export { formatTable } from './format/table.ts';
export type { FhirMrnOptions, ResolvedPatient, StoreMrnOptions } from './patient-resolve.ts';
export { resolveMrnFromStore, resolveMrnViaFhir } from './patient-resolve.ts';
export { toAuditRecord } from './records.ts';
export type { RunReportInput } from './registry.ts';
export {
  getReportDef,
  parseOptionValue,
  parseReportOptions,
  REPORT_NAMES,
  REPORT_REGISTRY,
  reportDefaults,
  reportUsage,
  runReport,
} from './registry.ts';
export type { ReportDef, ReportOptionDef, ReportOptionType } from './registry-types.ts';
export type { ImportOptions, ImportResult } from './relationships.ts';
export { importCareRelationships, importGroupMembers, OPEN_END } from './relationships.ts';
export { accessReport } from './report-defs/access.ts';
export { activityReport } from './report-defs/activity.ts';
export type { AfterHoursRow } from './report-defs/after-hours.ts';
export { afterHoursReport } from './report-defs/after-hours.ts';
export type { ExportRow } from './report-defs/exports.ts';
export { EXPORTS_DEFAULTS, exportsReport, groupOf } from './report-defs/exports.ts';
export type { FailureRow } from './report-defs/failures.ts';
export { FAILURES_DEFAULTS, failuresReport } from './report-defs/failures.ts';
export type { NameProbingReportOptions, NameProbingRow } from './report-defs/name-probing.ts';
export { NAME_PROBING_DEFAULTS, nameProbingReport } from './report-defs/name-probing.ts';
export type { SummaryRow, SummaryWithExplanationRow } from './report-defs/summary.ts';
export { summaryReport, summaryWithExplanations } from './report-defs/summary.ts';
export { tenantIsolationReport } from './report-defs/tenant-isolation.ts';
export type { UnexplainedRow } from './report-defs/unexplained.ts';
export { rankUnexplained, unexplainedReport } from './report-defs/unexplained.ts';
export type { VipRow } from './report-defs/vip.ts';
export { vipReport } from './report-defs/vip.ts';
export type { VolumeReportOptions, VolumeRow } from './report-defs/volume.ts';
export { VOLUME_DEFAULTS, volumeReport } from './report-defs/volume.ts';
export type { RequestAction, RequestRow } from './requests.ts';
export { groupRequests, REQUEST_ACTIONS, REQUEST_COLUMNS, requestAction, requestKeyOf } from './requests.ts';
export type {
  SettingsChange,
  StoredTenantSettings,
  TenantIncidentSettings,
  TenantSettings,
  ThresholdValue,
} from './settings.ts';
export {
  clearTenantSettings,
  getTenantSettings,
  listTenantSettings,
  putTenantSettings,
  TENANT_SETTINGS_TABLE,
  updateTenantSettings,
  validateTenantSettings,
} from './settings.ts';
export type { TimeRange, TimeRangeInput } from './time-range.ts';
export { DEFAULT_SINCE, parseDuration, resolveTimeRange } from './time-range.ts';
export type {
  AccessReportOptions,
  ActivityReportOptions,
  AfterHoursReportOptions,
  ExportsReportOptions,
  FailuresReportOptions,
  Report,
  ReportColumn,
  ReportName,
  ReportOptions,
  SummaryReportOptions,
  TenantIsolationReportOptions,
} from './types.ts';
export type { ChainBreak, ChainIssue, VerifyOptions, VerifyResult, VerifyRow, WriterVerification } from './verify.ts';
export { CHAIN_BREAKS, checkpointSignature, ROW_ISSUES, verifyAuditChain, verifyReport } from './verify.ts';
export type { VipChange, VipEntry } from './vip.ts';
export { addVipPatient, ensureVipTable, listVipPatients, removeVipPatient, VIP_TABLE } from './vip.ts';
export type { ResolvedWorkHours, WorkHours, WorkHoursConfig } from './work-hours.ts';
export {
  DEFAULT_WORK_HOURS,
  isWithinWorkHours,
  parseDayList,
  parseHourRange,
  resolveWorkHours,
} from './work-hours.ts';
