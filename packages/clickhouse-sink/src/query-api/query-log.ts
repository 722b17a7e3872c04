/** Recording reads of audit records (table audit_query_log, migration 9) and listing them for the console. */
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { selectRows } from '../compliance/records.ts';
import { chDateTime, isoFromClickHouse } from '../compliance/time-range.ts';
import { AUDIT_QUERY_LOG_TABLE } from '../store/schema/query-log.ts';

export interface AuditRead {
  at: Date;
  principal: string;
  actor: string;
  /** `process`: the query core run in the reader's own process (the CLI on a store it opened). */
  auth: 'loopback' | 'token' | 'process';
  remoteAddr: string;
  userAgent: string;
  /** `cli`: `fhirwatch audit`; `demo`: the reads `fhirwatch demo` prints (both in-process, auth `process`). */
  surface: 'api' | 'console' | 'cli' | 'demo';
  endpoint: string;
  parameters: Record<string, unknown>;
  format: string;
  rows: number;
  status: number;
  errorCode: string;
  durationMs: number;
}

export interface AuditReadRow {
  query_id: string;
  at: string;
  principal: string;
  actor: string;
  auth: string;
  remote_addr: string;
  surface: string;
  endpoint: string;
  parameters: string;
  format: string;
  rows: number;
  status: number;
  error_code: string;
  duration_ms: number;
}

/** Insert one read; resolves once it is stored (the API answers only after that). */
export async function recordAuditRead(client: ClickHouseClient, read: AuditRead): Promise<string> {
  const queryId = randomUUID();
  await client.insert({
    table: AUDIT_QUERY_LOG_TABLE,
    format: 'JSONEachRow',
    values: [
      {
        query_id: queryId,
        at: chDateTime(read.at),
        principal: read.principal,
        actor: read.actor,
        auth: read.auth,
        remote_addr: read.remoteAddr,
        user_agent: read.userAgent,
        surface: read.surface,
        endpoint: read.endpoint,
        parameters: JSON.stringify(read.parameters),
        format: read.format,
        rows: read.rows,
        status: read.status,
        error_code: read.errorCode,
        duration_ms: read.durationMs,
      },
    ],
  });
  return queryId;
}

/** The latest reads, newest first. */
export async function listAuditReads(
  client: ClickHouseClient,
  options: { limit?: number; from?: Date } = {},
): Promise<AuditReadRow[]> {
  const rows = await selectRows<Record<string, unknown>>(
    client,
    `SELECT query_id, at, principal, actor, auth, remote_addr, surface, endpoint, parameters, format, rows, status,
            error_code, duration_ms
     FROM ${AUDIT_QUERY_LOG_TABLE}
     WHERE at >= {from:DateTime64(3, 'UTC')}
     ORDER BY at DESC, query_id LIMIT {limit:UInt32}`,
    { from: chDateTime(options.from ?? new Date(0)), limit: options.limit ?? 200 },
  );
  return rows.map((row) => ({
    query_id: String(row.query_id),
    at: isoFromClickHouse(String(row.at)),
    principal: String(row.principal),
    actor: String(row.actor),
    auth: String(row.auth),
    remote_addr: String(row.remote_addr),
    surface: String(row.surface),
    endpoint: String(row.endpoint),
    parameters: String(row.parameters),
    format: String(row.format),
    rows: Number(row.rows),
    status: Number(row.status),
    error_code: String(row.error_code),
    duration_ms: Number(row.duration_ms),
  }));
}
