/**
 * The read-only query API of the sink (mounted on the sink's port under `/api/`, loopback by default):
 *
 *   GET  /api/reports                        the reports this API serves (name, title, kind, path)
 *   GET  /api/audit/access|activity|summary  the CLI's reports, same options (params.ts), format=json|csv|fhir|table
 *   GET  /api/audit/report/<name>            the monitoring reports (after-hours, volume, vip, name-probing, …)
 *   GET  /api/audit/verify                   HMAC chain check with the key the server was given; POST {key} with one
 *   GET  /api/audit/search                   paged audit search (console); format=csv|fhir downloads every match
 *   GET  /api/audit/related?event-id=        records of the same request and user session
 *   GET|POST|DELETE /api/audit/vip           the VIP watch list
 *   GET  /api/audit/query-log                audit_query_log: the reads of audit records through this API
 *   GET  /api/panels, /api/panels/<id>       panel definitions and their data (from, to, tenant, interaction)
 *
 * Every request that reads audit records (a route or panel whose `readsAuditRecords` is true) is recorded in
 * audit_query_log before its answer is sent; if that record cannot be stored, nothing is returned (503). The same
 * core answers in-process (in-process.ts: `fhirwatch audit --store`), so that rule has this one home. ClickHouse runs the queries on its own threads (chdb's
 * async API, or a server), so a report does not hold the event loop that `POST /v1/audit` needs
 * (bench/ingest-under-query.ts measures it).
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { userInfo } from 'node:os';
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../compliance/errors.ts';
import { auditEventBundle } from '../compliance/fhir/audit-event.ts';
import { formatCsv } from '../compliance/format/csv.ts';
import { formatReport } from '../compliance/format/index.ts';
import type { Report } from '../compliance/types.ts';
import { addVipPatient, listVipPatients, removeVipPatient } from '../compliance/vip.ts';
import { SinkError } from '../errors.ts';
import { authenticate, type Principal } from './auth.ts';
import { checkPanelProvider, type PanelProvider, type QueryPanel } from './panels.ts';
import { number, output, parametersForLog, single } from './params.ts';
import { type AuditRead, listAuditReads, recordAuditRead } from './query-log.ts';
import { apiReports, isMonitoringReport, runAccess, runNamedReport, runVerify } from './reports.ts';
import { relatedRecords, SEARCH_COLUMNS, searchAudit, searchAuditAll } from './search.ts';
import { csvChunks, fhirBundleChunks, jsonReportChunks } from './stream.ts';

/** A caller known without HTTP (the CLI running the core in its own process): no token, its own principal. */
export interface InProcessCaller {
  principal: string;
  auth: 'process';
  surface: 'cli';
}

export interface QueryApiOptions {
  client: ClickHouseClient;
  /** Bearer token; required (by the caller, see assertQueryApiBind) for a non-loopback bind. */
  token?: string;
  /** HMAC key of the audit writers, for `GET /api/audit/verify` (and the console's chain status). */
  hmacKey?: Uint8Array | (() => Uint8Array | undefined);
  /** Panels and selectors (`/api/panels`, `/api/variables`), checked with checkPanelProvider. */
  panels?: PanelProvider;
  /** Set for in-process use (in-process.ts): every request is this caller's. */
  caller?: InProcessCaller;
  /** Actor recorded for loopback requests that name none (default: the OS user running the sink). */
  defaultActor?: string;
  /** Points per panel series (default 120): the interval is (to - from) / points, rounded up to a nice step. */
  panelPoints?: number;
}

/** Handles `/api/…`; resolves false when the path is not the API's (the caller routes it elsewhere). */
export type QueryApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** One API request, as the HTTP side hands it over (to the core here, or to the query worker). */
export interface ApiRequest {
  method: string;
  /** Path and query string. */
  url: string;
  headers: Record<string, string | undefined>;
  body: Buffer;
  remoteAddress: string;
  /** The HMAC key for verify, resolved by the HTTP side (options.hmacKey may be a function). */
  hmacKey?: Uint8Array;
}

/** Where the core writes its answer (a node:http response, or messages back from the query worker). */
export interface ApiResponseSink {
  readonly headersSent: boolean;
  readonly aborted: boolean;
  writeHead(status: number, headers: Record<string, string | number>): void;
  /** Resolves when the chunk may be followed by the next (backpressure). */
  write(chunk: string): Promise<void>;
  end(body?: string): void;
  abort(): void;
}

