/**
 * The sink service on node:http, bound to 127.0.0.1 by default:
 * - `POST /v1/audit`: audit request records (one `AuditRequestRecord` per HTTP request; the older per-patient
 *   AuditRecord lines are still accepted) as NDJSON or the middleware's CRC-framed spool lines, gzip accepted,
 *   behind the writer's ingest credential (protocol: docs/wire.md);
 * - OTLP/HTTP `/v1/traces`, `/v1/logs`, `/v1/metrics` (protobuf and JSON, gzip accepted);
 * - `GET /healthz` (alive) and `GET /readyz` (store and spool);
 * - every other path goes to the mounts: the query API (`../query-api/`, in a worker thread by default) and,
 *   when given, the console.
 * `buildSinkHandler` is the request handler (a thin adapter over AuditWriter / TelemetryWriter);
 * `startSink` opens the store, migrates, replays the spool and listens.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import { type AuditRequestRecord, SERVER_KEEP_ALIVE_MS } from '@fhirwatch/contract';
import { SinkError } from '../errors.ts';
import { checkDestinations } from '../incidents/destinations.ts';
import { IncidentMonitor, type IncidentMonitorStats } from '../incidents/monitor.ts';
import { buildQueryApi, type QueryApiHandler } from '../query-api/api.ts';
import {
  assertIngestBind,
  assertQueryApiBind,
  authenticateWriter,
  type Credential,
  queryCredentials,
} from '../query-api/auth.ts';
import { removeSinkMarker, writeSinkMarker } from '../query-api/discovery.ts';
import { panelModuleForWorker } from '../query-api/panels.ts';
import { guardRequest, type RequestGuardOptions } from '../query-api/request-guard.ts';
import { startThreadedQueryApi, type ThreadedQueryApi } from '../query-api/threaded.ts';
import { openStore, storeOptionsOf } from '../store/open.ts';
import { migrate } from '../store/schema/migrations.ts';
import type { SinkOptions } from './options.ts';
import { mapLogs, mapMetrics, mapTraces, type RowsByTable } from './otlp/map.ts';
import { decodeOtlpProtobuf, type OtlpSignal } from './otlp/proto.ts';
import { otlpSuccessBody, refusedMessage } from './otlp/response.ts';
import { NDJSON_MEDIA_TYPE, parseAuditLines, SPOOL_MEDIA_TYPE } from './parse.ts';
import { type SelfMetrics, startSelfMetrics } from './self-metrics.ts';
import { AuditWriter } from './writer/audit-writer.ts';
import { Spool } from './writer/spool.ts';
import { StoreMonitor } from './writer/store-monitor.ts';
import { TelemetryWriter } from './writer/telemetry-writer.ts';

/** What the sink shows of its incident monitor (which runs on the query worker thread by default). */
export interface SinkIncidents {
  readonly stats: IncidentMonitorStats;
}

export interface SinkServer {
  /** Base URL, `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly client: ClickHouseClient;
  readonly audit: AuditWriter;
  readonly telemetry: TelemetryWriter;
  readonly monitor: StoreMonitor;
  readonly spool: Spool;
  /** The sink's own pipeline-health metrics (undefined when `selfMetricsIntervalMs` is 0). */
  readonly selfMetrics: SelfMetrics | undefined;
  /** The incident monitor's counters (undefined unless `incidents` was given). */
  readonly incidents: SinkIncidents | undefined;
  /** Stop listening, flush the writers (telemetry that cannot be stored goes to the spool), close the store. */
  close(): Promise<void>;
}

export interface SinkHandlerDeps {
  audit: AuditWriter;
  telemetry: TelemetryWriter;
  monitor: StoreMonitor;
  spool: Spool;
  maxBodyBytes: number;
  maxBatchRecords: number;
  /** Extra handlers tried for paths that are not ingest (query API, console); true = answered. */
  mounts?: readonly QueryApiHandler[];
  /** Writers' credentials; empty: ingest is open (a loopback sink without tokens). */
  ingestTokens?: readonly Credential[];
  /** Path, Host and Origin checks before any route (query-api/request-guard.ts). */
  guard?: RequestGuardOptions;
}

