import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IncidentsOptions } from '../incidents/monitor.ts';
import type { SinkLogger } from '../log.ts';
import type { Credential } from '../query-api/auth.ts';
import type { PanelProvider } from '../query-api/panels.ts';
import type { StoreTarget } from '../store/open.ts';
import type { RetryOptions } from './writer/retry.ts';

/** The read-only query API (`/api/…`) of the sink; see src/query-api/api.ts. */
export interface SinkQueryApiOptions {
  /**
   * The shared bearer token (FHIRWATCH_QUERY_TOKEN), recorded as the officer `query-token`. A token (this or
   * `tokens`) is required when `host` is not loopback (the sink refuses to start without one).
   */
  token?: string;
  /** Officers' named tokens (FHIRWATCH_QUERY_TOKENS): every read is recorded with the officer's name. */
  tokens?: readonly Credential[];
  /** HMAC key of the audit writers, for `GET /api/audit/verify` (a function: read when asked, e.g. from a spool). */
  hmacKey?: Uint8Array | (() => Uint8Array | undefined);
  /**
   * Panels and selectors for `/api/panels` and `/api/variables` (@fhirwatch/console's `consolePanels()`), checked
   * at start. On the worker thread the provider is loaded from its `moduleUrl`; without one, startSink refuses.
   */
  panels?: PanelProvider;
  /**
   * Where the API runs: `worker` (default) = a worker thread, so a heavy report does not hold the event loop
   * that ingest runs on; `inline` = this thread. A worker cannot receive functions: it imports `panels.moduleUrl`.
   */
  thread?: 'worker' | 'inline';
}

/** Options of {@link startSink}. All optional except where a store must be named (`store` or `clickhouseUrl`). */
export interface SinkOptions extends StoreTarget {
  /** Listen port (default 0 = any free port). */
  port?: number;
  /** Listen host (default 127.0.0.1). */
  host?: string;
  /** Telemetry spool directory (default `<store>/spool`, or `.fhirwatch/sink-spool` with a URL). */
  spoolDir?: string;
  /** Spool size limit in bytes (default 1 GiB). */
  maxSpoolBytes?: number;
  /** Run migrations at start (default true). */
  migrate?: boolean;
  /** Audit retention (days, default 7 years) and telemetry retention (days, default 30) for migrations. */
  auditRetentionDays?: number;
  telemetryRetentionDays?: number;
  /** Request body limit, compressed and decompressed (default 32 MiB). */
  maxBodyBytes?: number;
  /** Records per `/v1/audit` request (default 50 000). */
  maxBatchRecords?: number;
  /** Rows per insert (default 10 000). */
  batchRows?: number;
  /**
   * Longest a telemetry row waits for others before its table is flushed (default 200 ms). OTLP requests are
   * answered after their rows are stored, spooled or refused, so this is also their added latency.
   */
  flushIntervalMs?: number;
  /** Audit rows accepted but not committed, at most (default 100 000): beyond, 429. */
  maxPendingAuditRows?: number;
  /** Telemetry rows queued, at most (default 200 000): beyond, 429. */
  maxPendingTelemetryRows?: number;
  /** Store probe interval while the store is down (default 1000 ms). */
  probeIntervalMs?: number;
  retry?: RetryOptions;
  /**
   * Interval of the sink's own pipeline-health metrics (`fhirwatch.sink.ingest.rows`,
   * `fhirwatch.sink.telemetry.refused`), stored in its otel_metrics_* tables (default 10 000 ms; 0 = off).
   */
  selfMetricsIntervalMs?: number;
  /** Operational log (refused / lost telemetry); default: JSON lines on stderr. Entries never hold row values. */
  logger?: SinkLogger;
  /**
   * This sink is the only writer of the store (default: true for a chDB store, false for a URL), which
   * enables the audit writer's fast duplicate check.
   */
  exclusiveWriter?: boolean;
  /**
   * How audit rows reach a chDB store (default `Native`: one binary block, the cheapest for the engine to read;
   * `JSONCompactEachRow`: text rows, the format before it, kept for bench/writer.ts's same-run comparison). A
   * server URL always gets JSONCompactEachRow.
   */
  auditInsertFormat?: 'Native' | 'JSONCompactEachRow';
  /**
   * Writers' ingest credentials (FHIRWATCH_INGEST_TOKENS): `POST /v1/audit` and OTLP need one, and a writer's
   * credential carries only records whose `recorded_by` is its name. Required off loopback and whenever the query
   * API has a token (the sink refuses to start otherwise); none on a loopback sink without tokens: ingest is open
   * to same-origin loopback requests (the demo).
   */
  ingestTokens?: readonly Credential[];
  /** The query API on the sink's port (default on, loopback only unless a token is given); `false` turns it off. */
  queryApi?: SinkQueryApiOptions | false;
  /**
   * Another handler on the sink's port (the console of @fhirwatch/console): tried after ingest and the query
   * API; resolves true when it answered the request.
   */
  mount?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /**
   * Run the monitoring reports on each tenant's schedule and deliver new incidents to these destinations
   * (src/incidents/, README "Incidents"). Off when unset. One sink per store should run it.
   */
  incidents?: IncidentsOptions;
}
