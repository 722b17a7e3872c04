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
 *   GET|POST /api/audit/incidents            incidents (list, `id=` one with its changes and deliveries); POST
 *                                            {id, action: ack|close, note} changes its state
 *   GET  /api/panels, /api/panels/<id>       panel definitions and their data (from, to, tenant, interaction)
 *
 * Every request that reads audit records (every `/api/audit/` route; a panel whose `readsAuditRecords` is true) is
 * recorded in audit_query_log before its answer is sent; if that record cannot be stored, nothing is returned
 * (503). The same core answers in process (in-process.ts: `fhirwatch audit --store`), so that rule has this one
 * home. ClickHouse runs the queries on its own threads (chdb's
 * async API, or a server), so a report does not hold the event loop that `POST /v1/audit` needs
 * (bench/ingest-under-query.ts measures it).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../compliance/errors.ts';
import { formatReport } from '../compliance/format/index.ts';
import { tenantDisplayNames } from '../compliance/names.ts';
import type { Report } from '../compliance/types.ts';
import { addVipPatient, listVipPatients, removeVipPatient } from '../compliance/vip.ts';
import { SinkError } from '../errors.ts';
import {
  changeIncidentState,
  getIncident,
  INCIDENT_STATES,
  type IncidentState,
  isIncidentId,
  listIncidents,
} from '../incidents/store.ts';
import { authenticate, type Credential, type Principal, queryCredentials } from './auth.ts';
import { checkPanelProvider, type PanelProvider, type QueryPanel } from './panels.ts';
import { number, output, parametersForLog, single } from './params.ts';
import { type AuditRead, listAuditReads, recordAuditRead } from './query-log.ts';
import { apiReports, isMonitoringReport, runAccess, runNamedReport, runVerify } from './reports.ts';
import { relatedRecords, SEARCH_COLUMNS, searchAudit, searchAuditExport, searchAuditRequests } from './search.ts';
import {
  csvChunks,
  csvPageChunks,
  fhirBundleChunks,
  fhirBundlePageChunks,
  jsonReportChunks,
  ndjsonPageChunks,
} from './stream.ts';

/**
 * A caller known without HTTP (the CLI running the core in its own process: `fhirwatch audit`, or the reads
 * `fhirwatch demo` makes for its summary): no token, its own principal.
 */
export interface InProcessCaller {
  principal: string;
  auth: 'process';
  surface: 'cli' | 'demo';
}

export interface QueryApiOptions {
  client: ClickHouseClient;
  /** The shared bearer token (FHIRWATCH_QUERY_TOKEN), recorded as the officer `query-token`. */
  token?: string;
  /** Officers' named tokens (FHIRWATCH_QUERY_TOKENS): reads are recorded with the name. */
  tokens?: readonly Credential[];
  /** HMAC key of the audit writers, for `GET /api/audit/verify` (and the console's chain status). */
  hmacKey?: Uint8Array | (() => Uint8Array | undefined);
  /** Panels and selectors (`/api/panels`, `/api/variables`), checked with checkPanelProvider. */
  panels?: PanelProvider;
  /** Set for in-process use (in-process.ts): every request is this caller's (no token to check). */
  caller?: InProcessCaller;
  /** Actor recorded for requests that name none and carry no named token (default `anonymous`). */
  defaultActor?: string;
  /** Where an unexpected error is logged (request id, code; never parameters or ClickHouse text). */
  logError?: (entry: { requestId: string; endpoint: string; code: string; error: string }) => void;
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
export const API_REQUEST_HEADERS = [
  'authorization',
  'x-fhirwatch-actor',
  'x-fhirwatch-surface',
  'user-agent',
  'content-type',
] as const;

export function isApiPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === '/api' || path.startsWith('/api/');
}

/** The request's body (bounded: past the limit the rest is drained, not kept) and the headers the core reads. */
export async function readApiRequest(req: IncomingMessage, hmacKey?: Uint8Array): Promise<ApiRequest> {
  const chunks: Buffer[] = [];
  let size = Number(req.headers['content-length'] ?? 0) > MAX_API_BODY_BYTES ? MAX_API_BODY_BYTES + 1 : 0;
  if (size > MAX_API_BODY_BYTES) req.resume();
  else {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size <= MAX_API_BODY_BYTES) chunks.push(chunk as Buffer);
    }
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

/** Resolves when the socket drained, or closed (a client gone never drains). */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
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
      if (!res.write(chunk)) await drained(res);
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

