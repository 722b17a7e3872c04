/**
 * `@fhirwatch/clickhouse-sink/query-client`: what a CLI needs to query a running sink, without loading chDB or
 * the query modules: the HTTP client of the query API and the lookup of the sink that owns a store.
 */

export type { Credential } from './auth.ts';
export { parseCredentials } from './auth.ts';
export type { SinkMarker } from './discovery.ts';
export { findAnsweringSink, findRunningSink, SINK_MARKER_FILE } from './discovery.ts';
export type { QueryParams, QueryRequest, QueryTransport, RemoteQueryOptions, RemoteQueryResult } from './remote.ts';
export { httpQuery, queryRemoteReport, RemoteQueryError } from './remote.ts';