/** The API's logic: routing, access control, queries, audit_query_log, answers. */
export type ApiCore = (req: ApiRequest, res: ApiResponseSink) => Promise<void>;

/** Headers the core reads. */
export const API_REQUEST_HEADERS = ['authorization', 'x-fhirwatch-actor', 'x-fhirwatch-surface', 'user-agent'] as const;

export function isApiPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === '/api' || path.startsWith('/api/');
}

/** The request's body (bounded) and the headers the core reads. */
export async function readApiRequest(req: IncomingMessage, hmacKey?: Uint8Array): Promise<ApiRequest> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_API_BODY_BYTES) break;
    chunks.push(chunk as Buffer);
  }
  const headers: Record<string, string | undefined> = {};
  for (const name of API_REQUEST_HEADERS) {
    const value = req.headers[name];
    headers[name] = Array.isArray(value) ? value[0] : value;
  }
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers,
    // past the limit: one byte more than allowed, so the core answers 413
    body: size > MAX_API_BODY_BYTES ? Buffer.alloc(MAX_API_BODY_BYTES + 1) : Buffer.concat(chunks),
    remoteAddress: req.socket.remoteAddress ?? '',
    ...(hmacKey === undefined ? {} : { hmacKey }),
  };
}

/** An ApiResponseSink over a node:http response. */
export function httpResponseSink(res: ServerResponse): ApiResponseSink {
  return {
    get headersSent() {
      return res.headersSent;
    },
    get aborted() {
      return res.destroyed;
    },
    writeHead: (status, headers) => {
      res.writeHead(status, headers);
    },
    write: async (chunk) => {
      if (!res.write(chunk)) await once(res, 'drain');
    },
    end: (body) => {
      res.end(body);
    },
    abort: () => {
      res.destroy();
    },
  };
}

export function resolveHmacKey(key: QueryApiOptions['hmacKey']): Uint8Array | undefined {
  return typeof key === 'function' ? key() : key;
}

/** The query API served in this thread (a ClickHouse server; a store without ingest; tests). */
export function buildQueryApi(options: QueryApiOptions): QueryApiHandler {
  const core = createApiCore(options);
  return async (req, res) => {
    if (!isApiPath(req.url ?? '/')) return false;
    await core(await readApiRequest(req, resolveHmacKey(options.hmacKey)), httpResponseSink(res));
    return true;
  };
}

/** Rows a panel answer carries at most (the console draws far fewer). */
export const MAX_PANEL_ROWS = 20_000;

const NICE_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

export function panelInterval(from: Date, to: Date, points: number): number {
  const raw = (to.getTime() - from.getTime()) / 1000 / points;
  return NICE_STEPS.find((step) => step >= raw) ?? Math.ceil(raw / 86400) * 86400;
}

interface Answer {
  status: number;
  type: string;
  /** The whole answer, or `chunks` for a large one (serialized in slices that yield to the event loop). */
  body: string;
  chunks?: AsyncIterable<string>;
  rows: number;
  format: string;
  filename?: string;
  headers?: Record<string, string>;
}

const json = (body: unknown, rows: number, status = 200): Answer => ({
  status,
  type: 'application/json',
  body: JSON.stringify(body),
  rows,
  format: 'json',
});

const FORMAT_TYPES: Record<string, { type: string; ext: string }> = {
  json: { type: 'application/json', ext: 'json' },
  csv: { type: 'text/csv; charset=utf-8', ext: 'csv' },
  fhir: { type: 'application/fhir+json', ext: 'fhir.json' },
  table: { type: 'text/plain; charset=utf-8', ext: 'txt' },
};

function reportAnswer(report: Report<object>, q: URLSearchParams): Answer {
  const { format, fhirShape } = output(q);
  const t = FORMAT_TYPES[format] as { type: string; ext: string };
  const base = {
    status: 200,
    type: t.type,
    body: '',
    rows: report.rows.length,
    format,
    filename: `fhirwatch-${report.name}.${t.ext}`,
    // csv and fhir have no place for the report's notes: they travel in a header (the CLI prints them to stderr)
    ...((format === 'csv' || format === 'fhir') && (report.notes?.length ?? 0) > 0
      ? { headers: { 'x-fhirwatch-notes': encodeURIComponent(JSON.stringify(report.notes)) } }
      : {}),
  };
  if (format === 'json') return { ...base, chunks: jsonReportChunks(report) };
  if (format === 'csv') return { ...base, chunks: csvChunks(report.exportColumns ?? report.columns, report.rows) };
  if (format === 'fhir' && report.records !== undefined)
    return { ...base, chunks: fhirBundleChunks(report.records, fhirShape) };
  // table output, and the error for FHIR output of an aggregate report
  return { ...base, body: formatReport(report, format, { fhirShape }) };
}

