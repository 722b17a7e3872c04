/**
 * The query API's core run in the caller's own process, over a store the caller opened: what
 * `fhirwatch audit --store|--clickhouse-url` runs, so the CLI asks exactly what it would ask a sink over HTTP
 * (`remote.ts`), gets the same bytes back, and every read of audit records is recorded in audit_query_log
 * before its answer (api.ts), with the reader's name.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { type ApiResponseSink, createApiCore, type InProcessCaller } from './api.ts';
import { answerOf, auditPath, type QueryTransport } from './remote.ts';

export interface InProcessQueryOptions {
  client: ClickHouseClient;
  /** Who asks, as recorded in audit_query_log (the CLI: `--actor`, else the OS user). */
  actor: string;
  /** Recorded as the principal (the CLI: `os:<OS user>`). */
  principal: string;
  /** Recorded as the surface: `cli` (default, `fhirwatch audit`) or `demo` (`fhirwatch demo`'s own reads). */
  surface?: InProcessCaller['surface'];
}

/** A {@link QueryTransport} that runs the query API's core here: same parameters, answers and errors as HTTP. */
export function inProcessQuery(options: InProcessQueryOptions): QueryTransport {
  const core = createApiCore({
    client: options.client,
    defaultActor: options.actor,
    caller: { principal: options.principal, auth: 'process', surface: options.surface ?? 'cli' },
  });
  return async (command, params, request = {}) => {
    let status = 500;
    let sent = false;
    let headers: Record<string, string | number> = {};
    let text = '';
    let aborted = false;
    const sink: ApiResponseSink = {
      get headersSent() {
        return sent;
      },
      get aborted() {
        return aborted;
      },
      writeHead(s, h) {
        sent = true;
        status = s;
        headers = h;
      },
      async write(chunk) {
        text += chunk;
      },
      end(body) {
        if (body !== undefined) text += body;
      },
      abort() {
        aborted = true;
      },
    };
    await core(
      {
        method: request.method ?? (request.body === undefined ? 'GET' : 'POST'),
        url: auditPath(command, params),
        headers: {
          'x-fhirwatch-actor': encodeURIComponent(options.actor),
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: Buffer.from(request.body === undefined ? '' : JSON.stringify(request.body)),
        remoteAddress: '',
      },
      sink,
    );
    if (aborted) throw new Error('the query core aborted its answer');
    return answerOf(
      status,
      (name) => {
        const value = headers[name];
        return value === undefined ? null : String(value);
      },
      text,
    );
  };
}