/** The audit routes (`/api/audit/<name>`) and their methods: the route table the dispatcher and the tests read. */
export const AUDIT_ROUTES = {
  access: ['GET'],
  activity: ['GET'],
  summary: ['GET'],
  report: ['GET'],
  verify: ['GET', 'POST'],
  search: ['GET'],
  related: ['GET'],
  vip: ['GET', 'POST', 'DELETE'],
  'query-log': ['GET'],
  incidents: ['GET', 'POST'],
} as const satisfies Record<string, readonly ('GET' | 'POST' | 'DELETE')[]>;
type AuditRouteName = keyof typeof AUDIT_ROUTES;
const AUDIT_ROUTE_METHODS: ReadonlyMap<string, readonly string[]> = new Map(Object.entries(AUDIT_ROUTES));

/** Every route of the query API (ids as `{name}` / `{id}`), for the security tests and documentation. */
export function queryApiRoutes(panelIds: readonly string[] = []): { path: string; methods: readonly string[] }[] {
  return [
    { path: '/api/reports', methods: ['GET'] },
    { path: '/api/variables', methods: ['GET'] },
    { path: '/api/panels', methods: ['GET'] },
    ...(panelIds.length > 0 ? [{ path: '/api/panels/{id}', methods: ['GET'] }] : []),
    ...Object.entries(AUDIT_ROUTES).map(([name, methods]) => ({
      path: name === 'report' ? '/api/audit/report/{name}' : `/api/audit/${name}`,
      methods,
    })),
  ];
}

const NDJSON_TYPE = 'application/x-ndjson';

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

/**
 * A JSON object body. The content type must say JSON: a cross-site `<form>` or `text/plain` fetch (sent without
 * a CORS preflight) can then never change a setting.
 */
function parseJsonBody(req: ApiRequest): Record<string, unknown> {
  const { body } = req;
  if (body.length > MAX_API_BODY_BYTES)
    throw new SinkError('FW_SINK_TOO_LARGE', `request body exceeds ${MAX_API_BODY_BYTES} bytes`);
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new SinkError('FW_SINK_UNSUPPORTED_MEDIA_TYPE', 'content-type must be application/json');
  }
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

/** ClickHouse refused a parameter value (out of its type's range, unparsable): the request's fault, 400. */
function isBadParameter(error: unknown): boolean {
  const e = error as { code?: unknown; type?: unknown; message?: unknown };
  const text = `${String(e.type ?? '')} ${String(e.code ?? '')} ${String(e.message ?? '')}`;
  return /BAD_QUERY_PARAMETER|CANNOT_PARSE_|VALUE_IS_OUT_OF_RANGE|^ ?457\b/.test(text);
}

/**
 * Status and stable code for an error. Neither the message nor the code says anything of ClickHouse (its type
 * names and messages would make the API a parse oracle, and may echo parameter values): an unexpected error is
 * `FW_SINK_QUERY_FAILED` with a request id, and the server logs the id with the error's type.
 */
export function apiError(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof SinkError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof AuditQueryError) return { status: error.status, code: error.code, message: error.message };
  if (isBadParameter(error)) {
    return { status: 400, code: 'FW_SINK_BAD_QUERY', message: 'a parameter value is malformed or out of range' };
  }
  return { status: 500, code: 'FW_SINK_QUERY_FAILED', message: 'the query failed' };
}

/** What the server log may say of an unexpected error: its class and ClickHouse type or code, no message (PHI). */
function errorKind(error: unknown): string {
  const e = error as { name?: unknown; type?: unknown; code?: unknown };
  return [e.name, e.type, e.code].filter((part) => typeof part === 'string' && /^[\w.-]{1,60}$/.test(part)).join(' ');
}

/** C0 controls and DEL become spaces. */
const withoutControls = (text: string): string =>
  [...text].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? ' ' : c)).join('');

/** The actor header, percent-encoded UTF-8 (a browser cannot send other bytes in a header); raw UTF-8 accepted. */
export function decodeActor(value: string | undefined): string {
  if (value === undefined) return '';
  let text = value;
  // node reads header bytes as Latin-1: raw UTF-8 bytes come back as mojibake, undo it when they are valid UTF-8
  if ([...text].some((c) => c.charCodeAt(0) > 0x7f)) {
    const bytes = Buffer.from(text, 'latin1');
    const utf8 = bytes.toString('utf8');
    if (!utf8.includes('\uFFFD')) text = utf8;
  } else if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      // not percent-encoding: keep the text as sent
    }
  }
  return withoutControls(text).trim().slice(0, 200);
}