function isUnknownTable(error: unknown): boolean {
  const e = error as { code?: string; type?: string; message?: string };
  return e.code === '60' || e.type === 'UNKNOWN_TABLE' || /UNKNOWN_TABLE|Unknown table/i.test(e.message ?? '');
}

/** The missing table's name from a ClickHouse "Unknown table expression identifier 'x'" error, if stated. */
function missingTable(error: unknown): string {
  const m = /identifier '([A-Za-z0-9_.]+)'|Table ([A-Za-z0-9_.]+) does(?:n't| not) exist/.exec(
    (error as Error).message ?? '',
  );
  return (m?.[1] ?? m?.[2] ?? '').replace(/^default\./, '');
}

/** Request bodies (VIP changes, a verify key) are small JSON objects. */
export const MAX_API_BODY_BYTES = 64 * 1024;

function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length > MAX_API_BODY_BYTES)
    throw new SinkError('FW_SINK_TOO_LARGE', `request body exceeds ${MAX_API_BODY_BYTES} bytes`);
  try {
    const value = JSON.parse(body.toString('utf8') || '{}') as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new SinkError('FW_SINK_BAD_JSON', 'body must be a JSON object');
  }
}

function keyFromBody(body: Record<string, unknown>): Uint8Array {
  const key = body.key;
  if (typeof key !== 'string' || key === '') throw new SinkError('FW_SINK_BAD_QUERY', "body needs 'key'");
  const encoding = body.encoding ?? (/^(?:[0-9a-fA-F]{2})+$/.test(key) && key.length >= 32 ? 'hex' : 'utf8');
  if (encoding !== 'hex' && encoding !== 'utf8')
    throw new SinkError('FW_SINK_BAD_QUERY', "'encoding' must be hex or utf8");
  return Buffer.from(key, encoding);
}

/** Status and stable code for an error; the message never quotes ClickHouse (it may echo parameter values). */
export function apiError(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof SinkError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof AuditQueryError) {
    const status =
      error.code === AUDIT_QUERY_ERROR_CODES.patientUnresolved
        ? 404
        : error.code === AUDIT_QUERY_ERROR_CODES.fhirLookupFailed
          ? 502
          : 400;
    return { status, code: error.code, message: error.message };
  }
  const clickhouse = (error as { code?: string; type?: string }).type ?? (error as { code?: string }).code;
  return {
    status: 500,
    code: 'FW_SINK_QUERY_FAILED',
    message: `query failed${clickhouse === undefined ? '' : ` (ClickHouse ${clickhouse})`}`,
  };
}

