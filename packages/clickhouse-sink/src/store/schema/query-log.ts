/**
 * `audit_query_log` (migration 9; its comments made true by migration 13): every read of audit records, itself
 * recorded: through the sink's query API (HTTP: the console, `fhirwatch audit --sink-url`, any client) or its core
 * run in the reader's own process (`fhirwatch audit --store|--clickhouse-url`, `fhirwatch demo`'s own reads):
 * who (the authenticated principal, or the declared actor on a loopback bind), when, which query with which
 * parameters, how many rows came back and how it ended. ONC §170.315(d)(2)/(d)(3) expect
 * access to the audit log to be audited too. Parameters may name patients (PHI): this table lives in the audit
 * store, with the audit retention, and is shown only through the same API.
 */
import { literal } from './render.ts';
import type { StatementDef, TableDef } from './types.ts';

export const AUDIT_QUERY_LOG_TABLE = 'audit_query_log';

const lc = 'LowCardinality(String)';

/**
 * As created by migration 9 (released: never edited, its checksum is on record in every store). The comments of
 * `principal`, `auth`, `surface` and the table describe the first callers only; migration 13 replaces them with
 * {@link AUDIT_QUERY_LOG_COMMENTS}.
 */
export function auditQueryLogTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: AUDIT_QUERY_LOG_TABLE,
    comment: 'fhirwatch: reads of audit records through the query API and console (audit of audit access)',
    columns: [
      { name: 'query_id', type: 'UUID' },
      { name: 'at', type: "DateTime64(3, 'UTC')", codec: 'CODEC(Delta(8), ZSTD(1))' },
      { name: 'principal', type: 'String', comment: 'token fingerprint, or loopback' },
      { name: 'actor', type: 'String', comment: 'user named by the caller (x-fhirwatch-actor), as declared' },
      { name: 'auth', type: lc, comment: 'loopback | token' },
      { name: 'remote_addr', type: 'String' },
      { name: 'user_agent', type: 'String', codec: 'CODEC(ZSTD(1))' },
      { name: 'surface', type: lc, comment: 'api | console' },
      { name: 'endpoint', type: lc },
      { name: 'parameters', type: 'String', codec: 'CODEC(ZSTD(3))', comment: 'PHI: query parameters as sent (JSON)' },
      { name: 'format', type: lc },
      { name: 'rows', type: 'UInt64' },
      { name: 'status', type: 'UInt16' },
      { name: 'error_code', type: lc },
      { name: 'duration_ms', type: 'Float64' },
    ],
    engine: 'MergeTree',
    partitionBy: 'toYYYYMM(at)',
    orderBy: '(at, query_id)',
    ttl: `toDateTime(at) + toIntervalDay(${retentionDays})`,
    shardingKey: 'cityHash64(query_id)',
  };
}

/** What each column of audit_query_log holds since the CLI and the demo read through the query core too. */
export const AUDIT_QUERY_LOG_COMMENTS = {
  table:
    'fhirwatch: every read of audit records (query API over HTTP, console, CLI and demo in process), itself audited',
  principal: 'who is authenticated: token:<name> (named or shared token), loopback, or os:<OS user> (in process)',
  actor: 'who asked, as recorded: the officer of a named token, else x-fhirwatch-actor (CLI: --actor or the OS user)',
  auth: "loopback | token | process (the query core run in the reader's own process)",
  surface: 'api | console | cli | demo',
} as const;

/** Migration 13: the column comments of migration 9, made true (metadata only, no data touched). */
export const auditQueryLogColumnComments: StatementDef = {
  kind: 'statement',
  name: 'audit_query_log_column_comments',
  tables: [AUDIT_QUERY_LOG_TABLE],
  sql: `ALTER TABLE {table} ${(['principal', 'actor', 'auth', 'surface'] as const)
    .map((column) => `COMMENT COLUMN ${column} ${literal(AUDIT_QUERY_LOG_COMMENTS[column])}`)
    .join(', ')}`,
};

/** Migration 13: the table comment (shard-local tables: a Distributed table keeps the comment it was made with). */
export const auditQueryLogTableComment: StatementDef = {
  kind: 'statement',
  name: 'audit_query_log_table_comment',
  tables: [AUDIT_QUERY_LOG_TABLE],
  scope: 'shards',
  sql: `ALTER TABLE {table} MODIFY COMMENT ${literal(AUDIT_QUERY_LOG_COMMENTS.table)}`,
};