/**
 * The sink's own routes (the query API's are in query-api/api.ts `queryApiRoutes`): `auth` says which credential
 * a route needs. Dispatch goes through this table, so a route cannot be added without saying; security.test.ts
 * walks it.
 */
export const SINK_ROUTES = [
  { path: '/healthz', methods: ['GET', 'HEAD'], auth: 'none' },
  { path: '/readyz', methods: ['GET', 'HEAD'], auth: 'none' },
  { path: '/v1/audit', methods: ['POST'], auth: 'ingest' },
  { path: '/v1/traces', methods: ['POST'], auth: 'ingest' },
  { path: '/v1/logs', methods: ['POST'], auth: 'ingest' },
  { path: '/v1/metrics', methods: ['POST'], auth: 'ingest' },
] as const satisfies readonly { path: string; methods: readonly string[]; auth: 'none' | 'ingest' }[];

type SinkRoutePath = (typeof SINK_ROUTES)[number]['path'];
const SINK_ROUTE_TABLE: ReadonlyMap<string, (typeof SINK_ROUTES)[number]> = new Map(
  SINK_ROUTES.map((route) => [route.path, route]),
);

const OTLP_MAPPERS: Record<OtlpSignal, (request: unknown) => RowsByTable> = {
  traces: mapTraces,
  logs: mapLogs,
  metrics: mapMetrics,
};

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown): void {
  const sinkError =
    error instanceof SinkError ? error : new SinkError('FW_SINK_STORE_UNAVAILABLE', 'internal error', { cause: error });
  const headers: Record<string, string> = {};
  if (sinkError.retryAfter !== undefined) headers['retry-after'] = String(sinkError.retryAfter);
  if (sinkError.status === 429 || sinkError.status === 503) headers['retry-after'] ??= '1';
  const body: { code: string; message: string; line?: number } = { code: sinkError.code, message: sinkError.message };
  if (sinkError.line !== undefined) body.line = sinkError.line;
  if (!res.headersSent) sendJson(res, sinkError.status, { error: body }, headers);
  else res.destroy();
}

/** Read the body within the limit, gunzip it when `content-encoding: gzip` (bounded too). */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (encoding !== 'identity' && encoding !== 'gzip') {
    throw new SinkError('FW_SINK_UNSUPPORTED_MEDIA_TYPE', 'content-encoding must be gzip or identity');
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new SinkError('FW_SINK_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new SinkError('FW_SINK_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  if (encoding === 'identity') return body;
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw new SinkError('FW_SINK_TOO_LARGE', `decompressed body exceeds ${maxBytes} bytes`);
    }
    throw new SinkError('FW_SINK_BAD_ENCODING', 'body is not valid gzip');
  }
}

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parse and validate an NDJSON audit batch (request records and legacy single records; see ingest/parse.ts). */
export function parseAuditBatch(body: Buffer, maxRecords: number): AuditRequestRecord[] {
  return parseAuditLines(body, maxRecords, false);
}

/**
 * `/readyz`: the store answers and holds the sink's tables (`store`), and the outage spool can take a file and
 * is under 90 % of its limit (`spool`: bytes, files, oldest file age). Not ready → 503, `failing` names the checks.
 */
export async function sinkReadiness(
  deps: Pick<SinkHandlerDeps, 'monitor' | 'spool'>,
): Promise<{ ready: boolean; body: Record<string, unknown> }> {
  const storeUp = await deps.monitor.probe();
  const files = deps.spool.files();
  let oldestMs: number | undefined;
  for (const file of files) {
    const at = Number(file.name.slice(0, 15));
    if (Number.isFinite(at) && (oldestMs === undefined || at < oldestMs)) oldestMs = at;
  }
  const writeError = deps.spool.probeWritable();
  const spoolOk = writeError === undefined && !deps.spool.nearlyFull;
  const checks = {
    store: storeUp ? { ok: true } : { ok: false, reason: deps.monitor.lastError },
    spool: {
      ok: spoolOk,
      ...(writeError === undefined ? {} : { errno: writeError }),
      nearlyFull: deps.spool.nearlyFull,
      bytes: deps.spool.size,
      limitBytes: deps.spool.limit,
      files: files.length,
      oldestFileAgeS: oldestMs === undefined ? null : Math.max(0, Math.round((Date.now() - oldestMs) / 100) / 10),
    },
  };
  const failing = Object.entries(checks)
    .filter(([, check]) => !check.ok)
    .map(([name]) => name);
  const ready = failing.length === 0;
  return { ready, body: { status: ready ? 'ready' : 'not ready', failing, checks } };
}

