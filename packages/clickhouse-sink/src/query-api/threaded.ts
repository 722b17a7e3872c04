/**
 * The query API on a worker thread (worker.ts), so a heavy report does not hold the event loop that
 * `POST /v1/audit` and OTLP intake run on. This thread keeps what must stay with the store and the sockets: it
 * reads the request, runs each statement the worker asks for (chDB executes it on its own threads) and hands the
 * result text over, then writes the answer's chunks as they arrive. Measured in bench/ingest-under-query.ts.
 */

import type { ServerResponse } from 'node:http';
import { Worker } from 'node:worker_threads';
import type { ClickHouseClient } from '@clickhouse/client';
import type { IncidentMonitorStats, IncidentsOptions } from '../incidents/monitor.ts';
import { type SinkLogger, stderrLogger } from '../log.ts';
import {
  drained,
  isApiPath,
  type QueryApiHandler,
  type QueryApiOptions,
  readApiRequest,
  resolveHmacKey,
} from './api.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.ts';

export interface ThreadedQueryApi {
  handler: QueryApiHandler;
  /** Start the incident monitor in the worker (started now, and again in a worker that replaces a lost one). */
  startIncidents(options: IncidentsOptions & { consoleUrl: string }): void;
  /** The worker's incident monitor counters, as of its last pass. */
  readonly incidentStats: IncidentMonitorStats;
  close(): Promise<void>;
}

export interface ThreadedQueryApiOptions
  extends Pick<QueryApiOptions, 'token' | 'tokens' | 'hmacKey' | 'defaultActor' | 'panelPoints'> {
  client: ClickHouseClient;
  panelsModule?: string;
  /** Where the worker's log lines go (the incident monitor's). */
  logger?: SinkLogger;
}

const isSource = import.meta.url.endsWith('.ts');

interface Pending {
  res: ServerResponse;
  writes: Promise<void>;
  done: () => void;
}

function errorShape(error: unknown): { message: string; code?: string; type?: string; name?: string } {
  const e = error as { message?: string; code?: unknown; type?: unknown; name?: unknown };
  return {
    message: String(e.message ?? error),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.type === 'string' ? { type: e.type } : {}),
    ...(typeof e.name === 'string' ? { name: e.name } : {}),
  };
}

export function startThreadedQueryApi(options: ThreadedQueryApiOptions): ThreadedQueryApi {
  const { client } = options;
  const init: WorkerInit = {
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.tokens === undefined ? {} : { tokens: options.tokens.map(({ name, token }) => ({ name, token })) }),
    ...(options.defaultActor === undefined ? {} : { defaultActor: options.defaultActor }),
    ...(options.panelPoints === undefined ? {} : { panelPoints: options.panelPoints }),
    ...(options.panelsModule === undefined ? {} : { panelsModule: options.panelsModule }),
  };
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let worker: Worker | undefined;
  let incidents: WorkerInit['incidents'];
  const incidentStats: IncidentMonitorStats = { runs: 0, created: 0, delivered: 0, failedAttempts: 0 };
  let closed = false;

  const fail = (entry: Pending): void => {
    if (!entry.res.headersSent) {
      const text = JSON.stringify({ error: { code: 'FW_SINK_QUERY_FAILED', message: 'the query worker stopped' } });
      entry.res.writeHead(503, {
        'content-type': 'application/json',
        'retry-after': '1',
        'content-length': Buffer.byteLength(text),
      });
      entry.res.end(text);
    } else entry.res.destroy();
    entry.done();
  };

  const onMessage = (current: Worker, message: FromWorker): void => {
    if (message.t === 'ready') return;
    if (message.t === 'log') {
      (options.logger ?? stderrLogger)(message.entry);
      return;
    }
    if (message.t === 'stats') {
      Object.assign(incidentStats, message.stats);
      return;
    }
    if (message.t === 'db') {
      const reply = (answer: ToWorker): void => {
        if (worker === current) current.postMessage(answer);
      };
      (async () => {
        const params = message.params as never;
        if (message.op === 'query') {
          const result = await client.query(params);
          return result.text();
        }
        if (message.op === 'command') await client.command(params);
        else await client.insert(params);
        return '';
      })().then(
        (text) => reply({ t: 'dbr', id: message.id, text }),
        (error: unknown) => reply({ t: 'dbr', id: message.id, error: errorShape(error) }),
      );
      return;
    }
    const entry = pending.get(message.id);
    if (entry === undefined) return;
    const { res } = entry;
    const id = message.id;
    const finish = (): void => {
      pending.delete(id);
      entry.done();
    };
    // writes are chained so chunks keep their order while this thread waits for the socket to drain; whatever
    // goes wrong in one answer ends that answer (500 or a cut connection), never the process
    entry.writes = entry.writes
      .then(async () => {
        if (message.t === 'head') {
          if (res.destroyed) return;
          const valid = Number.isInteger(message.status) && message.status >= 200 && message.status <= 599;
          if (valid) res.writeHead(message.status, message.headers);
          else throw new Error('the query worker answered an invalid status');
        } else if (message.t === 'chunk') {
          if (!res.destroyed && !res.write(message.chunk)) await drained(res);
          if (worker === current) current.postMessage({ t: 'ack', id, aborted: res.destroyed } satisfies ToWorker);
        } else if (message.t === 'end') {
          if (!res.destroyed) res.end(message.body);
          finish();
        } else {
          res.destroy();
          finish();
        }
      })
      .catch(() => {
        if (!res.headersSent && !res.destroyed) {
          const text = JSON.stringify({ error: { code: 'FW_SINK_QUERY_FAILED', message: 'internal error' } });
          res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        } else res.destroy();
        if (worker === current) current.postMessage({ t: 'ack', id, aborted: true } satisfies ToWorker);
        finish();
      });
  };

  const spawn = (): Worker => {
    const current = new Worker(new URL(`./worker${isSource ? '.ts' : '.js'}`, import.meta.url), {
      workerData: incidents === undefined ? init : { ...init, incidents },
      execArgv: isSource ? ['--conditions=fhirwatch-source'] : [],
    });
    current.on('message', (message: FromWorker) => onMessage(current, message));
    const lost = (): void => {
      if (worker !== current) return;
      worker = undefined;
      for (const entry of pending.values()) fail(entry);
      pending.clear();
    };
    current.on('error', lost);
    current.on('exit', lost);
    return current;
  };

  const handler: QueryApiHandler = async (req, res) => {
    if (!isApiPath(req.url ?? '/')) return false;
    const request = await readApiRequest(req, resolveHmacKey(options.hmacKey));
    if (closed) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'FW_SINK_CLOSED', message: 'the sink is closing' } }));
      return true;
    }
    worker ??= spawn();
    const id = nextId++;
    const { body, ...rest } = request;
    await new Promise<void>((resolve) => {
      pending.set(id, { res, writes: Promise.resolve(), done: resolve });
      const message: ToWorker = { t: 'req', id, request: { ...rest, body: new Uint8Array(body) } };
      worker?.postMessage(message);
    });
    return true;
  };

  return {
    handler,
    startIncidents(config) {
      incidents = config;
      worker ??= spawn();
    },
    incidentStats,
    async close() {
      closed = true;
      const current = worker;
      worker = undefined;
      for (const entry of pending.values()) fail(entry);
      pending.clear();
      if (current !== undefined) await current.terminate();
    },
  };
}
