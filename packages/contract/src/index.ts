export type {
  ChainBreakReason,
  ChainCrypto,
  ChainHasher,
  ChainLink,
  ChainState,
} from './audit-chain.ts';
export {
  CHAIN_START,
  ChainWalker,
  chainAppend,
  chainHasher,
  firstChainBreak,
  signChain,
} from './audit-chain.ts';
export {
  AUDIT_CLI_ERRORS,
  AUDIT_ERROR_GROUPS,
  AUDIT_ERROR_PREFIX,
  AUDIT_QUERY_ERRORS,
  AUDIT_SPOOL_ERRORS,
  isAuditErrorCode,
} from './audit-errors.ts';
export type {
  ExpansionEntryField,
  ExpansionRequestField,
  ExpansionSource,
} from './audit-expansion.ts';
export { AUDIT_EXPANSION, roundMs, unknownAsNull } from './audit-expansion.ts';
export type { AuditEventType, AuditOutcome, AuditRecord, FhirInteraction } from './audit-record.ts';
export {
  ALL_PATIENTS,
  AUDIT_EVENT_TYPES,
  AUDIT_OUTCOME,
  AUDIT_RECORD_FIELDS,
  auditRecordCanonical,
  FHIR_INTERACTIONS,
  outcomeForStatus,
} from './audit-record.ts';
export type {
  AuditRequestEntry,
  AuditRequestFormat,
  AuditRequestRecord,
  UnchainedAuditRequest,
} from './audit-request.ts';
export {
  AUDIT_REQUEST_ENTRY_FIELDS,
  AUDIT_REQUEST_FIELDS,
  auditRequestCanonical,
  expandRequestRecord,
  expansionSize,
  isRequestLine,
  legacyRecordOf,
  perPatientEventId,
  requestFromAuditRecord,
} from './audit-request.ts';
export type {
  CapabilityRest,
  CapabilityRestResource,
  CapabilityRestSecurity,
  CapabilitySearchParam,
  CapabilityStatementOptions,
  CapabilityStatementResource,
  FhirExtension,
} from './capability.ts';
export {
  CONTRACT_DATE,
  capabilityStatement,
  OAUTH_URIS_EXTENSION_URL,
  RESTFUL_SECURITY_SERVICE_SYSTEM,
} from './capability.ts';
export {
  classifyRequest,
  disclosedPatients,
  disclosedPatientsInBatch,
  EXPORT_HEADER,
  listViewPatients,
  patientOfResource,
} from './classifier.ts';
export type {
  Classification,
  ClassifiedInteraction,
  ClassifierRequest,
  Disclosure,
  TrafficKind,
} from './classifier-types.ts';
export type { ErrorPackage, ErrorSpec, FhirwatchErrorOptions } from './errors.ts';
export { ERROR_PREFIXES, errorOutcome, errorTable, FhirwatchError } from './errors.ts';
export type { FieldCheck, FieldCheckOptions, FieldReport, FieldWarning } from './field-checker.ts';
export { checkResourceFields, contractFields } from './field-checker.ts';
export type { IssueSeverity, IssueType, OperationOutcome, OperationOutcomeIssue } from './operation-outcome.ts';
export { ISSUE_SEVERITIES, operationOutcome, STATUS_FOR_ISSUE } from './operation-outcome.ts';
export type { BatchBundle } from './patients-app-requests.ts';
export {
  LIST_REFRESH_ENTRIES_PER_PATIENT,
  listRefreshBundle,
  listRefreshUrls,
  patientNameSearch,
} from './patients-app-requests.ts';
export { referenceId } from './references.ts';
export { isPatientsAppResource, PATIENTS_APP_RESOURCES } from './resources.ts';
export type {
  SearchParam,
  SearchParameterDef,
  SearchParameterType,
  SearchValidation,
  StringMatch,
} from './search-params.ts';
export {
  CONTAINS_BY_DEFAULT,
  formatSearchParams,
  formDecode,
  isCanonicalQuery,
  parseSearchParams,
  SEARCH_PARAMETERS,
  searchParameter,
  stringMatch,
  validateSearch,
} from './search-params.ts';
export type { MetricKey } from './telemetry-names.ts';
export {
  ATTRIBUTES,
  HTTP_DURATION_BUCKETS_S,
  METRIC_UNITS,
  METRICS,
  SHIP_LAG_BUCKETS_S,
  UNMATCHED_ROUTE,
} from './telemetry-names.ts';
export type { FhirVersion, NameSearchProfile, ReleaseProfile } from './versions.ts';
export {
  DEFAULT_FHIR_VERSION,
  FHIR_JSON_MIME,
  FHIR_RELEASES,
  FHIR_VERSION_NUMBER,
  FHIR_VERSIONS,
  isFhirVersion,
  otherFhirVersions,
  parseFhirVersion,
} from './versions.ts';
export type { Crc32, HmacKeyEncoding, SpoolLineProblem } from './wire.ts';
export {
  crcHex,
  formatHmacKeyFile,
  frameSpoolLine,
  HMAC_KEY_FILE,
  HMAC_KEY_MIN_BYTES,
  isHexKeyText,
  NDJSON_MEDIA_TYPE,
  parseHmacKeyFile,
  SERVER_KEEP_ALIVE_MS,
  SPOOL_MEDIA_TYPE,
  SPOOL_PREFIX_BYTES,
  spoolLineProblem,
  writeSpoolPrefix,
} from './wire.ts';
