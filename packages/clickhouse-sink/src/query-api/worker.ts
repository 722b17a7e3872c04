/**
 * The query worker: runs the query API's core (api.ts) off the sink's event loop. Statements go to the sink's
 * thread as messages (it owns the chDB session) and come back as result text, decoded here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ClickHouseClient } from '@clickhouse/client';
import { IncidentMonitor } from '../incidents/monitor.ts';
import { type ApiResponseSink, createApiCore } from './api.ts';
import { loadPanelProvider } from './panels.ts';
import type { DbOp, FromWorker, ToWorker, WorkerInit } from './worker-protocol.ts';

if (parentPort === null) throw new Error('worker.ts runs as a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;
const post = (message: FromWorker): void => port.postMessage(message);

let nextDb = 1;
const pendingDb = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();

function db(op: DbOp, params: Record<string, unknown>): Promise<string> {
  const id = nextDb++;
  return new Promise((resolve, reject) => {
    pendingDb.set(id, { resolve, reject });
    post({ t: 'db', id, op, params });
  });
}

/** Rows of a result in the formats the queries use. */
function parse(text: string, format: unknown): unknown {
  if (format === 'JSONEachRow' || format === 'JSONCompactEachRow') {
    const rows: unknown[] = [];
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      if (end > start) rows.push(JSON.parse(text.slice(start, end)));
      start = end + 1;
    }
    return rows;
  }
  if (format === undefined || format === 'JSON') return JSON.parse(text);
  return text;
}

/** The part of ClickHouseClient the queries use, over messages to the sink's thread. */
const client = {
  async query(params: Record<string, unknown>) {
    const text = await db('query', pick(params));
    return { json: async () => parse(text, params.format), text: async () => text };
  },
  async command(params: Record<string, unknown>) {
    await db('command', pick(params));
    return {};
  },
  async insert(params: Record<string, unknown>) {
    await db('insert', pick(params));
    return { executed: true };
  },
  async close() {},
} as unknown as ClickHouseClient;

function pick(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['query', 'query_params', 'format', 'clickhouse_settings', 'table', 'values', 'columns']) {
    if (params[key] !== undefined) out[key] = params[key];
  }
  return out;
}

const panels = init.panelsModule === undefined ? undefined : await loadPanelProvider(init.panelsModule);

const core = createApiCore({
  client,
  ...(init.token === undefined ? {} : { token: init.token }),
  ...(init.tokens === undefined ? {} : { tokens: init.tokens }),
  ...(init.defaultActor === undefined ? {} : { defaultActor: init.defaultActor }),
  ...(init.panelPoints === undefined ? {} : { panelPoints: init.panelPoints }),
  ...(panels === undefined ? {} : { panels }),
});

// the incident monitor: its report logic runs here, off the sink's event loop; its log lines and counters go back
if (init.incidents !== undefined) {
  new IncidentMonitor(
    client,
    init.incidents,
    (entry) => post({ t: 'log', entry }),
    (stats) => post({ t: 'stats', stats }),
  ).start();
}

/** Answers waiting for the sink's thread to write their last chunk (one chunk in flight per answer). */
const waitingAck = new Map<number, () => void>();

/** Answers whose client went away (the sink's thread says so with the ack). */
const aborts = new Set<number>();

function sinkFor(id: number): ApiResponseSink {
  let headersSent = false;
  let aborted = false;
  return {
    get headersSent() {
      return headersSent;
    },
    get aborted() {
      return aborted || aborts.has(id);
    },
    writeHead(status, headers) {
      headersSent = true;
      post({ t: 'head', id, status, headers });
    },
    write(chunk) {
      // the next chunk is made only once this one is on the socket: a slow reader holds one chunk, not the answer
      return new Promise<void>((resolve) => {
        waitingAck.set(id, () => {
          waitingAck.delete(id);
          resolve();
        });
        post({ t: 'chunk', id, chunk });
      });
    },
    end(body) {
      post(body === undefined ? { t: 'end', id } : { t: 'end', id, body });
    },
    abort() {
      aborted = true;
      post({ t: 'abort', id });
    },
  };
}

port.on('message', (message: ToWorker) => {
  if (message.t === 'ack') {
    if (message.aborted) aborts.add(message.id);
    waitingAck.get(message.id)?.();
    return;
  }
  if (message.t === 'dbr') {
    const pending = pendingDb.get(message.id);
    pendingDb.delete(message.id);
    if (pending === undefined) return;
    if (message.error === undefined) pending.resolve(message.text ?? '');
    else pending.reject(Object.assign(new Error(message.error.message), message.error));
    return;
  }
  const { body, ...rest } = message.request;
  const sink = sinkFor(message.id);
  core({ ...rest, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) }, sink)
    .catch(() => {
      // the core answers its own errors; this is the last resort, never a lost request
      if (!sink.headersSent) {
        sink.writeHead(500, { 'content-type': 'application/json' });
        sink.end(JSON.stringify({ error: { code: 'FW_SINK_QUERY_FAILED', message: 'internal error' } }));
      } else sink.abort();
    })
    .finally(() => aborts.delete(message.id));
});
post({ t: 'ready' });
