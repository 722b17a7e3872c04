/**
 * `fhirAudit(options)`: per request one server span, the HTTP duration metrics and the audit
 * records of audit-events.md, for a node:http handler (`wrap`), Express/Connect (`express()`) and
 * Fastify (`fastify`). The three adapters share `begin(req, res)`, which hooks the request and the
 * response of one exchange:
 *
 * - the request body is teed from the stream's own `data` events (emitted both in flowing mode
 *   and by `read()`), so the host reads its body exactly as before; only POST/PUT are teed;
 * - the response body is teed (batched mode) or held (strict mode) by wrapping `res.write`/`res.end`
 *   of that response object, only for traffic that can be clinical, up to `maxResponseBodyBytes`;
 * - at `res.end` the request is classified (`@fhirwatch/contract`), the disclosed patients are read
 *   from the response, the records are queued to the spool, the span and metrics are recorded.
 *
 * Nothing the middleware does can fail the host request: every step is guarded and a failure costs
 * only telemetry, except in strict mode, where failing to spool fails the request closed (503
 * OperationOutcome) by design.
 *
 * No auto-instrumentation: spans are created here (server span) and from `recordUpstream` (client
 * span per upstream call, back-dated), which is what keeps the overhead low.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import {
  type Classification,
  type ClassifierRequest,
  classifyRequest,
  expansionSize,
  FHIR_JSON_MIME,
  type FhirVersion,
  operationOutcome,
  type UnchainedAuditRequest,
} from '@fhirwatch/contract';
import {
  type Attributes,
  type Context,
  diag,
  type Histogram,
  type Meter,
  context as otelContext,
  metrics as otelMetrics,
  trace as otelTrace,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
} from '@opentelemetry/api';
import { type Logger, logs as otelLogs, SeverityNumber } from '@opentelemetry/api-logs';
import { getRequestContext, type RequestAuditContext } from './context.ts';
import { AUDIT_ERROR_CODES, FhirAuditError } from './errors.ts';
import { projectBody, type ResourceDetail } from './json-scan.ts';
import { registerPipelineMetrics } from './pipeline-metrics.ts';
import { type AccessFacts, buildAuditRequest, failedBatchRequest, needsReturnedPatients } from './records.ts';
import {
  ATTR_CLIENT_ID,
  ATTR_ERROR_TYPE,
  ATTR_FHIR_AUDIT_BODY_TRUNCATED,
  ATTR_FHIR_AUDIT_EVENT,
  ATTR_FHIR_AUDIT_RECORD_COUNT,
  ATTR_FHIR_BATCH_ENTRY_COUNT,
  ATTR_FHIR_INTERACTION,
  ATTR_FHIR_RESOURCE_TYPE,
  ATTR_FHIR_VERSION,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_TENANT_ID,
  ATTR_URL_SCHEME,
  HTTP_DURATION_BUCKETS_S,
  INSTRUMENTATION_NAME,
  INSTRUMENTATION_VERSION,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
  UNMATCHED_ROUTE,
} from './semconv.ts';
import { AuditShipper } from './shipper.ts';
import { AuditSpool, type SpoolStats } from './spool.ts';
import type { AuditMode, FhirAuditOptions, UserExtractor } from './types.ts';

type Chunk = Buffer | string | Uint8Array;
type EndFn = ServerResponse['end'];
type WriteFn = ServerResponse['write'];
type WriteHeadFn = ServerResponse['writeHead'];

/** Express/Connect middleware signature. */
export type ConnectMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Minimal Fastify plugin shape (no dependency on fastify's types). */
export interface FastifyLikeInstance {
  addHook(
    name: 'onRequest',
    hook: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse }, done: () => void) => void,
  ): unknown;
}
export type FastifyPlugin = ((instance: FastifyLikeInstance, opts: unknown, done: () => void) => void) & {
  [key: symbol]: unknown;
};

export interface FhirAuditStats {
  spool: SpoolStats | undefined;
  shipper: AuditShipper['stats'] | undefined;
  /** Requests whose records could not be spooled (batched mode: dropped; strict: failed closed). */
  auditFailures: number;
  /** Responses whose body exceeded `maxResponseBodyBytes` (disclosure unknown). */
  truncatedBodies: number;
}

export interface FhirAudit {
  /** Wrap a node:http request listener (the gateway, demo and CLI use this). */
  wrap(handler: RequestListener): RequestListener;
  /** Express/Connect middleware; mount it first. */
  express(): ConnectMiddleware;
  /** Fastify plugin (`app.register(audit.fastify)`); applies to the whole instance. */
  fastify: FastifyPlugin;
  /** Resolves when the spool is open (rejects with FW_AUDIT_SPOOL_LOCKED / an I/O error). */
  ready(): Promise<void>;
  /** Write every queued record to the spool now. */
  flush(): Promise<void>;
  /** Resolve once every record spooled so far has been accepted by the sink (requires `sinkUrl`). */
  drain(): Promise<void>;
  stats(): FhirAuditStats;
  /** Flush, stop shipping (unshipped segments stay on disk for the next start), release the spool. */
  shutdown(): Promise<void>;
}