export function createApiCore(options: QueryApiOptions): ApiCore {
  const { client } = options;
  const provider = options.panels === undefined ? undefined : checkPanelProvider(options.panels, 'panels');
  const panels = new Map((provider?.panels ?? []).map((panel) => [panel.id, panel]));
  const defaultActor = options.defaultActor ?? 'anonymous';
  const credentials = queryCredentials(options.token, options.tokens);
  const logError =
    options.logError ??
    ((entry) =>
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), component: 'fhirwatch-sink', level: 'error', event: 'FW_SINK_QUERY_FAILED', ...entry })}\n`,
      ));
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
  /** Routes that read audit records (recorded in audit_query_log); methods in AUDIT_ROUTES. A Map: no prototype. */
  const auditRoutes = new Map<AuditRouteName, Route>(
    Object.entries({
      access: async (_req, q) => reportAnswer(await runAccess(client, q), q),
      activity: async (_req, q) => reportAnswer(await runNamedReport(client, 'activity', q), q),
      summary: async (_req, q) => reportAnswer(await runNamedReport(client, 'summary', q), q),
      report: async (_req, q, [name]) => {
        if (name === undefined || !isMonitoringReport(name)) {
          throw new SinkError('FW_SINK_NOT_FOUND', 'no monitoring report by that name');
        }
        return reportAnswer(await runNamedReport(client, name, q), q);
      },
      verify: async (req, q) => {
        let key = req.hmacKey ?? resolveHmacKey(options.hmacKey);
        if (req.method === 'POST') key = keyFromBody(parseJsonBody(req));
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
      search: async (_req, q) => searchAnswer(q),
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
          req.method === 'POST' ? parseJsonBody(req) : { patient: single(q, 'patient'), tenant: single(q, 'tenant') };
        const patientId = typeof body.patient === 'string' ? body.patient : '';
        const change = {
          patientId,
          tenantId: typeof body.tenant === 'string' ? body.tenant : '',
          reason: typeof body.reason === 'string' ? body.reason : '',
          changedBy: actorOf(req, principalOf(req)),
        };
        if (req.method === 'POST') await addVipPatient(client, change);
        else await removeVipPatient(client, change);
        return json({ ok: true }, 0);
      },
      'query-log': async (_req, q) => {
        const limit = number(q, 'limit', true) ?? 200;
        const rows = await listAuditReads(client, { limit: Math.min(limit, 5000) });
        return json({ rows }, rows.length);
      },
      incidents: async (req, q) => {
        if (req.method === 'POST') {
          // acknowledge or close: {id, action: 'ack' | 'close', note}; the change records the actor
          const body = parseJsonBody(req);
          const id = typeof body.id === 'string' ? body.id : '';
          if (!isIncidentId(id)) throw new SinkError('FW_SINK_NOT_FOUND', 'no incident by that id');
          if (body.note !== undefined && typeof body.note !== 'string') {
            throw new SinkError('FW_SINK_BAD_QUERY', 'note must be text');
          }
          const event = await changeIncidentState(client, {
            id,
            action: typeof body.action === 'string' ? body.action : '',
            actor: actorOf(req, principalOf(req)),
            ...(typeof body.note === 'string' ? { note: body.note } : {}),
          });
          return json({ ok: true, incident_id: id, event }, 1);
        }
        const names = await tenantDisplayNames(client);
        const id = single(q, 'id');
        if (id !== undefined) {
          const detail = await getIncident(client, id);
          if (detail === undefined) throw new SinkError('FW_SINK_NOT_FOUND', 'no incident by that id');
          const incident = { ...detail.incident, tenant_name: names.get(detail.incident.tenant_id) ?? '' };
          return json({ ...detail, incident }, 1);
        }
        const state = single(q, 'state');
        if (state !== undefined && !(INCIDENT_STATES as readonly string[]).includes(state)) {
          throw new SinkError('FW_SINK_BAD_QUERY', `state must be one of ${INCIDENT_STATES.join(', ')}`);
        }
        const tenant = single(q, 'tenant');
        const limit = number(q, 'limit', true);
        const rows = (
          await listIncidents(client, {
            ...(state === undefined ? {} : { state: state as IncidentState }),
            ...(tenant === undefined ? {} : { tenant }),
            ...(limit === undefined ? {} : { limit }),
          })
        ).map((row) => ({ ...row, tenant_name: names.get(row.tenant_id) ?? '' }));
        return json({ rows }, rows.length);
      },
    } satisfies Record<AuditRouteName, Route>) as [AuditRouteName, Route][],
  );

  /** A search page (JSON), or every match as a download streamed page by page (CSV, FHIR, NDJSON, table). */
  const searchAnswer = async (q: URLSearchParams): Promise<Answer> => {
    const ndjson = q.get('format') === 'ndjson';
    const { format, fhirShape } = ndjson ? { format: 'json' as const, fhirShape: 'R4' as const } : output(q);
    if (format === 'json' && !ndjson && single(q, 'view') === 'requests') {
      // one row per request (what was done), each expanding to its per-patient rows (`related`)
      const page = await searchAuditRequests(client, q);
      return json(
        {
          from: page.range.from.toISOString(),
          to: page.range.to.toISOString(),
          view: 'requests',
          total: page.total,
          offset: page.offset,
          limit: page.limit,
          rows: page.rows,
        },
        page.rows.reduce((sum, row) => sum + row.records, 0),
      );
    }
    if (format === 'json' && !ndjson) {
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
    const { total, pages } = await searchAuditExport(client, q);
    const base = { status: 200, body: '', rows: total, filename: 'fhirwatch-audit-search' };
    if (ndjson) {
      return {
        ...base,
        type: NDJSON_TYPE,
        format: 'ndjson',
        filename: `${base.filename}.ndjson`,
        chunks: ndjsonPageChunks(pages()),
      };
    }
    const t = FORMAT_TYPES[format] as { type: string; ext: string };
    const file = { ...base, type: t.type, format, filename: `${base.filename}.${t.ext}` };
    if (format === 'csv') return { ...file, chunks: csvPageChunks(SEARCH_COLUMNS, pages()) };
    if (format === 'fhir') return { ...file, chunks: fhirBundlePageChunks(pages(), fhirShape) };
    // a table needs every row for its column widths: at most maxExportRows, like any table answer
    const rows: AuditRecord[] = [];
    for await (const page of pages()) rows.push(...page);
    return {
      ...file,
      body: formatReport(
        { name: 'activity', title: 'Audit search', parameters: {}, columns: SEARCH_COLUMNS, rows },
        'table',
      ),
    };
  };

  /** Who is asking, once per request (the route and the log both need it). */
  const principals = new WeakMap<ApiRequest, Principal>();
  const principalOf = (req: ApiRequest): Principal =>
    principals.get(req) ?? { principal: 'loopback', auth: 'loopback' };

  /**
   * The person recorded for a read: a named token's officer (whatever the request declares); otherwise the name
   * the caller declares (`x-fhirwatch-actor`: the console's name field, the CLI's OS user), else `defaultActor`.
   */
  const actorOf = (req: ApiRequest, principal: Principal): string => {
    if (principal.officer !== undefined) return principal.officer;
    const declared = decodeActor(req.headers['x-fhirwatch-actor']);
    return declared === '' ? defaultActor : declared;
  };

  const send = async (res: ApiResponseSink, answer: Answer): Promise<void> => {
    const headers: Record<string, string | number> = {
      'content-type': answer.type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
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

  const sendFailure = (res: ApiResponseSink, error: unknown, fhir: boolean, requestId: string): void => {
    const { status, code, message } = apiError(error);
    const body = fhir
      ? {
          resourceType: 'OperationOutcome',
          id: requestId,
          issue: [
            {
              severity: 'error',
              code: status === 401 ? 'login' : status === 404 ? 'not-found' : status >= 500 ? 'exception' : 'invalid',
              diagnostics: `${code}: ${message} (request ${requestId})`,
            },
          ],
        }
      : { error: { code, message, requestId } };
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': fhir ? 'application/fhir+json' : 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    };
    if (status === 401) headers['www-authenticate'] = 'Bearer realm="fhirwatch"';
    if (status === 405) headers.allow = 'GET, POST, DELETE';
    if (!res.headersSent) {
      res.writeHead(status, headers);
      res.end(text);
    } else res.abort();
  };

  const answer = async (req: ApiRequest, res: ApiResponseSink): Promise<void> => {
    const url = new URL(req.url, 'http://sink.invalid');
    const q = url.searchParams;
    const started = performance.now();
    const at = new Date();
    const principal: Principal = options.caller ?? authenticate(req.headers.authorization, credentials);
    principals.set(req, principal);
    if (req.body.length > MAX_API_BODY_BYTES) {
      throw new SinkError('FW_SINK_TOO_LARGE', `request body exceeds ${MAX_API_BODY_BYTES} bytes`);
    }
    const parts = url.pathname
      .split('/')
      .filter((p) => p !== '')
      .slice(1); // after 'api'
    const surface: AuditRead['surface'] =
      options.caller?.surface ?? (req.headers['x-fhirwatch-surface'] === 'console' ? 'console' : 'api');
    const record = async (
      endpoint: string,
      result: { rows: number; status: number; format: string; errorCode: string },
    ): Promise<void> => {
      await recordAuditRead(client, {
        at,
        principal: principal.principal,
        actor: actorOf(req, principal),
        auth: principal.auth,
        remoteAddr: req.remoteAddress,
        userAgent: String(req.headers['user-agent'] ?? '').slice(0, 300),
        surface,
        endpoint,
        parameters: parametersForLog(q),
        format: result.format,
        rows: result.rows,
        status: result.status,
        errorCode: result.errorCode,
        durationMs: performance.now() - started,
      });
    };
    /**
     * The rule's one home: a read of audit records (every `/api/audit/` route; a panel whose `readsAuditRecords`
     * is true) is recorded in audit_query_log, failed or not, before any byte of its answer; an answer whose
     * record cannot be stored is not sent (503). HTTP, the console and the CLI in process all come through here.
     */
    const recorded = async (endpoint: string, format: string, run: () => Promise<Answer>): Promise<void> => {
      let result: Answer;
      try {
        result = await run();
      } catch (error) {
        const failure = apiError(error);
        await record(endpoint, { rows: 0, status: failure.status, format, errorCode: failure.code }).catch(
          () => undefined,
        );
        throw error;
      }
      await recordOrRefuse(() =>
        record(endpoint, { rows: result.rows, status: result.status, format: result.format, errorCode: '' }),
      );
      await send(res, result);
    };

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
      // with the tenants' display names (stored settings), so selectors, tables and legends show names next to ids
      await send(
        res,
        json({ ...(await variableValues(q)), tenantNames: Object.fromEntries(await tenantDisplayNames(client)) }, 0),
      );
      return;
    }
    if (parts[0] === 'panels' && parts.length <= 2) {
      if (req.method !== 'GET') throw new SinkError('FW_SINK_METHOD', 'use GET');
      if (parts.length === 1) {
        const list = [...panels.values()].map(({ sql: _sql, ...rest }) => rest);
        await send(res, json({ panels: list }, 0));
        return;
      }
      const panel = panels.get(parts[1] as string);
      if (panel === undefined) throw new SinkError('FW_SINK_NOT_FOUND', 'no such panel');
      // whether the read is recorded is the panel's own property (checked at load against the tables it reads)
      if (!panel.readsAuditRecords) await send(res, await panelData(panel, q));
      else await recorded(`panel:${panel.id}`, 'json', () => panelData(panel, q));
      return;
    }
    const name = parts[0] === 'audit' ? parts[1] : undefined;
    const methods = name === undefined ? undefined : AUDIT_ROUTE_METHODS.get(name);
    const route = name === undefined ? undefined : auditRoutes.get(name as AuditRouteName);
    if (name !== undefined && methods !== undefined && route !== undefined) {
      const rest = parts.slice(2);
      if (rest.length !== (name === 'report' ? 1 : 0)) throw new SinkError('FW_SINK_NOT_FOUND', 'no such endpoint');
      if (!methods.includes(req.method)) throw new SinkError('FW_SINK_METHOD', `use ${methods.join(' or ')}`);
      const writes = req.method === 'POST' || req.method === 'DELETE';
      const endpoint =
        name === 'report'
          ? `report:${rest[0]}`
          : writes && (name === 'vip' || name === 'incidents')
            ? `${name}:${req.method.toLowerCase()}`
            : name;
      // every /api/audit/ route reads audit records (the VIP list and its changes, the query log included)
      await recorded(endpoint, q.get('format') ?? 'json', () => route(req, q, rest));
      return;
    }
    throw new SinkError('FW_SINK_NOT_FOUND', 'no such endpoint');
  };

  return async (req, res) => {
    const requestId = randomUUID();
    const fhir = new URL(req.url, 'http://sink.invalid').searchParams.get('format') === 'fhir';
    try {
      await answer(req, res);
    } catch (error) {
      const failure = apiError(error);
      if (failure.status >= 500) {
        logError({ requestId, endpoint: endpointLabel(req.url), code: failure.code, error: errorKind(error) });
      }
      try {
        sendFailure(res, error, fhir, requestId);
      } catch {
        res.abort();
      }
    }
  };
}

/** The route of a request for the server log: path segments of the route table only, never ids or parameters. */
function endpointLabel(target: string): string {
  const parts = new URL(target, 'http://sink.invalid').pathname.split('/').filter((p) => p !== '');
  if (parts[1] === 'audit' && parts[2] !== undefined && AUDIT_ROUTE_METHODS.has(parts[2]))
    return `/api/audit/${parts[2]}`;
  if (parts[1] === 'panels') return '/api/panels';
  return parts[1] === 'reports' || parts[1] === 'variables' ? `/api/${parts[1]}` : '/api';
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
