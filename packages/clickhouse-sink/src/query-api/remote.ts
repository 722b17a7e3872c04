/**
 * Client side of the query API: what `fhirwatch audit … --sink-url <url>` calls to ask a running sink (the
 * process that owns an embedded store) instead of opening the store itself.
 */
import { SinkError } from '../errors.ts';

export interface RemoteQueryOptions {
  /** Bearer token (FHIRWATCH_QUERY_TOKEN) when the sink requires one. */
  token?: string;
  /** Recorded in audit_query_log as the actor (default: none; the sink records its own default). */
  actor?: string;
  /** POST body (verify with a key; VIP changes). */
  body?: Record<string, unknown>;
  method?: 'GET' | 'POST' | 'DELETE';
  signal?: AbortSignal;
}

export interface RemoteQueryResult {
  status: number;
  contentType: string;
  /** The answer as the sink rendered it (JSON, CSV, FHIR Bundle or table text). */
  text: string;
  /** `verify` only: whether every writer's chain is intact (header x-fhirwatch-verify-ok). */
  verifyOk?: boolean;
  /** The report's notes, for formats that have no place for them (csv, fhir; header x-fhirwatch-notes). */
  notes?: string[];
}

/** Thrown for a non-2xx answer: `code` is the sink's stable error code (FW_AUDIT_… / FW_SINK_…). */
export class RemoteQueryError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'RemoteQueryError';
    this.status = status;
    this.code = code;
  }
}

/** Query parameters: the CLI's long option names; repeatable ones as arrays; `true` as 'true', false/undefined left out. */
export type QueryParams = Readonly<Record<string, string | readonly string[] | boolean | undefined>>;

/** How a request is sent: method (default GET, or POST with a body) and JSON body. */
export interface QueryRequest {
  body?: Record<string, unknown>;
  method?: 'GET' | 'POST' | 'DELETE';
}

/**
 * One query of the API, however it travels: over HTTP to a sink ({@link httpQuery}) or to the core in this process
 * (in-process.ts). Same command, parameters, answer and {@link RemoteQueryError}s on every path.
 */
export type QueryTransport = (
  command: string,
  params: QueryParams,
  request?: QueryRequest,
) => Promise<RemoteQueryResult>;

/** `/api/audit/<command>?<params>`; `command` is `access`, `report/<name>`, … (checked: no other path is reachable). */
export function auditPath(command: string, params: QueryParams): string {
  if (!/^[a-z-]+(\/[a-z-]+)?$/.test(command)) throw new SinkError('FW_SINK_OPTIONS', `invalid command '${command}'`);
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === false) continue;
    if (value === true) search.append(name, 'true');
    else if (typeof value === 'string') search.append(name, value);
    else for (const item of value) search.append(name, item);
  }
  const query = search.toString();
  return `/api/audit/${command}${query === '' ? '' : `?${query}`}`;
}

/** An answer of the API: the result, or the {@link RemoteQueryError} its error body names. */
export function answerOf(status: number, header: (name: string) => string | null, text: string): RemoteQueryResult {
  const contentType = header('content-type') ?? '';
  if (status < 200 || status > 299) {
    let code = `HTTP_${status}`;
    let message = `the sink answered ${status}`;
    try {
      const body = JSON.parse(text) as {
        error?: { code?: string; message?: string };
        issue?: { diagnostics?: string }[];
      };
      if (body.error?.code) code = body.error.code;
      if (body.error?.message) message = body.error.message;
      else if (body.issue?.[0]?.diagnostics) message = body.issue[0].diagnostics;
    } catch {
      // not JSON: keep the status line
    }
    throw new RemoteQueryError(status, code, message);
  }
  const verify = header('x-fhirwatch-verify-ok');
  const notes = header('x-fhirwatch-notes');
  return {
    status,
    contentType,
    text,
    ...(verify === null ? {} : { verifyOk: verify === 'true' }),
    ...(notes === null ? {} : { notes: JSON.parse(decodeURIComponent(notes)) as string[] }),
  };
}

/**
 * Run one query on a sink. `command` is the API path after `/api/audit/`: `access`, `activity`, `summary`,
 * `verify`, `report/<name>`, `search`, `vip`. `params` are the CLI's long option names and values
 * (repeatable ones as arrays), e.g. `{ patient: ['p-1'], since: '30d', format: 'csv' }`.
 */
export async function queryRemoteReport(
  sinkUrl: string,
  command: string,
  params: QueryParams,
  options: RemoteQueryOptions = {},
): Promise<RemoteQueryResult> {
  const path = auditPath(command, params);
  let base: URL;
  try {
    base = new URL(sinkUrl);
  } catch {
    throw new SinkError('FW_SINK_OPTIONS', 'the sink URL is not a URL');
  }
  const url = new URL(path.slice(1), base.href.endsWith('/') ? base.href : `${base.href}/`);
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  // percent-encoded UTF-8: a header carries Latin-1 at most, and names are not (the sink decodes it)
  if (options.actor !== undefined) headers['x-fhirwatch-actor'] = encodeURIComponent(options.actor);
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  // keep a CSV's byte-order mark (Response.text() drops it): the answer's bytes as the sink wrote them
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(await response.arrayBuffer());
  return answerOf(response.status, (name) => response.headers.get(name), text);
}

/** A {@link QueryTransport} to a running sink's query API. */
export function httpQuery(sinkUrl: string, options: Pick<RemoteQueryOptions, 'token' | 'actor'> = {}): QueryTransport {
  return (command, params, request = {}) => queryRemoteReport(sinkUrl, command, params, { ...options, ...request });
}