const CLINICAL_METHODS = new Set(['GET', 'POST']);
const TENANT_SEGMENT = /^\/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?:[/?]|$)/;

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Path relative to the FHIR base, with query (PHI: classification only). */
  path: string;
  startMs: number;
  startPerf: number;
  span: Span;
  /** Classification from method + path (final for GET). */
  pre: Classification | undefined;
  preVersion: FhirVersion;
  auditable: boolean;
  /** A single read: its disclosure is the resource it names, no body needed. */
  readOnly: boolean;
  reqChunks: Buffer[] | undefined;
  reqBytes: number;
  reqTruncated: boolean;
  resChunks: Chunk[] | undefined;
  resBytes: number;
  resTruncated: boolean;
  done: boolean;
  /** When the host ended the response (performance.now()); set by `markEnd`. */
  endPerf: number;
  /** Socket facts read at the end (the socket may be gone by the time deferred work runs). */
  sourceIp: string;
  localAddress: string | undefined;
  localPort: number | undefined;
  encrypted: boolean;
  /** content-encoding given to `writeHead(status, headers)` (node does not keep those for getHeader). */
  encoding: string | undefined;
  /** The context with the server span (the handler runs in it; parent of the client spans). */
  spanCtx: Context | undefined;
  /** Final classification and record count, set by `finishAudit` (undefined: not audited yet). */
  cls: Classification | undefined;
  clsFinal: boolean;
  records: number;
  /** Status captured at `res.end`, for the deferred work of batched mode. */
  endStatus: number;
}

/** The content-encoding among `writeHead` arguments (`(status, headers)` or `(status, message, headers)`). */
function encodingOfHeadArgs(args: readonly unknown[]): string | undefined {
  const headers = typeof args[1] === 'string' ? args[2] : args[1];
  if (headers === null || typeof headers !== 'object') return undefined;
  if (Array.isArray(headers)) {
    // [[name, value], …] or [name, value, name, value, …]
    const flat = Array.isArray(headers[0]) ? (headers as unknown[][]).flat() : headers;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      if (String(flat[i]).toLowerCase() === 'content-encoding') return String(flat[i + 1]);
    }
    return undefined;
  }
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (name.toLowerCase() === 'content-encoding') return Array.isArray(value) ? String(value[0]) : String(value);
  }
  return undefined;
}

/** Batched mode: deferred exchanges processed per event-loop turn before yielding. */
const DEFER_CHUNK = 64;
/** Above this many deferred exchanges the work is done inline (keeps memory and the window bounded). */
const MAX_DEFERRED = 4096;

function headerValue(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? (v[0] ?? '') : v;
}

function toBuffer(chunk: Chunk, encoding?: BufferEncoding): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function chunkLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? chunk.length : chunk.byteLength;
}

function defaultUserExtractor(trusted: boolean): UserExtractor | undefined {
  if (!trusted) return undefined;
  return (req) => {
    const userId = headerValue(req.headers['x-fhirwatch-user-id']);
    const userName = headerValue(req.headers['x-fhirwatch-user-name']);
    return userId === '' && userName === '' ? undefined : { userId, userName };
  };
}

