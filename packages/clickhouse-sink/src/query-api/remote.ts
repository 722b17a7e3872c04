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

/**
 * Run one query on a sink. `command` is the API path after `/api/audit/`: `access`, `activity`, `summary`,
 * `verify`, `report/<name>`, `search`, `vip`. `params` are the CLI's long option names and values
 * (repeatable ones as arrays), e.g. `{ patient: ['p-1'], since: '30d', format: 'csv' }`.
 */
export async function queryRemoteReport(
  sinkUrl: string,
  command: string,
  params: Readonly<Record<string, string | readonly string[] | boolean | undefined>>,
  options: RemoteQueryOptions = {},
): Promise<RemoteQueryResult> {
  if (!/^[a-z-]+(\/[a-z-]+)?$/.test(command)) throw new SinkError('FW_SINK_OPTIONS', `invalid command '${command}'`);
  let base: URL;
  try {
    base = new URL(sinkUrl);
  } catch {
    throw new SinkError('FW_SINK_OPTIONS', 'the sink URL is not a URL');
  }
  const url = new URL(`api/audit/${command}`, base.href.endsWith('/') ? base.href : `${base.href}/`);
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === false) continue;
    if (value === true) url.searchParams.append(name, 'true');
    else if (typeof value === 'string') url.searchParams.append(name, value);
    else for (const item of value) url.searchParams.append(name, item);
  }
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
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';
  if (!response.ok) {
    let code = `HTTP_${response.status}`;
    let message = `the sink answered ${response.status}`;
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
    throw new RemoteQueryError(response.status, code, message);
  }
  const verify = response.headers.get('x-fhirwatch-verify-ok');
  return { status: response.status, contentType, text, ...(verify === null ? {} : { verifyOk: verify === 'true' }) };
}
