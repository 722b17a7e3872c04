/**
 * `fhirAudit(options)`: per request one server span, the HTTP duration metrics and ONE audit request record
 * (audit-events.md, expanded into per-patient rows by the sink), for a node:http handler (`wrap`),
 * Express/Connect (`express()`) and Fastify (`fastify`). The three adapters share `begin(req, res)`, which
 * starts an exchange (exchange.ts) and hands it to the middleware's four parts:
 *
 * - response capture (capture.ts): tees the request body and tees (batched) or holds (strict) the response;
 * - the audit pipeline (audit-pipeline.ts): classification, disclosure, the request record, spool, shipper;
 * - request telemetry (request-telemetry.ts): spans, duration metrics, pipeline-health metrics;
 * - here, the exchange's life: begin, the deferred queue of batched mode, finish, the public API.
 *
 * Nothing the middleware does can fail the host request: every step is guarded and a failure costs only
 * telemetry, except in strict mode, where failing to spool fails the request closed (503 OperationOutcome)
 * by design. No auto-instrumentation: spans are created here (server span) and from `recordUpstream`
 * (client span per upstream call, back-dated), which is what keeps the overhead low.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { DEFAULT_FHIR_VERSION, type FhirVersion, otherFhirVersions } from '@fhirwatch/contract';
import { diag, context as otelContext } from '@opentelemetry/api';
import { createAuditPipeline } from './audit-pipeline.ts';
import { type CaptureHooks, hookResponse, teeRequest } from './capture.ts';
import { getRequestContext } from './context.ts';
import { AUDIT_ERROR_CODES, type FhirAuditError } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { createRequestTelemetry } from './request-telemetry.ts';
import { INSTRUMENTATION_NAME } from './semconv.ts';
import type { AuditShipper } from './shipper.ts';
import type { SpoolStats } from './spool.ts';
import type { SpoolHealthSnapshot } from './spool-health.ts';
import type { FhirAuditOptions } from './types.ts';

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
  /** Records that could not be spooled: refused (503 answered) + dropped (served unaudited or lost at exit). */
  auditFailures: number;
  /** Responses whose body exceeded `maxResponseBodyBytes` (disclosure unknown). */
  truncatedBodies: number;
}

/** The audit pipeline's health, for a readiness probe (no PHI). */
export interface FhirAuditHealth extends SpoolHealthSnapshot {
  /** Whether the spool is open (false before `ready()` settles or when it could not be opened). */
  open: boolean;
  /** Records spooled or queued and not yet acknowledged by the sink. */
  depth: number;
  /** Age of the oldest record waiting (s), or undefined when nothing waits. */
  oldestRecordAgeS: number | undefined;
  /** When the sink last acknowledged a segment (ms since the epoch), if ever in this process. */
  lastShipMs: number | undefined;
  /** Whether records are shipped (a `sinkUrl` is configured). */
  shipping: boolean;
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
  /** Spool health and shipping progress (what a /readyz answers from). */
  health(): FhirAuditHealth;
  /** Probe the spool's file system with a small write first (a full or read-only disk is seen without traffic). */
  checkHealth(): Promise<FhirAuditHealth>;
  /** Flush, stop shipping (unshipped segments stay on disk for the next start), release the spool. */
  shutdown(): Promise<void>;
}

const CLINICAL_METHODS = new Set(['GET', 'POST']);
const TENANT_SEGMENT = /^\/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?:[/?]|$)/;

/** Batched mode: deferred exchanges processed per event-loop turn before yielding. */
const DEFER_CHUNK = 64;
/** Above this many deferred exchanges the work is done inline (keeps memory and the window bounded). */
const MAX_DEFERRED = 4096;