/** Build the middleware. The spool opens in the background (`ready()`); requests before that are queued. */
export function fhirAudit(options: FhirAuditOptions = {}): FhirAudit {
  const mode: AuditMode = options.mode ?? 'batched';
  const strict = mode === 'strict';
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const defaultVersion: FhirVersion = options.fhirVersion ?? 'STU3';
  const maxResBytes = options.maxResponseBodyBytes ?? 16 * 1024 * 1024;
  const maxReqBytes = options.maxRequestBodyBytes ?? 4 * 1024 * 1024;
  const userExtractor = options.userExtractor ?? defaultUserExtractor(options.trustedUserHeaders === true);
  const activeContext = options.activeContext ?? true;
  const stripTenant = options.tenantPathSegment ?? true;
  const emitLogs = options.emitLogs === true;
  const disclosureMode = options.disclosure ?? 'spec';
  const returnedMode = disclosureMode === 'returned';
  const onError = (error: FhirAuditError): void => {
    try {
      if (options.onError !== undefined) options.onError(error);
      else otelDiagWarn(error);
    } catch {
      // hooks never break anything
    }
  };

  let spool: AuditSpool | undefined;
  let shipper: AuditShipper | undefined;
  let openError: unknown;
  let auditFailures = 0;
  let truncatedBodies = 0;
  const opening = AuditSpool.open({
    dir: options.spoolDir ?? join(process.cwd(), '.fhirwatch', 'audit-spool'),
    recordedBy: options.recordedBy ?? hostname(),
    ...(options.hmacKey === undefined ? {} : { hmacKey: options.hmacKey }),
    ...(options.segmentMaxBytes === undefined ? {} : { segmentMaxBytes: options.segmentMaxBytes }),
    ...(options.maxSpoolBytes === undefined ? {} : { maxSpoolBytes: options.maxSpoolBytes }),
    ...(options.flushIntervalMs === undefined ? {} : { flushIntervalMs: options.flushIntervalMs }),
  }).then(
    (s) => {
      spool = s;
      if (options.sinkUrl !== undefined) {
        shipper = new AuditShipper(s, {
          sinkUrl: options.sinkUrl,
          ...(options.shipIntervalMs === undefined ? {} : { shipIntervalMs: options.shipIntervalMs }),
          ...(options.minBackoffMs === undefined ? {} : { minBackoffMs: options.minBackoffMs }),
          ...(options.maxBackoffMs === undefined ? {} : { maxBackoffMs: options.maxBackoffMs }),
          ...(options.gzip === undefined ? {} : { gzip: options.gzip }),
          ...(options.sinkHeaders === undefined ? {} : { headers: options.sinkHeaders }),
          onError,
          onShipped: (lagS) => {
            if (tracer === undefined) instruments();
            shipLag?.record(lagS);
          },
        });
        // On start, whatever an earlier run left in the spool is shipped first.
        shipper.start();
      }
    },
    (error: unknown) => {
      openError = error;
      onError(
        error instanceof FhirAuditError
          ? error
          : new FhirAuditError(AUDIT_ERROR_CODES.spoolUnwritable, 'cannot open audit spool', { cause: error }),
      );
    },
  );

  function spoolRecords(records: UnchainedAuditRequest[]): Promise<void> | undefined {
    if (spool !== undefined) return spool.append(records, strict);
    if (openError !== undefined) {
      const error = new FhirAuditError(AUDIT_ERROR_CODES.spoolUnwritable, 'audit spool unavailable', {
        cause: openError,
      });
      return strict ? Promise.reject(error) : undefined;
    }
    const pending = opening.then(() => {
      if (spool === undefined) {
        throw new FhirAuditError(AUDIT_ERROR_CODES.spoolUnwritable, 'audit spool unavailable', { cause: openError });
      }
      return spool.append(records, strict);
    });
    if (strict) return pending;
    pending.catch(() => {
      auditFailures++;
    });
    return undefined;
  }

  // Telemetry handles, resolved on first use so that `setupTelemetry` may run after `fhirAudit`.
  let tracer: Tracer | undefined;
  let serverDuration: Histogram | undefined;
  let clientDuration: Histogram | undefined;
  let shipLag: Histogram | undefined;
  let logger: Logger | undefined;
  function instruments(): void {
    const tp = options.tracerProvider ?? otelTrace.getTracerProvider();
    tracer = tp.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    const meter: Meter = (options.meterProvider ?? otelMetrics.getMeterProvider()).getMeter(
      INSTRUMENTATION_NAME,
      INSTRUMENTATION_VERSION,
    );
    serverDuration = meter.createHistogram(METRIC_HTTP_SERVER_REQUEST_DURATION, {
      unit: 's',
      description: 'Duration of HTTP server requests.',
      advice: { explicitBucketBoundaries: [...HTTP_DURATION_BUCKETS_S] },
    });
    clientDuration = meter.createHistogram(METRIC_HTTP_CLIENT_REQUEST_DURATION, {
      unit: 's',
      description: 'Duration of HTTP client requests (the upstream hop to the provider FHIR server).',
      advice: { explicitBucketBoundaries: [...HTTP_DURATION_BUCKETS_S] },
    });
    shipLag = registerPipelineMetrics(meter, {
      spool: () => spool?.stats(),
      shipper: () => shipper?.stats,
      rejected: () => auditFailures + (spool?.stats().dropped ?? 0),
    });
    if (emitLogs) {
      logger = (options.loggerProvider ?? otelLogs.getLoggerProvider()).getLogger(
        INSTRUMENTATION_NAME,
        INSTRUMENTATION_VERSION,
      );
    }
  }

  // Metric attribute objects are interned: one object per (tenant, route, method, status), reused
  // for every request of that series instead of a fresh object per request.
  const serverAttrCache = new Map<string, Attributes>();
  const clientAttrCache = new Map<string, Attributes>();
  const spanNames = new Map<string, string>();

  function serverAttrs(tenant: string, route: string, method: string, status: number): Attributes {
    const key = `${tenant}\u0000${route}\u0000${method}\u0000${status}`;
    let attrs = serverAttrCache.get(key);
    if (attrs === undefined) {
      attrs = {
        [ATTR_TENANT_ID]: tenant,
        [ATTR_HTTP_ROUTE]: route,
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
      };
      if (status >= 500) attrs[ATTR_ERROR_TYPE] = String(status);
      if (serverAttrCache.size < 10_000) serverAttrCache.set(key, attrs);
    }
    return attrs;
  }

  function spanName(method: string, route: string): string {
    const key = `${method} ${route}`;
    let name = spanNames.get(key);
    if (name === undefined) {
      name = key;
      if (spanNames.size < 10_000) spanNames.set(key, name);
    }
    return name;
  }

  function relativePath(url: string): string {
    let path = url;
    if (basePath !== '' && path.startsWith(basePath)) {
      const rest = path.slice(basePath.length);
      path = rest === '' || rest[0] === '?' ? `/${rest}` : rest;
    }
    // Tenant-routed base (`/{tenant-guid}/Patient/...`, as the reference gateway serves): the FHIR
    // base is after the tenant segment. Checked by position first so most requests skip the regex.
    if (stripTenant && path.length >= 37 && path.charCodeAt(9) === 45 && TENANT_SEGMENT.test(path.slice(0, 38))) {
      const rest = path.slice(37);
      path = rest === '' || rest[0] === '?' ? `/${rest}` : rest;
    }
    return path;
  }

  function classify(ex: Exchange, body: Buffer | undefined, version: FhirVersion): Classification | undefined {
    const request: ClassifierRequest = {
      method: ex.method,
      path: ex.path,
      headers: ex.req.headers,
      fhirVersion: version,
    };
    if (body !== undefined) request.body = body.toString('utf8');
    try {
      return classifyRequest(request);
    } catch {
      return undefined;
    }
  }

  function markEnd(ex: Exchange): void {
    ex.endPerf = performance.now();
    const socket = ex.req.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | undefined;
    if (socket === undefined || socket === null) return;
    ex.sourceIp = socket.remoteAddress ?? '';
    ex.localAddress = socket.localAddress;
    ex.localPort = socket.localPort;
    ex.encrypted = socket.encrypted === true;
  }

  // Deferred per-exchange work of batched mode (see teeEnd), drained DEFER_CHUNK at a time.
  // The queue holds exchanges (status in `endStatus`), not a closure per request.
  let deferred: (Exchange | undefined)[] = [];
  let deferredHead = 0;
  let deferImmediate: NodeJS.Immediate | undefined;
  function defer(ex: Exchange): void {
    if (deferred.length - deferredHead >= MAX_DEFERRED) {
      safeFinish(ex, ex.endStatus);
      return;
    }
    deferred.push(ex);
    deferImmediate ??= setImmediate(drainDeferredChunk);
  }
  function drainDeferredChunk(): void {
    deferImmediate = undefined;
    const stop = Math.min(deferred.length, deferredHead + DEFER_CHUNK);
    while (deferredHead < stop) {
      const ex = deferred[deferredHead] as Exchange;
      deferred[deferredHead++] = undefined;
      safeFinish(ex, ex.endStatus); // never throws
    }
    if (deferredHead === deferred.length) {
      deferred = [];
      deferredHead = 0;
    } else deferImmediate = setImmediate(drainDeferredChunk);
  }
  /** Run every deferred exchange now (flush, drain, shutdown). */
  function drainDeferred(): void {
    if (deferImmediate !== undefined) clearImmediate(deferImmediate);
    deferImmediate = undefined;
    while (deferredHead < deferred.length) {
      const ex = deferred[deferredHead] as Exchange;
      deferred[deferredHead++] = undefined;
      safeFinish(ex, ex.endStatus);
    }
    deferred = [];
    deferredHead = 0;
  }

  /** Start instrumenting one exchange. Never throws; undefined means "pass through untouched". */
  function begin(req: IncomingMessage, res: ServerResponse): Exchange | undefined {
    try {
      if (tracer === undefined) instruments();
      const method = req.method ?? 'GET';
      const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
      const path = relativePath(url);
      const parent =
        req.headers.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, req.headers);
      const span = (tracer as Tracer).startSpan(method, { kind: SpanKind.SERVER }, parent);
      const ex: Exchange = {
        req,
        res,
        method,
        path,
        startMs: Date.now(),
        startPerf: performance.now(),
        span,
        pre: undefined,
        preVersion: defaultVersion,
        auditable: false,
        readOnly: false,
        reqChunks: undefined,
        reqBytes: 0,
        reqTruncated: false,
        resChunks: undefined,
        resBytes: 0,
        resTruncated: false,
        done: false,
        endPerf: 0,
        sourceIp: '',
        localAddress: undefined,
        localPort: undefined,
        encrypted: false,
        encoding: undefined,
        spanCtx: undefined,
        cls: undefined,
        clsFinal: false,
        records: 0,
        endStatus: 0,
      };
      if (CLINICAL_METHODS.has(method)) {
        // The host usually learns the FHIR version (from the tenant) after this point; a resource
        // type that is clinical in the other version only (MedicationOrder vs MedicationRequest)
        // must still be captured, so an `unknown` answer is re-asked for the other version.
        const known = getRequestContext(req)?.fhirVersion;
        const version = known ?? defaultVersion;
        ex.pre = classify(ex, undefined, version);
        ex.preVersion = version;
        let kind = ex.pre?.kind;
        if (kind === 'unknown' && known === undefined && method === 'GET') {
          if (classify(ex, undefined, version === 'STU3' ? 'DSTU2' : 'STU3')?.kind === 'clinical') kind = 'clinical';
        }
        ex.auditable = kind === 'clinical' || (method === 'POST' && kind !== 'not-audited');
        // A read discloses the resource it names: its records need no response body, so a batched
        // read is not captured at all (half of Patients-app traffic; measured in bench/).
        ex.readOnly = method === 'GET' && ex.pre?.batch === false && ex.pre.interactions[0]?.interaction === 'read';
      }
      if (ex.auditable && method === 'POST') teeRequest(ex);
      hookResponse(ex);
      return ex;
    } catch {
      return undefined;
    }
  }

  function teeRequest(ex: Exchange): void {
    const req = ex.req;
    const emit = req.emit;
    ex.reqChunks = [];
    req.emit = function teeEmit(this: IncomingMessage, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'data' && ex.reqChunks !== undefined && !ex.reqTruncated) {
        const chunk = args[0] as Chunk;
        const len = chunkLength(chunk);
        if (ex.reqBytes + len > maxReqBytes) ex.reqTruncated = true;
        else {
          ex.reqBytes += len;
          ex.reqChunks.push(toBuffer(chunk));
        }
      }
      return emit.call(this, event, ...args);
    } as IncomingMessage['emit'];
  }

  function hookResponse(ex: Exchange): void {
    const res = ex.res;
    const origWrite = res.write;
    const origEnd = res.end;
    const hold = ex.auditable && strict;
    const capture = hold || (ex.auditable && !ex.readOnly);
    if (capture) ex.resChunks = [];

    const keep = (chunk: Chunk | undefined, encoding: unknown): void => {
      if (chunk === undefined || chunk === null || ex.resChunks === undefined || ex.resTruncated) return;
      try {
        const len = chunkLength(chunk);
        if (ex.resBytes + len > maxResBytes) {
          ex.resTruncated = true;
          ex.resChunks = hold ? [] : undefined;
          return;
        }
        ex.resBytes += len;
        const enc = typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : undefined;
        ex.resChunks.push(typeof chunk === 'string' ? toBuffer(chunk, enc) : chunk);
      } catch {
        // an odd chunk type: let the host's own write report it; the disclosure becomes unknown
        ex.resTruncated = true;
        ex.resChunks = hold ? [] : undefined;
      }
    };

    res.once('close', () => {
      if (!ex.done) {
        // The connection closed before the host ended the response. If headers (and maybe part of
        // the body) went out, PHI may have been disclosed: audit it with its status; else status 0.
        ex.done = true;
        markEnd(ex);
        safeFinish(ex, res.headersSent ? res.statusCode : 0);
      }
    });

    if (!hold) {
      if (capture) {
        const origWriteHeadTee = res.writeHead;
        res.writeHead = function teeWriteHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
          try {
            ex.encoding = encodingOfHeadArgs(args);
          } catch {
            // odd header shapes: getHeader is asked at the end
          }
          return (origWriteHeadTee as (...a: unknown[]) => ServerResponse).apply(this, args);
        } as WriteHeadFn;
        res.write = function teeWrite(this: ServerResponse, chunk: Chunk, ...rest: unknown[]): boolean {
          keep(chunk, typeof rest[0] === 'string' ? rest[0] : undefined);
          return (origWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
        } as WriteFn;
      }
      res.end = function teeEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
        const first = args[0];
        if (capture && typeof first !== 'function') keep(first as Chunk, args[1]);
        const out = (origEnd as (...a: unknown[]) => ServerResponse).apply(this, args);
        if (!ex.done) {
          ex.done = true;
          markEnd(ex);
          ex.endStatus = res.statusCode;
          // Batched mode: the audit and telemetry work runs after the response has been handed to
          // the socket (node writes it at the next tick; setImmediate runs after that), off the
          // request's latency path; still within the same event-loop turn, so the bounded window holds.
          defer(ex);
        }
        return out;
      } as EndFn;
      return;
    }

    // Strict mode: hold status, headers and body until the records are durably spooled.
    const origWriteHead = res.writeHead;
    const origFlushHeaders = res.flushHeaders;
    let headArgs: unknown[] | undefined;
    const callbacks: (() => void)[] = [];
    res.writeHead = function holdWriteHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
      headArgs = args;
      try {
        ex.encoding = encodingOfHeadArgs(args);
      } catch {
        // odd header shapes: getHeader is asked at the end
      }
      if (typeof args[0] === 'number') this.statusCode = args[0];
      return this;
    } as WriteHeadFn;
    res.flushHeaders = function holdFlushHeaders(): void {
      // held: headers go out with the body once the audit records are durable
    };
    res.write = function holdWrite(this: ServerResponse, chunk: Chunk, ...rest: unknown[]): boolean {
      keep(chunk, typeof rest[0] === 'string' ? rest[0] : undefined);
      const cb = rest[rest.length - 1];
      if (typeof cb === 'function') callbacks.push(cb as () => void);
      return true;
    } as WriteFn;
    res.end = function holdEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
      if (ex.done) return this;
      ex.done = true;
      let endCb: (() => void) | undefined;
      const first = args[0];
      if (typeof first === 'function') endCb = first as () => void;
      else {
        keep(first as Chunk | undefined, typeof args[1] === 'string' ? args[1] : undefined);
        const last = args[args.length - 1];
        if (typeof last === 'function') endCb = last as () => void;
      }
      const restore = (): void => {
        res.writeHead = origWriteHead;
        res.write = origWrite;
        res.end = origEnd;
        res.flushHeaders = origFlushHeaders;
      };
      const release = (): void => {
        restore();
        if (headArgs !== undefined) (origWriteHead as (...a: unknown[]) => void).apply(res, headArgs);
        const chunks = ex.resChunks ?? [];
        const write = origWrite as (this: ServerResponse, chunk: Chunk) => boolean;
        const end = origEnd as (this: ServerResponse, cb?: () => void) => ServerResponse;
        for (const c of chunks) write.call(res, c);
        for (const cb of callbacks) cb();
        end.call(res, endCb);
      };
      const failClosed = (code: string, status: number): void => {
        restore();
        if (!res.headersSent) {
          for (const name of res.getHeaderNames()) res.removeHeader(name);
          const body = JSON.stringify(
            operationOutcome('transient', 'the access could not be audited; it was refused', { code }),
          );
          res.writeHead(status, {
            'content-type': FHIR_JSON_MIME[getRequestContext(ex.req)?.fhirVersion ?? defaultVersion],
            'content-length': Buffer.byteLength(body),
            'retry-after': '1',
          });
          res.end(body);
        } else res.destroy();
        for (const cb of callbacks) cb();
        endCb?.();
      };
      const status = this.statusCode;
      markEnd(ex);
      if (ex.resTruncated) {
        auditFailures++;
        failClosed(AUDIT_ERROR_CODES.bodyTooLarge, 503);
        safeFinish(ex, 503, true);
        return this;
      }
      let pending: Promise<void> | undefined;
      try {
        pending = finishAudit(ex, status);
      } catch (error) {
        pending = Promise.reject(error);
      }
      if (pending === undefined) {
        release();
        safeFinish(ex, status, true);
        return this;
      }
      pending.then(
        () => {
          release();
          safeFinish(ex, status, true);
        },
        (error: unknown) => {
          auditFailures++;
          const code =
            error instanceof FhirAuditError && error.code === AUDIT_ERROR_CODES.spoolFull
              ? AUDIT_ERROR_CODES.spoolFull
              : AUDIT_ERROR_CODES.spoolUnwritable;
          failClosed(code, 503);
          safeFinish(ex, 503, true);
        },
      );
      return this;
    } as EndFn;
  }

  function finalClassification(ex: Exchange, version: FhirVersion): Classification | undefined {
    if (ex.method === 'GET' || ex.reqChunks === undefined) {
      return version === ex.preVersion || ex.pre === undefined ? ex.pre : classify(ex, undefined, version);
    }
    const body =
      ex.reqChunks.length === 1 ? ex.reqChunks[0] : ex.reqTruncated ? undefined : Buffer.concat(ex.reqChunks);
    return classify(ex, body, version);
  }

  /** What `projectBody` keeps of each returned resource (see json-scan.ts). */
  function detailFor(cls: Classification): (index: number) => ResourceDetail | undefined {
    if (returnedMode) return () => 'patients';
    const its = cls.interactions;
    if (!cls.batch) {
      const it = its[0];
      return () => (it !== undefined && needsReturnedPatients(it) ? 'patients' : 'types');
    }
    // Location attribution needs the Encounters of the same batch (their subject and location).
    const hasLocation = its.some((it) => it.eventType === 'LocationView');
    return (index) => {
      const it = its[index];
      if (it === undefined) return 'types';
      if (needsReturnedPatients(it) || (hasLocation && it.resourceType === 'Encounter')) return 'patients';
      return 'types';
    };
  }

  /**
   * The response body, projected for disclosure (json-scan.ts): no `JSON.parse` of the whole body;
   * patient references are read only where the records need them (`disclosure: 'spec'`).
   */
  function parseBody(ex: Exchange, cls: Classification): unknown {
    const chunks = ex.resChunks;
    if (chunks === undefined || chunks.length === 0 || ex.resTruncated) return undefined;
    let buf = chunks.length === 1 ? toBuffer(chunks[0] as Chunk) : Buffer.concat(chunks.map((c) => toBuffer(c)));
    const encoding = ex.encoding ?? ex.res.getHeader('content-encoding');
    if (typeof encoding === 'string' && encoding !== 'identity') {
      const opts = { maxOutputLength: maxResBytes };
      if (encoding === 'gzip') buf = gunzipSync(buf, opts);
      else if (encoding === 'deflate') buf = inflateSync(buf, opts);
      else if (encoding === 'br') buf = brotliDecompressSync(buf, opts);
      else return undefined;
    }
    return projectBody(buf.toString('utf8'), cls.batch, detailFor(cls));
  }

  /** Classify, build and spool the audit request record of an exchange. Strict mode returns the spool promise. */
  function finishAudit(ex: Exchange, status: number): Promise<void> | undefined {
    const ctx = getRequestContext(ex.req);
    const version = ctx?.fhirVersion ?? defaultVersion;
    const cls = ex.auditable ? finalClassification(ex, version) : ex.pre;
    ex.cls = cls;
    ex.clsFinal = true;
    if (cls === undefined || status === 0) return undefined;
    const failedBatch = cls.kind !== 'clinical' && isFailedBatch(ex, cls, status);
    if (cls.kind !== 'clinical' && !failedBatch) return undefined;
    let body: unknown;
    if (!ex.readOnly && !failedBatch) {
      try {
        body = parseBody(ex, cls);
      } catch {
        body = undefined; // not JSON (or not decodable): the records name the requested patients only
      }
    }
    if (ex.resTruncated) truncatedBodies++;
    const user = extractUser(ex.req, ctx);
    const facts: AccessFacts = {
      eventTimeMs: ex.startMs,
      tenantId: ctx?.tenantId ?? '',
      tenantClaimed: ctx?.tenantClaimed === true,
      routedTenantId: ctx?.routedTenantId ?? '',
      clientId: ctx?.clientId ?? '',
      userId: user.userId ?? '',
      userName: user.userName ?? '',
      sourceIp: ex.sourceIp,
      userAgent: headerValue(ex.req.headers['user-agent']),
      fhirVersion: version,
      traceId: ex.span.spanContext().traceId,
      httpStatus: status,
      durationMs: Math.round((ex.endPerf - ex.startPerf) * 1000) / 1000,
    };
    const request = failedBatch
      ? failedBatchRequest(facts)
      : buildAuditRequest(cls, body, ex.resTruncated && !ex.readOnly, facts, disclosureMode);
    if (request === undefined) return undefined;
    ex.records = expansionSize(request);
    if (logger !== undefined) emitAuditLogs(ex, request);
    return spoolRecords([request]);
  }

  /**
   * A POST on the FHIR base that was not a readable clinical batch (unreadable body, not a batch
   * Bundle) and failed: an attempted list refresh that still gets a record (audit-events.md).
   */
  function isFailedBatch(ex: Exchange, cls: Classification, status: number): boolean {
    return ex.method === 'POST' && cls.kind === 'unknown' && (cls.route ?? '') === '/' && status >= 400;
  }

  function emitAuditLogs(ex: Exchange, request: UnchainedAuditRequest): void {
    const spanContext = ex.span.spanContext();
    const ctx = otelTrace.setSpanContext(ROOT_CONTEXT, spanContext);
    for (const e of request.entries) {
      // PHI-free by construction: no patient, query, user, IP or user agent.
      (logger as Logger).emit({
        severityNumber: SeverityNumber.INFO,
        severityText: 'INFO',
        body: 'fhir.audit',
        context: ctx,
        attributes: {
          'fhir.audit.event_id': request.event_id,
          [ATTR_FHIR_AUDIT_EVENT]: e.event_type,
          [ATTR_FHIR_RESOURCE_TYPE]: e.resource_type,
          [ATTR_FHIR_INTERACTION]: e.fhir_interaction,
          [ATTR_TENANT_ID]: request.tenant_id,
          [ATTR_CLIENT_ID]: request.client_id,
          'fhir.audit.outcome': e.outcome,
          [ATTR_HTTP_RESPONSE_STATUS_CODE]: e.http_status,
          'fhir.batch.entry_index': e.entry_index,
          'fhir.audit.record_count': e.patient_ids.length,
        },
      });
    }
  }

  function extractUser(
    req: IncomingMessage,
    ctx: RequestAuditContext | undefined,
  ): { userId?: string; userName?: string } {
    if (ctx?.userId !== undefined || ctx?.userName !== undefined) {
      return { userId: ctx.userId ?? '', userName: ctx.userName ?? '' };
    }
    if (userExtractor === undefined) return {};
    try {
      return userExtractor(req) ?? {};
    } catch {
      return {}; // a broken extractor means "no trusted user", never a failed request
    }
  }

  /** Audit (batched mode) and telemetry after the response. `audited` = the strict path already spooled. */
  function safeFinish(ex: Exchange, status: number, audited = false): void {
    try {
      if (!audited) {
        try {
          const pending = finishAudit(ex, status);
          // Batched mode never waits; a failure is counted, the host request is unaffected.
          pending?.catch(() => {
            auditFailures++;
          });
        } catch {
          auditFailures++;
        }
      }
      recordTelemetry(ex, status);
    } catch {
      // telemetry must never break the host
    }
  }

  function recordTelemetry(ex: Exchange, status: number): void {
    const endPerf = ex.endPerf === 0 ? performance.now() : ex.endPerf;
    const durationS = (endPerf - ex.startPerf) / 1000;
    const ctx = getRequestContext(ex.req);
    const cls = ex.clsFinal ? ex.cls : ex.pre;
    const first = cls?.interactions[0];
    const route = ctx?.route ?? cls?.route ?? first?.route ?? UNMATCHED_ROUTE;
    const tenant = ctx?.tenantId ?? '';
    const span = ex.span;
    span.updateName(spanName(ex.method, route));
    span.setAttribute(ATTR_HTTP_REQUEST_METHOD, ex.method);
    span.setAttribute(ATTR_HTTP_ROUTE, route);
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    span.setAttribute(ATTR_URL_SCHEME, ex.encrypted ? 'https' : 'http');
    if (ex.localPort !== undefined) span.setAttribute(ATTR_SERVER_PORT, ex.localPort);
    if (ex.localAddress !== undefined) span.setAttribute(ATTR_SERVER_ADDRESS, ex.localAddress);
    span.setAttribute(ATTR_FHIR_VERSION, ctx?.fhirVersion ?? defaultVersion);
    span.setAttribute(ATTR_TENANT_ID, tenant);
    span.setAttribute(ATTR_CLIENT_ID, ctx?.clientId ?? '');
    if (cls !== undefined && cls.kind !== 'not-audited') {
      if (cls.batch) {
        span.setAttribute(ATTR_FHIR_INTERACTION, 'batch');
        span.setAttribute(ATTR_FHIR_RESOURCE_TYPE, 'Bundle');
        span.setAttribute(ATTR_FHIR_BATCH_ENTRY_COUNT, cls.interactions.length);
        if (cls.kind === 'clinical') span.setAttribute(ATTR_FHIR_AUDIT_EVENT, 'PatientListView');
      } else if (first !== undefined) {
        span.setAttribute(ATTR_FHIR_INTERACTION, first.interaction);
        span.setAttribute(ATTR_FHIR_RESOURCE_TYPE, first.resourceType);
        if (first.eventType !== undefined) span.setAttribute(ATTR_FHIR_AUDIT_EVENT, first.eventType);
      }
    }
    if (ex.records > 0) span.setAttribute(ATTR_FHIR_AUDIT_RECORD_COUNT, ex.records);
    if (ex.resTruncated) span.setAttribute(ATTR_FHIR_AUDIT_BODY_TRUNCATED, true);
    if (status >= 500 || status === 0) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute(ATTR_ERROR_TYPE, status === 0 ? 'aborted' : String(status));
    }
    if (options.requestHook !== undefined) {
      try {
        options.requestHook(span, { req: ex.req, classification: cls, status });
      } catch {
        // user hooks never break the host request
      }
    }
    const upstream = ctx?.upstream;
    if (upstream !== undefined && upstream.length > 0) {
      const parent = ex.spanCtx ?? otelTrace.setSpan(ROOT_CONTEXT, span);
      const nowEpoch = performance.timeOrigin + endPerf;
      const method = ex.method === 'GET' ? 'GET' : 'POST';
      const routedTenant = ctx?.routedTenantId ?? tenant;
      for (const call of upstream) {
        const end = call.endedAtMs ?? nowEpoch;
        const start = end - call.durationS * 1000;
        // The client span's attributes are the histogram's series attributes (interned, given at start).
        const attrs = clientAttrs(routedTenant, method, call);
        const child = (tracer as Tracer).startSpan(
          method,
          { kind: SpanKind.CLIENT, startTime: start, attributes: attrs },
          parent,
        );
        if (call.error !== undefined || call.status >= 500) child.setStatus({ code: SpanStatusCode.ERROR });
        child.end(end);
        (clientDuration as Histogram).record(call.durationS, attrs);
      }
    }
    span.end(performance.timeOrigin + endPerf);
    (serverDuration as Histogram).record(durationS, serverAttrs(tenant, route, ex.method, status));
  }

  function clientAttrs(
    tenant: string,
    method: string,
    call: NonNullable<RequestAuditContext['upstream']>[number],
  ): Attributes {
    const key = `${tenant}\u0000${method}\u0000${call.status}\u0000${call.error ?? ''}\u0000${call.serverAddress ?? ''}\u0000${call.serverPort ?? ''}`;
    let attrs = clientAttrCache.get(key);
    if (attrs === undefined) {
      attrs = { [ATTR_TENANT_ID]: tenant, [ATTR_HTTP_REQUEST_METHOD]: method };
      if (call.status > 0) attrs[ATTR_HTTP_RESPONSE_STATUS_CODE] = call.status;
      if (call.error !== undefined) attrs[ATTR_ERROR_TYPE] = call.error;
      else if (call.status >= 500) attrs[ATTR_ERROR_TYPE] = String(call.status);
      if (call.serverAddress !== undefined) attrs[ATTR_SERVER_ADDRESS] = call.serverAddress;
      if (call.serverPort !== undefined) attrs[ATTR_SERVER_PORT] = call.serverPort;
      if (clientAttrCache.size < 10_000) clientAttrCache.set(key, attrs);
    }
    return attrs;
  }

  function spanContextOf(ex: Exchange): Context {
    ex.spanCtx = otelTrace.setSpan(otelContext.active(), ex.span);
    return ex.spanCtx;
  }

  const fastify = ((instance: FastifyLikeInstance, _opts: unknown, done: () => void) => {
    instance.addHook('onRequest', (request, reply, next) => {
      begin(request.raw, reply.raw);
      next();
    });
    done();
  }) as FastifyPlugin;
  // Like fastify-plugin: do not encapsulate, so the hook sees every route of the instance.
  fastify[Symbol.for('skip-override')] = true;
  fastify[Symbol.for('fastify.display-name')] = INSTRUMENTATION_NAME;

  return {
    wrap(handler: RequestListener): RequestListener {
      return function fhirAuditWrapped(req: IncomingMessage, res: ServerResponse): void {
        const ex = begin(req, res);
        if (ex === undefined || !activeContext) handler(req, res);
        else otelContext.with(spanContextOf(ex), handler, undefined, req, res);
      } as RequestListener;
    },
    express(): ConnectMiddleware {
      return (req, res, next) => {
        const ex = begin(req, res);
        if (ex === undefined || !activeContext) next();
        else otelContext.with(spanContextOf(ex), next);
      };
    },
    fastify,
    async ready(): Promise<void> {
      await opening;
      if (openError !== undefined) throw openError;
    },
    async flush(): Promise<void> {
      drainDeferred();
      await opening;
      await spool?.flush();
    },
    async drain(): Promise<void> {
      drainDeferred();
      await opening;
      if (spool === undefined) throw openError;
      await spool.flush();
      if (shipper === undefined) {
        throw new FhirAuditError(AUDIT_ERROR_CODES.invalidOption, 'drain() needs a sinkUrl', { status: 500 });
      }
      await shipper.drained();
    },
    stats(): FhirAuditStats {
      return {
        spool: spool?.stats(),
        shipper: shipper === undefined ? undefined : { ...shipper.stats },
        auditFailures: auditFailures + (spool?.stats().dropped ?? 0),
        truncatedBodies,
      };
    },
    async shutdown(): Promise<void> {
      drainDeferred();
      await opening.catch(() => undefined);
      await spool?.flush().catch(() => undefined);
      await shipper?.stop();
      await spool?.close();
    },
  };
}

function otelDiagWarn(error: FhirAuditError): void {
  // diag is silent unless the host enabled it; the message carries a code and no PHI.
  diag.warn(`${error.code}: ${error.message}`);
}
