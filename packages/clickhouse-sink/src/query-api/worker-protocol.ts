/**
 * Messages between the sink's thread and the query worker (threaded.ts ↔ worker.ts).
 *
 * The sink's thread owns the store (chDB binds a data directory to one process and one session, so the worker
 * cannot open it) and the sockets; the worker owns everything else a query costs in JavaScript: decoding result
 * rows into records, report logic, serializing JSON / CSV / FHIR. The sink's thread only runs each statement
 * (on chDB's own threads) and moves bytes.
 */
import type { IncidentMonitorStats, IncidentsOptions } from '../incidents/monitor.ts';
import type { SinkLogEntry } from '../log.ts';
import type { ApiRequest } from './api.ts';
import type { Credential } from './auth.ts';

export interface WorkerInit {
  token?: string;
  tokens?: readonly Credential[];
  defaultActor?: string;
  panelPoints?: number;
  /** URL of a module exporting a PanelProvider as `panelProvider` (panels.ts; checked by startSink). */
  panelsModule?: string;
  /** Run the incident monitor in the worker with this config (monitor.ts). */
  incidents?: IncidentsOptions & { consoleUrl: string };
}

export type DbOp = 'query' | 'command' | 'insert';

export type ToWorker =
  | { t: 'req'; id: number; request: Omit<ApiRequest, 'body'> & { body: Uint8Array } }
  | { t: 'dbr'; id: number; text?: string; error?: { message: string; code?: string; type?: string; name?: string } }
  /** A chunk of answer `id` was written to the socket (backpressure: the worker sends the next one after this). */
  | { t: 'ack'; id: number; aborted: boolean };

export type FromWorker =
  | { t: 'head'; id: number; status: number; headers: Record<string, string | number> }
  | { t: 'chunk'; id: number; chunk: string }
  | { t: 'end'; id: number; body?: string }
  | { t: 'abort'; id: number }
  | { t: 'db'; id: number; op: DbOp; params: Record<string, unknown> }
  | { t: 'ready' }
  /** A line for the sink's log (the incident monitor's; never a payload). */
  | { t: 'log'; entry: SinkLogEntry }
  /** The incident monitor's counters after a pass. */
  | { t: 'stats'; stats: IncidentMonitorStats };
