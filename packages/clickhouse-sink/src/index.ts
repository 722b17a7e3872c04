/**
 * `@fhirwatch/clickhouse-sink`: what an application that embeds the sink needs — start it, open and migrate a
 * store, serve the query API or run its core in process. Each part has its own entry with its public API:
 * `/store` (opening, schema, migrations, row codec), `/ingest` (HTTP intake, writers, OTLP), `/compliance`
 * (reports, verify, settings, VIP list, imports, output formats), `/query-api` (routes, audit_query_log, panels),
 * `/query-client` (the HTTP client alone, without chDB) and `/testing` (the seeded audit data generator, for tests).
 */
export type { SinkErrorCode } from './errors.ts';
export { SINK_ERROR_STATUS, SINK_ERRORS, SinkError } from './errors.ts';
export type {
  DestinationConfig,
  Incident,
  IncidentDetail,
  IncidentEvent,
  IncidentMessage,
  IncidentState,
  IncidentsOptions,
} from './incidents/index.ts';
export {
  cefEvent,
  changeIncidentState,
  getIncident,
  IncidentMonitor,
  incidentKey,
  listIncidents,
  syslogLine,
  teamsCard,
} from './incidents/index.ts';
export type { SinkOptions, SinkQueryApiOptions, SinkServer } from './ingest/index.ts';
export { startSink } from './ingest/index.ts';
export type { SinkLogEntry, SinkLogger } from './log.ts';
export { stderrLogger } from './log.ts';
export type { PanelProvider, QueryApiHandler, QueryApiOptions, QueryPanel } from './query-api/index.ts';
export { assertQueryApiBind, buildQueryApi, inProcessQuery } from './query-api/index.ts';
export type { SchemaOptions, StoreOptions, StoreTarget } from './store/index.ts';
export { migrate, openStore, storeOptionsOf } from './store/index.ts';