/** Build the middleware. The spool opens in the background (`ready()`); requests before that are queued. */
export function fhirAudit(options: FhirAuditOptions = {}): FhirAudit {
  const strict = (options.mode ?? 'batched') === 'strict';
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const defaultVersion: FhirVersion = options.fhirVersion ?? DEFAULT_FHIR_VERSION;
  const maxResBytes = options.maxResponseBodyBytes ?? 16 * 1024 * 1024;
  const maxReqBytes = options.maxRequestBodyBytes ?? 4 * 1024 * 1024;
  const activeContext = options.activeContext ?? true;
  const stripTenant = options.tenantPathSegment ?? true;
  const onError = (error: FhirAuditError): void => {
    try {
      if (options.onError !== undefined) options.onError(error);
      else otelDiagWarn(error);
    } catch {
      // hooks never break anything
    }
  };
  // the pipeline-health gauges read the pipeline (created next) only when metrics are collected
  const telemetry = createRequestTelemetry(options, defaultVersion, {
    spool: () => pipeline.spoolStats(),
    shipper: () => pipeline.shipperStats(),
    refused: () => pipeline.health().refused,
    dropped: () => pipeline.health().dropped,
  });
  const pipeline = createAuditPipeline(options, {
    defaultVersion,
    onError,
    onShipped: (lagS) => telemetry.shipLag(lagS),
    logger: () => telemetry.logger(),
  });
  const captureHooks: CaptureHooks = {
    strict,
    maxResBytes,
    defaultVersion,
    ended: (ex) => defer(ex),
    finished: (ex, status, audited) => safeFinish(ex, status, audited),
    audit: (ex, status) => pipeline.audit(ex, status),
    auditFailed: (refused) => pipeline.failed(refused),
    refuse: (options.onSpoolFailure ?? 'refuse') === 'refuse',
    admit: () => pipeline.admit(),
    refusalCode: () => pipeline.health().code ?? AUDIT_ERROR_CODES.spoolUnwritable,
    startScan: (ex) => pipeline.startScan(ex),
  };

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
      const method = req.method ?? 'GET';
      const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
      const path = relativePath(url);
      const span = telemetry.startSpan(req, method);
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
        resEncodings: undefined,
        resScan: 0,
        scan: undefined,
        resBuffered: undefined,
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
        clsVersion: undefined,
        records: 0,
        endStatus: 0,
      };
      if (CLINICAL_METHODS.has(method)) {
        // The host usually learns the FHIR version (from the tenant) after this point; a resource
        // type that is clinical in the other version only (MedicationOrder vs MedicationRequest)
        // must still be captured, so an `unknown` answer is re-asked for the other version.
        const known = getRequestContext(req)?.fhirVersion;
        const version = known ?? defaultVersion;
        ex.pre = pipeline.classify(ex, undefined, version);
        ex.preVersion = version;
        let kind = ex.pre?.kind;
        if (kind === 'unknown' && known === undefined && method === 'GET') {
          for (const other of otherFhirVersions(version)) {
            if (pipeline.classify(ex, undefined, other)?.kind === 'clinical') {
              kind = 'clinical';
              break;
            }
          }
        }
        ex.auditable = kind === 'clinical' || (method === 'POST' && kind !== 'not-audited');
        // A read discloses the resource it names: its records need no response body, so a batched
        // read is not captured at all (half of Patients-app traffic; measured in bench/).
        ex.readOnly = method === 'GET' && ex.pre?.batch === false && ex.pre.interactions[0]?.interaction === 'read';
      }
      if (ex.auditable && method === 'POST') teeRequest(ex, maxReqBytes);
      hookResponse(ex, captureHooks);
      return ex;
    } catch {
      return undefined;
    }
  }

  /** Audit (batched mode) and telemetry after the response. `audited` = the strict path already spooled. */
  function safeFinish(ex: Exchange, status: number, audited = false): void {
    try {
      if (!audited) {
        try {
          const pending = pipeline.audit(ex, status);
          // Batched mode never waits; a failure is counted, the host request is unaffected.
          pending?.catch(() => {
            pipeline.failed(false);
          });
        } catch {
          pipeline.failed(false);
        }
      }
      telemetry.record(ex, status);
    } catch {
      // telemetry must never break the host
    }
  }

  /** Spool health and shipping progress (no PHI). */
  function health(): FhirAuditHealth {
    const spool = pipeline.spoolStats();
    const oldest = spool?.oldestUnshippedMs;
    return {
      ...pipeline.health(),
      open: spool !== undefined,
      depth: spool === undefined ? 0 : spool.unshipped + spool.queued,
      oldestRecordAgeS: oldest === undefined ? undefined : Math.max(0, (Date.now() - oldest) / 1000),
      lastShipMs: pipeline.lastShipMs(),
      shipping: options.sinkUrl !== undefined,
    };
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
        else otelContext.with(telemetry.spanContextOf(ex), handler, undefined, req, res);
      } as RequestListener;
    },
    express(): ConnectMiddleware {
      return (req, res, next) => {
        const ex = begin(req, res);
        if (ex === undefined || !activeContext) next();
        else otelContext.with(telemetry.spanContextOf(ex), next);
      };
    },
    fastify,
    ready: () => pipeline.ready(),
    async flush(): Promise<void> {
      drainDeferred();
      await pipeline.flush();
    },
    async drain(): Promise<void> {
      drainDeferred();
      await pipeline.drain();
    },
    stats(): FhirAuditStats {
      return {
        spool: pipeline.spoolStats(),
        shipper: pipeline.shipperStats(),
        auditFailures: pipeline.failures(),
        truncatedBodies: pipeline.truncatedBodies(),
      };
    },
    async checkHealth(): Promise<FhirAuditHealth> {
      await pipeline.probe();
      return health();
    },
    health,
    async shutdown(): Promise<void> {
      drainDeferred();
      await pipeline.shutdown();
    },
  };
}

function otelDiagWarn(error: FhirAuditError): void {
  // diag is silent unless the host enabled it; the message carries a code and no PHI.
  diag.warn(`${error.code}: ${error.message}`);
}