export function buildSinkHandler(deps: SinkHandlerDeps): RequestListener {
  const handleAudit = async (
    req: IncomingMessage,
    res: ServerResponse,
    writer: Credential | undefined,
  ): Promise<void> => {
    const type = mediaType(req);
    if (type !== NDJSON_MEDIA_TYPE && type !== SPOOL_MEDIA_TYPE) {
      throw new SinkError(
        'FW_SINK_UNSUPPORTED_MEDIA_TYPE',
        `content-type must be ${NDJSON_MEDIA_TYPE} or ${SPOOL_MEDIA_TYPE}`,
      );
    }
    const body = await readBody(req, deps.maxBodyBytes);
    const records = parseAuditLines(body, deps.maxBatchRecords, type === SPOOL_MEDIA_TYPE);
    // a writer's credential carries its own chain only: it cannot plant records in another writer's name
    if (writer !== undefined) {
      const foreign = records.findIndex((record) => record.recorded_by !== writer.name);
      if (foreign >= 0) {
        throw new SinkError(
          'FW_SINK_FORBIDDEN',
          `record ${foreign + 1} is recorded_by another writer than this credential's ('${writer.name}'); nothing stored`,
        );
      }
    }
    const result = await deps.audit.write(records);
    sendJson(res, 200, { accepted: result.accepted, duplicates: result.duplicates });
  };

  const handleOtlp = async (signal: OtlpSignal, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const type = mediaType(req);
    if (type !== 'application/x-protobuf' && type !== 'application/json') {
      throw new SinkError(
        'FW_SINK_UNSUPPORTED_MEDIA_TYPE',
        'content-type must be application/x-protobuf or application/json',
      );
    }
    const body = await readBody(req, deps.maxBodyBytes);
    let request: unknown;
    if (type === 'application/json') {
      try {
        request = JSON.parse(body.toString('utf8'));
      } catch {
        throw new SinkError('FW_SINK_BAD_JSON', 'body is not valid JSON');
      }
    } else {
      try {
        request = decodeOtlpProtobuf(signal, body);
      } catch {
        throw new SinkError('FW_SINK_BAD_OTLP', 'body is not a valid OTLP protobuf message');
      }
    }
    const rows = OTLP_MAPPERS[signal](request);
    if (!deps.monitor.up && deps.spool.nearlyFull) {
      throw new SinkError('FW_SINK_STORE_UNAVAILABLE', 'store unavailable and telemetry spool full', { retryAfter: 5 });
    }
    // answered once every row is stored, spooled or refused (TelemetryWriter: what the answer means)
    const result = await deps.telemetry.write(rows);
    if (result.lost > 0) {
      throw new SinkError('FW_SINK_STORE_UNAVAILABLE', 'telemetry could not be stored or spooled', { retryAfter: 5 });
    }
    const answer = otlpSuccessBody(signal, type, result.refused, refusedMessage(result.refused, result.refusedErrors));
    res.writeHead(200, { 'content-type': answer.contentType, 'content-length': answer.body.length });
    res.end(answer.body);
  };

  const handlers: Record<
    SinkRoutePath,
    (req: IncomingMessage, res: ServerResponse, writer?: Credential) => Promise<void>
  > = {
    // unauthenticated (orchestrator probes) and minimal: states, codes and counts, never a path or a value
    '/healthz': async (_req, res) => {
      sendJson(res, 200, { status: 'ok' }, { 'cache-control': 'no-store' });
    },
    '/readyz': async (_req, res) => {
      const { ready, body } = await sinkReadiness(deps);
      sendJson(res, ready ? 200 : 503, body, {
        'cache-control': 'no-store',
        ...(ready ? {} : { 'retry-after': '1' }),
      });
    },
    '/v1/audit': (req, res, writer) => handleAudit(req, res, writer),
    '/v1/traces': (req, res) => handleOtlp('traces', req, res),
    '/v1/logs': (req, res) => handleOtlp('logs', req, res),
    '/v1/metrics': (req, res) => handleOtlp('metrics', req, res),
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = deps.guard === undefined ? ((req.url ?? '/').split('?')[0] ?? '/') : guardRequest(req, deps.guard);
    const ingest = path === '/v1' || path.startsWith('/v1/');
    if (!ingest && !SINK_ROUTE_TABLE.has(path)) {
      for (const mount of deps.mounts ?? []) if (await mount(req, res)) return;
    }
    // ingest: the writer's credential before anything else, so an unknown /v1 path says nothing either
    const writer = ingest ? authenticateWriter(first(req.headers.authorization), deps.ingestTokens ?? []) : undefined;
    const table = SINK_ROUTE_TABLE.get(path);
    if (table === undefined) throw new SinkError('FW_SINK_NOT_FOUND', 'no such endpoint');
    if (!(table.methods as readonly string[]).includes(req.method ?? '')) {
      throw new SinkError('FW_SINK_METHOD', `use ${table.methods.join(' or ')}`);
    }
    await handlers[table.path](req, res, writer);
  };

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      // drain what the client is still sending so it can read the answer
      req.resume();
      sendError(res, error);
    });
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Open the store, migrate, replay the telemetry spool and serve. */
export async function startSink(options: SinkOptions = {}): Promise<SinkServer> {
  const host = options.host ?? '127.0.0.1';
  const queryApi = options.queryApi ?? {};
  if (queryApi !== false) assertQueryApiBind(host, queryApi.token, queryApi.tokens);
  const readers = queryApi === false ? [] : queryCredentials(queryApi.token, queryApi.tokens);
  const ingestTokens = options.ingestTokens ?? [];
  assertIngestBind(host, ingestTokens, readers);
  const worker = queryApi !== false && (queryApi.thread ?? 'worker') === 'worker';
  // panels are checked before the store is opened: a bad provider is a clear error, not an empty /api/panels
  const panelsModule =
    worker && queryApi.panels !== undefined ? await panelModuleForWorker(queryApi.panels) : undefined;
  // a bad incidents config is a clear error before the store is opened
  if (options.incidents !== undefined) {
    checkDestinations(options.incidents.destinations ?? [], options.incidents.allowHosts ?? []);
  }
  const ownsClient = options.client === undefined;
  let client: ClickHouseClient;
  if (options.client !== undefined) client = options.client;
  else if (options.store !== undefined || options.clickhouseUrl !== undefined) {
    client = openStore(storeOptionsOf(options));
  } else throw new SinkError('FW_SINK_OPTIONS', 'startSink needs `store`, `clickhouseUrl` or `client`');

  const schemaOptions = {
    ...(options.database === undefined ? {} : { database: options.database }),
    ...(options.auditRetentionDays === undefined ? {} : { auditRetentionDays: options.auditRetentionDays }),
    ...(options.telemetryRetentionDays === undefined ? {} : { telemetryRetentionDays: options.telemetryRetentionDays }),
  };
  const shouldMigrate = options.migrate ?? true;
  const monitor = new StoreMonitor(client, options.probeIntervalMs ?? 1000, async () => {
    if (shouldMigrate) await migrate(client, schemaOptions);
  });
  const spoolDir =
    options.spoolDir ?? (options.store !== undefined ? join(options.store, 'spool') : join('.fhirwatch', 'sink-spool'));
  const spool = new Spool(spoolDir, options.maxSpoolBytes ?? 1024 ** 3);
  const audit = new AuditWriter(client, monitor, {
    ...(options.batchRows === undefined ? {} : { batchRows: options.batchRows }),
    ...(options.maxPendingAuditRows === undefined ? {} : { maxPendingRows: options.maxPendingAuditRows }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    validate: false, // the handler validated every line already
    exclusive: options.exclusiveWriter ?? options.store !== undefined,
    ...(options.auditInsertFormat === undefined ? {} : { rawFormat: options.auditInsertFormat }),
  });
  const telemetry = new TelemetryWriter(client, monitor, spool, {
    ...(options.batchRows === undefined ? {} : { batchRows: options.batchRows }),
    ...(options.flushIntervalMs === undefined ? {} : { flushIntervalMs: options.flushIntervalMs }),
    ...(options.maxPendingTelemetryRows === undefined ? {} : { maxPendingRows: options.maxPendingTelemetryRows }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const selfMetricsIntervalMs = options.selfMetricsIntervalMs ?? 10_000;
  const selfMetrics = selfMetricsIntervalMs > 0 ? startSelfMetrics(telemetry, audit, selfMetricsIntervalMs) : undefined;

  const mounts: QueryApiHandler[] = [];
  let threaded: ThreadedQueryApi | undefined;
  if (queryApi !== false && worker) {
    threaded = startThreadedQueryApi({
      client,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(queryApi.token === undefined ? {} : { token: queryApi.token }),
      ...(queryApi.tokens === undefined ? {} : { tokens: queryApi.tokens }),
      ...(queryApi.hmacKey === undefined ? {} : { hmacKey: queryApi.hmacKey }),
      ...(panelsModule === undefined ? {} : { panelsModule }),
    });
    mounts.push(threaded.handler);
  } else if (queryApi !== false) mounts.push(buildQueryApi({ client, ...queryApi }));
  if (options.mount !== undefined) mounts.push(options.mount);

  // a store that is down at start is not fatal: the sink answers 503 and the monitor keeps trying
  if (await monitor.probe()) await telemetry.replay();

  const handler = buildSinkHandler({
    audit,
    telemetry,
    monitor,
    spool,
    maxBodyBytes: options.maxBodyBytes ?? 32 * 1024 * 1024,
    maxBatchRecords: options.maxBatchRecords ?? 50_000,
    mounts,
    ingestTokens,
    guard: {
      address: () => {
        const bound = server.address();
        return bound === null || typeof bound === 'string' ? undefined : { host: bound.address, port: bound.port };
      },
      // something answers without a credential: Host and Origin are checked (loopback binds only)
      open: ingestTokens.length === 0 || (queryApi !== false && readers.length === 0),
    },
  });
  const server = createServer(handler);
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
  await listen(server, options.port ?? 0, host);
  const address = server.address() as AddressInfo;
  const url = `http://${address.address}:${address.port}`;
  // tells `fhirwatch audit|console --store <dir>` (which cannot open a store this process owns) where to ask
  if (options.store !== undefined) writeSinkMarker(options.store, url);

  // the incident monitor runs where the query API runs: on its worker thread (default), else on this one
  let incidents: SinkIncidents | undefined;
  let localMonitor: IncidentMonitor | undefined;
  if (options.incidents !== undefined) {
    const config = { ...options.incidents, consoleUrl: options.incidents.consoleUrl ?? url };
    if (threaded !== undefined) {
      threaded.startIncidents(config);
      incidents = { stats: threaded.incidentStats };
    } else {
      localMonitor = new IncidentMonitor(client, config, options.logger);
      localMonitor.start();
      incidents = localMonitor;
    }
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await localMonitor?.close();
      if (options.store !== undefined) removeSinkMarker(options.store);
      await threaded?.close();
      await audit.close();
      await selfMetrics?.shutdown(); // a last collection, written before the writer closes
      await telemetry.close();
      monitor.close();
      if (ownsClient) await client.close();
    })();
    return closing;
  };
  return { url, client, audit, telemetry, monitor, spool, selfMetrics, incidents, close };
}