export function createApiCore(options: QueryApiOptions): ApiCore {
  const { client } = options;
  const provider = options.panels === undefined ? undefined : checkPanelProvider(options.panels, 'panels');
  const panels = new Map((provider?.panels ?? []).map((panel) => [panel.id, panel]));
  const defaultActor = options.defaultActor ?? userInfo().username;
  const points = options.panelPoints ?? 120;

  const panelData = async (panel: QueryPanel, q: URLSearchParams): Promise<Answer> => {
    if (provider === undefined) throw new SinkError('FW_SINK_NOT_CONFIGURED', 'no panel macro expander');
    const to = new Date(single(q, 'to') ?? Date.now());
    const from = new Date(single(q, 'from') ?? to.getTime() - 3_600_000);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
      throw new AuditQueryError(
        AUDIT_QUERY_ERROR_CODES.invalidRange,
        "parameters 'from' and 'to' must be ISO instants, from < to",
      );
    }
    const vars: Record<string, string[] | 'all'> = {};
    for (const name of ['tenant', 'interaction']) {
      const values = q.getAll(name).filter((v) => v !== '' && v !== 'all');
      vars[name] = values.length === 0 ? 'all' : values;
    }
    const intervalSeconds = panelInterval(from, to, points);
    const sql = provider.expandMacros(panel.sql, { from, to, intervalSeconds, vars });
    const base = {
      id: panel.id,
      from: from.toISOString(),
      to: to.toISOString(),
      intervalSeconds,
      columns: panel.columns,
    };
    try {
      // a LIMIT, not max_result_rows: settings on a chDB connection are SET on its one session and would stay
      const result = await client.query({
        query: `SELECT * FROM (${sql}) LIMIT ${MAX_PANEL_ROWS + 1}`,
        format: 'JSONCompactEachRow',
      });
      const rows = (await result.json()) as unknown[][];
      const truncated = rows.length > MAX_PANEL_ROWS;
      if (truncated) rows.length = MAX_PANEL_ROWS;
      return json({ ...base, rows, ...(truncated ? { truncated: true } : {}) }, rows.length);
    } catch (error) {
      if (!isUnknownTable(error)) throw error;
      return json({ ...base, rows: [], missing: missingTable(error) || 'a table this panel reads' }, 0);
    }
  };

  /** Values of each template variable over the range (default the last 30 days); a missing table gives none. */
  const variableValues = async (q: URLSearchParams): Promise<Record<string, string[]>> => {
    const out: Record<string, string[]> = {};
    const to = new Date(single(q, 'to') ?? Date.now());
    const from = new Date(single(q, 'from') ?? to.getTime() - 30 * 86_400_000);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
      throw new AuditQueryError(
        AUDIT_QUERY_ERROR_CODES.invalidRange,
        "parameters 'from' and 'to' must be ISO instants, from < to",
      );
    }
    for (const variable of provider?.variables ?? []) {
      const sql = provider?.expandMacros(variable.sql, { from, to, intervalSeconds: 60, vars: {} }) ?? '';
      try {
        const result = await client.query({ query: sql, format: 'JSONCompactEachRow' });
        out[variable.name] = ((await result.json()) as unknown[][])
          .map((row) => String(row[0]))
          .filter((v) => v !== '');
      } catch (error) {
        if (!isUnknownTable(error)) throw error;
        out[variable.name] = [];
      }
    }
    return out;
  };

  type Route = (req: ApiRequest, q: URLSearchParams, rest: string[]) => Promise<Answer>;
  /** Routes that read audit records (recorded in audit_query_log). */
  const auditRoutes: Record<string, Route> = {
    access: async (_req, q) => reportAnswer(await runAccess(client, q), q),
    activity: async (_req, q) => reportAnswer(await runNamedReport(client, 'activity', q), q),
    summary: async (_req, q) => reportAnswer(await runNamedReport(client, 'summary', q), q),
    report: async (_req, q, [name]) => {
      if (name === undefined || !isMonitoringReport(name)) {
        throw new SinkError('FW_SINK_NOT_FOUND', `no monitoring report named '${name ?? ''}'`);
      }
      return reportAnswer(await runNamedReport(client, name, q), q);
    },
    verify: async (req, q) => {
      let key = req.hmacKey ?? resolveHmacKey(options.hmacKey);
      if (req.method === 'POST') key = keyFromBody(parseJsonBody(req.body));
      if (key === undefined) {
        throw new SinkError(
          'FW_SINK_NOT_CONFIGURED',
          'no HMAC key: start the sink with --hmac-key-file, or POST {"key": …}',
        );
      }
      const report = await runVerify(client, q, key);
      return {
        ...reportAnswer(report, q),
        headers: { 'x-fhirwatch-verify-ok': String(report.parameters.ok === true) },
      };
    },
    search: async (_req, q) => {
      const { format, fhirShape } = output(q);
      if (format === 'json') {
        const page = await searchAudit(client, q);
        return json(
          {
            from: page.range.from.toISOString(),
            to: page.range.to.toISOString(),
            total: page.total,
            offset: page.offset,
            limit: page.limit,
            rows: page.rows,
          },
          page.rows.length,
        );
      }
      const { rows } = await searchAuditAll(client, q);
      const t = FORMAT_TYPES[format] as { type: string; ext: string };
      const body =
        format === 'csv'
          ? formatCsv({ columns: SEARCH_COLUMNS, rows })
          : format === 'fhir'
            ? JSON.stringify(auditEventBundle(rows, { shape: fhirShape }), null, 2)
            : formatReport(
                { name: 'activity', title: 'Audit search', parameters: {}, columns: SEARCH_COLUMNS, rows },
                'table',
              );
      return {
        status: 200,
        type: t.type,
        body,
        rows: rows.length,
        format,
        filename: `fhirwatch-audit-search.${t.ext}`,
      };
    },
    related: async (_req, q) => {
      const related = await relatedRecords(client, q);
      const ids = new Set([...related.request, ...related.session].map((r) => r.event_id));
      return json(related, ids.size);
    },
    vip: async (req, q) => {
      if (req.method === 'GET') {
        const list = await listVipPatients(client);
        return json({ rows: list }, list.length);
      }
      const body =
        req.method === 'POST'
          ? parseJsonBody(req.body)
          : { patient: single(q, 'patient'), tenant: single(q, 'tenant') };
      const patientId = typeof body.patient === 'string' ? body.patient : '';
      const change = {
        patientId,
        tenantId: typeof body.tenant === 'string' ? body.tenant : '',
        reason: typeof body.reason === 'string' ? body.reason : '',
        changedBy: actorOf(req),
      };
      if (req.method === 'POST') await addVipPatient(client, change);
      else if (req.method === 'DELETE') await removeVipPatient(client, change);
      else throw new SinkError('FW_SINK_METHOD', 'use GET, POST or DELETE');
      return json({ ok: true }, 0);
    },
    'query-log': async (_req, q) => {
      const limit = number(q, 'limit', true) ?? 200;
      const rows = await listAuditReads(client, { limit: Math.min(limit, 5000) });
      return json({ rows }, rows.length);
    },
  };

  const actorOf = (req: ApiRequest): string => {
    const declared = req.headers['x-fhirwatch-actor'];
    const text = (Array.isArray(declared) ? declared[0] : declared)?.trim().slice(0, 200) ?? '';
    return text === '' ? defaultActor : text;
  };

  const send = async (res: ApiResponseSink, answer: Answer): Promise<void> => {
    const headers: Record<string, string | number> = {
      'content-type': answer.type,
      'cache-control': 'no-store',
      ...answer.headers,
    };
    if (answer.chunks === undefined) headers['content-length'] = Buffer.byteLength(answer.body);
    if (answer.filename !== undefined && answer.format !== 'json') {
      headers['content-disposition'] = `attachment; filename="${answer.filename}"`;
    }
    res.writeHead(answer.status, headers);
    if (answer.chunks === undefined) {
      res.end(answer.body);
      return;
    }
    for await (const chunk of answer.chunks) {
      if (res.aborted) return;
      await res.write(chunk);
    }
    res.end();
  };

  const sendFailure = (res: ApiResponseSink, error: unknown, fhir: boolean): void => {
    const { status, code, message } = apiError(error);
    const body = fhir
      ? {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: status === 401 ? 'login' : status >= 500 ? 'exception' : 'invalid',
              diagnostics: `${code}: ${message}`,
            },
          ],
        }
      : { error: { code, message } };
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': fhir ? 'application/fhir+json' : 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    };
    if (status === 401) headers['www-authenticate'] = 'Bearer realm="fhirwatch"';
    if (!res.headersSent) {
      res.writeHead(status, headers);
      res.end(text);
    } else res.abort();
  };

  return async (req, res) => {
    const url = new URL(req.url, 'http://sink.invalid');
    const q = url.searchParams;
    const fhir = q.get('format') === 'fhir';
    const started = performance.now();
    const at = new Date();
    let principal: Principal | InProcessCaller;
    try {
      principal = options.caller ?? authenticate(req.headers.authorization, options.token);
    } catch (error) {
      sendFailure(res, error, fhir);
      return;
    }
    const parts = url.pathname
      .split('/')
      .filter((p) => p !== '')
      .slice(1); // after 'api'
    const surface: AuditRead['surface'] =
      options.caller?.surface ?? (req.headers['x-fhirwatch-surface'] === 'console' ? 'console' : 'api');
    const record = async (
      endpoint: string,
      answer: { rows: number; status: number; format: string; errorCode: string },
    ): Promise<void> => {
      await recordAuditRead(client, {
        at,
        principal: principal.principal,
        actor: actorOf(req),
        auth: principal.auth,
        remoteAddr: req.remoteAddress,
        userAgent: String(req.headers['user-agent'] ?? '').slice(0, 300),
        surface,
        endpoint,
        parameters: parametersForLog(q),
        format: answer.format,
        rows: answer.rows,
        status: answer.status,
        errorCode: answer.errorCode,
        durationMs: performance.now() - started,
      });
    };
    /**
     * The rule's one home: a read of audit records (`readsAuditRecords`, a property of the route or panel) is
     * recorded in audit_query_log before any byte of its answer; a failed read is recorded too; an answer whose
     * record cannot be stored is not sent (503).
     */
    const answer = async (
      endpoint: string,
      readsAuditRecords: boolean,
      produce: () => Promise<Answer>,
      failureFormat = 'json',
    ): Promise<void> => {
      if (!readsAuditRecords) {
        await send(res, await produce());
        return;
      }
      let result: Answer;
      try {
        result = await produce();
      } catch (error) {
        const failure = apiError(error);
        await record(endpoint, {
          rows: 0,
          status: failure.status,
          format: failureFormat,
          errorCode: failure.code,
        }).catch(() => undefined);
        throw error;
      }
      await recordOrRefuse(() =>
        record(endpoint, { rows: result.rows, status: result.status, format: result.format, errorCode: '' }),
      );
      await send(res, result);
    };

    try {
      if (parts[0] === 'reports' && parts.length === 1) {
        if (req.method !== 'GET') throw new SinkError('FW_SINK_METHOD', 'use GET');
        const reports = [
          ...apiReports(),
          {
            name: 'verify',
            title: 'HMAC chain verification',
            summary: 'check the HMAC chain and seq gaps per writer',
            kind: 'aggregate',
            path: '/api/audit/verify',
            recordLevel: false,
            options: [],
            configured: (req.hmacKey ?? resolveHmacKey(options.hmacKey)) !== undefined,
          },
        ];
        await send(res, json({ reports }, 0));
        return;
      }
      if (parts[0] === 'variables' && parts.length === 1) {
        // template-variable values (tenant ids, FHIR interactions): not PHI, not recorded
        if (req.method !== 'GET') throw new SinkError('FW_SINK_METHOD', 'use GET');
        await send(res, json(await variableValues(q), 0));
        return;
      }
      if (parts[0] === 'panels') {
        if (req.method !== 'GET') throw new SinkError('FW_SINK_METHOD', 'use GET');
        if (parts.length === 1) {
          const list = [...panels.values()].map(({ sql: _sql, ...rest }) => rest);
          await send(res, json({ panels: list }, 0));
          return;
        }
        const panel = parts.length === 2 ? panels.get(parts[1] as string) : undefined;
        if (panel === undefined) throw new SinkError('FW_SINK_NOT_FOUND', 'no such panel');
        await answer(`panel:${panel.id}`, panel.readsAuditRecords, () => panelData(panel as QueryPanel, q));
        return;
      }
      if (parts[0] === 'audit' && parts[1] !== undefined && auditRoutes[parts[1]] !== undefined) {
        const name = parts[1];
        const rest = parts.slice(2);
        if (name !== 'report' && rest.length > 0) throw new SinkError('FW_SINK_NOT_FOUND', 'no such endpoint');
        if (name === 'report' && rest.length !== 1)
          throw new SinkError('FW_SINK_NOT_FOUND', 'use /api/audit/report/<name>');
        const writes = req.method === 'POST' || req.method === 'DELETE';
        const allowed = name === 'vip' ? ['GET', 'POST', 'DELETE'] : name === 'verify' ? ['GET', 'POST'] : ['GET'];
        if (!allowed.includes(req.method ?? '')) throw new SinkError('FW_SINK_METHOD', `use ${allowed.join(' or ')}`);
        const endpoint =
          name === 'report'
            ? `report:${rest[0]}`
            : writes && name === 'vip'
              ? `vip:${req.method?.toLowerCase()}`
              : name;
        // every /api/audit/ route reads audit records (the VIP list and changes, the query log included)
        await answer(endpoint, true, () => (auditRoutes[name] as Route)(req, q, rest), q.get('format') ?? 'json');
        return;
      }
      throw new SinkError('FW_SINK_NOT_FOUND', 'no such endpoint');
    } catch (error) {
      sendFailure(res, error, fhir);
    }
  };
}

/** Store the read record or refuse the answer: an unrecorded read of audit records is not served. */
async function recordOrRefuse(write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (cause) {
    throw new SinkError(
      'FW_SINK_STORE_UNAVAILABLE',
      'could not record this read in audit_query_log; nothing returned',
      {
        cause,
        retryAfter: 1,
      },
    );
  }
}
