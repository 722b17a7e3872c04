export type { InProcessCaller, QueryApiHandler, QueryApiOptions } from './api.ts';
export {
  AUDIT_ROUTES,
  apiError,
  buildQueryApi,
  decodeActor,
  drained,
  MAX_API_BODY_BYTES,
  panelInterval,
  queryApiRoutes,
} from './api.ts';
export type { Credential, Principal } from './auth.ts';
export {
  assertIngestBind,
  assertQueryApiBind,
  authenticate,
  isLoopbackHost,
  MIN_TOKEN_LENGTH,
  parseCredentials,
  queryCredentials,
  SHARED_QUERY_TOKEN_NAME,
} from './auth.ts';
export type { SinkMarker } from './discovery.ts';
export {
  findAnsweringSink,
  findRunningSink,
  removeSinkMarker,
  SINK_MARKER_FILE,
  writeSinkMarker,
} from './discovery.ts';
export type { InProcessQueryOptions } from './in-process.ts';
export { inProcessQuery } from './in-process.ts';
export type { ExpandMacros, MacroContext, PanelProvider, PanelVariable, QueryPanel } from './panels.ts';
export { AUDIT_RECORD_TABLES, checkPanelProvider, loadPanelProvider, PANEL_PROVIDER_EXPORT } from './panels.ts';
export type { AuditRead, AuditReadRow } from './query-log.ts';
export { listAuditReads, recordAuditRead } from './query-log.ts';
export type { QueryParams, QueryRequest, QueryTransport, RemoteQueryOptions, RemoteQueryResult } from './remote.ts';
export { httpQuery, queryRemoteReport, RemoteQueryError } from './remote.ts';
export type { ApiReportInfo } from './reports.ts';
export { apiReports, runNamedReport } from './reports.ts';
export type { RequestGuardOptions } from './request-guard.ts';
export { guardRequest, normalPath } from './request-guard.ts';
export type { RelatedRecords, SearchPage } from './search.ts';
export { relatedRecords, SEARCH_COLUMNS, SEARCH_DEFAULTS, searchAudit, searchAuditExport } from './search.ts';
