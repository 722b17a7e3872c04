/**
 * `audit_query_log` (migration 9): every read of audit records through the sink's query API or the console,
 * itself recorded: who (the authenticated principal, or the declared actor on a loopback bind), when, which
 * query with which parameters, how many rows came back and how it ended. ONC §170.315(d)(2)/(d)(3) expect
 * access to the audit log to be audited too. Parameters may name patients (PHI): this table lives in the audit
 * store, with the audit retention, and is shown only through the same API.
 */
import type { TableDef } from './types.ts';

export const AUDIT_QUERY_LOG_TABLE = 'audit_query_log';

const lc = 'LowCardinality(String)';

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
