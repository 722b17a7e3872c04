/**
 * The audit pipeline of the middleware: classify the exchange (@fhirwatch/contract), read the disclosed
 * patients from the captured response (json-scan.ts), build ONE request record per HTTP request
 * (records.ts) and queue it to the durable spool (spool.ts), which chains and writes it; the shipper
 * (shipper.ts) sends sealed segments to the sink. Strict mode returns the spool's promise (the response
 * waits for it); batched mode never waits. Whether an audited response may leave when the spool fails is
 * decided by the spool health (spool-health.ts, `onSpoolFailure`).
 */
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import {
  type Classification,
  type ClassifierRequest,
  classifyRequest,
  expansionSize,
  type FhirVersion,
  type UnchainedAuditRequest,
} from '@fhirwatch/contract';
import { trace as otelTrace, ROOT_CONTEXT } from '@opentelemetry/api';
import { type Logger, SeverityNumber } from '@opentelemetry/api-logs';
import { getRequestContext, type RequestAuditContext } from './context.ts';
import { AUDIT_ERROR_CODES, FhirAuditError } from './errors.ts';
import { type Exchange, headerValue, SCAN_BUFFERED, SCAN_NONE, SCAN_STREAMING } from './exchange.ts';
import { type AccessFacts, buildAuditRequest, failedBatchRequest, needsReturnedPatients } from './records.ts';
import {
  ATTR_CLIENT_ID,
  ATTR_FHIR_AUDIT_EVENT,
  ATTR_FHIR_INTERACTION,
  ATTR_FHIR_RESOURCE_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_TENANT_ID,
} from './semconv.ts';
import { AuditShipper } from './shipper.ts';
import { AuditSpool, type SpoolStats } from './spool.ts';
import { SpoolHealth, type SpoolHealthSnapshot } from './spool-health.ts';
import { type ResourceDetail, StreamScanner, scanBody } from './stream-scan.ts';
import type { FhirAuditOptions, UserExtractor } from './types.ts';

export interface AuditPipeline {
  /** Classify a request (path, method and headers of the exchange; the body for a POST). */
  classify(ex: Exchange, body: Buffer | undefined, version: FhirVersion): Classification | undefined;
  /** Classify, build and spool the exchange's request record. Strict mode returns the spool promise. */
  audit(ex: Exchange, status: number): Promise<void> | undefined;
  /** At the first response chunk: how the body is read (scanned as it passes, kept whole, or not at all). */
  startScan(ex: Exchange): void;
  /** Count an access whose record could not be spooled: `refused` (503 answered) or served unaudited. */
  failed(refused: boolean): void;
  /** The spool-health gate: may an audited response leave now? (spool-health.ts) */
  admit(): boolean;
  /** The spool's health (state, refused/dropped counts, last write) for /readyz. */
  health(): SpoolHealthSnapshot;
  /** When the sink last acknowledged a segment (ms since the epoch). */
  lastShipMs(): number | undefined;
  /** Probe the spool's file system (a readiness check); the outcome updates the spool health. */
  probe(): Promise<void>;
  /** Resolves when the spool is open (rejects with FW_AUDIT_SPOOL_LOCKED / an I/O error). */
  ready(): Promise<void>;
  flush(): Promise<void>;
  drain(): Promise<void>;
  spoolStats(): SpoolStats | undefined;
  shipperStats(): AuditShipper['stats'] | undefined;
  /** Records that could not be spooled, cumulative: refused + dropped. */
  failures(): number;
  truncatedBodies(): number;
  shutdown(): Promise<void>;
}

function defaultUserExtractor(trusted: boolean): UserExtractor | undefined {
  if (!trusted) return undefined;
  return (req) => {
    const userId = headerValue(req.headers['x-fhirwatch-user-id']);
    const userName = headerValue(req.headers['x-fhirwatch-user-name']);
    return userId === '' && userName === '' ? undefined : { userId, userName };
  };
}

export function createAuditPipeline(
  options: FhirAuditOptions,
  hooks: {
    defaultVersion: FhirVersion;
    onError: (error: FhirAuditError) => void;
    onShipped: (lagS: number) => void;
    logger: () => Logger | undefined;
  },
): AuditPipeline {
  const strict = (options.mode ?? 'batched') === 'strict';
  const defaultVersion = hooks.defaultVersion;
  const maxResBytes = options.maxResponseBodyBytes ?? 16 * 1024 * 1024;
  const userExtractor = options.userExtractor ?? defaultUserExtractor(options.trustedUserHeaders === true);
  const disclosureMode = options.disclosure ?? 'spec';
  const returnedMode = disclosureMode === 'returned';
  const onError = hooks.onError;
  let spool: AuditSpool | undefined;
  let shipper: AuditShipper | undefined;
  let openError: unknown;
  let truncatedBodies = 0;
  let lastShipMs: number | undefined;
  const spoolDir = options.spoolDir ?? join(process.cwd(), '.fhirwatch', 'audit-spool');
  const policy = options.onSpoolFailure ?? 'refuse';
  if (policy !== 'refuse' && policy !== 'serve') {
    throw new FhirAuditError(AUDIT_ERROR_CODES.invalidOption, 'onSpoolFailure must be "refuse" or "serve"', {
      status: 500,
    });
  }
  const health = new SpoolHealth({
    policy,
    dir: spoolDir,
    ...(options.spoolHealthLog === undefined ? {} : { log: options.spoolHealthLog }),
    overCap: () => spool?.overCap() ?? false,
  });
  const onShipped = (lagS: number): void => {
    lastShipMs = Date.now();
    hooks.onShipped(lagS);
  };
  const opening = AuditSpool.open({
    dir: spoolDir,
    health,
    keepOverCap: policy === 'refuse',
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
          headers: {
            ...options.sinkHeaders,
            ...(options.ingestToken === undefined ? {} : { authorization: `Bearer ${options.ingestToken}` }),
          },
          onError,
          onShipped,
        });
        // On start, whatever an earlier run left in the spool is shipped first.
        shipper.start();
      }
    },
    (error: unknown) => {
      openError = error;
      health.openFailed(error);
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
      if (strict) return Promise.reject(error);
      health.droppedRecords(records.length);
      return undefined;
    }
    const pending = opening.then(() => {
      if (spool === undefined) {
        throw new FhirAuditError(AUDIT_ERROR_CODES.spoolUnwritable, 'audit spool unavailable', { cause: openError });
      }
      return spool.append(records, strict);
    });
    if (strict) return pending;
    pending.catch(() => {
      health.droppedRecords(records.length);
    });
    return undefined;
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

  function finalClassification(ex: Exchange, version: FhirVersion): Classification | undefined {
    if (ex.method === 'GET' || ex.reqChunks === undefined) {
      return version === ex.preVersion || ex.pre === undefined ? ex.pre : classify(ex, undefined, version);
    }
    const body =
      ex.reqChunks.length === 1 ? ex.reqChunks[0] : ex.reqTruncated ? undefined : Buffer.concat(ex.reqChunks);
    return classify(ex, body, version);
  }

  /** What the scanner keeps of each returned resource (see stream-scan.ts). */
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
   * The first chunk of a captured response: classify now (the request is read by then) and scan the
   * body as it passes (stream-scan.ts), for exactly what the records need. A body that is compressed,
   * or whose request body is not all read yet (the classification needs it), is kept whole and scanned
   * at the end instead; a body nothing in the record depends on (not clinical) is not scanned at all.
   */
  function startScan(ex: Exchange): void {
    const encoding = ex.encoding ?? ex.res.getHeader('content-encoding');
    if ((typeof encoding === 'string' && encoding !== 'identity') || (ex.reqChunks !== undefined && !ex.req.complete)) {
      ex.resScan = SCAN_BUFFERED;
      ex.resBuffered = [];
      return;
    }
    const version = getRequestContext(ex.req)?.fhirVersion ?? defaultVersion;
    const cls = finalClassification(ex, version);
    ex.cls = cls;
    ex.clsFinal = true;
    ex.clsVersion = version;
    if (cls === undefined || cls.kind !== 'clinical') {
      ex.resScan = SCAN_NONE;
      return;
    }
    ex.resScan = SCAN_STREAMING;
    ex.scan = new StreamScanner(cls.batch, detailFor(cls));
  }

  /** The response body's projection for disclosure (undefined: not JSON, not decodable, or not captured). */
  function bodyOf(ex: Exchange, cls: Classification): unknown {
    if (ex.resTruncated) return undefined;
    if (ex.resScan === SCAN_STREAMING) {
      const scan = ex.scan as StreamScanner;
      ex.scan = undefined;
      return scan.result();
    }
    const chunks = ex.resBuffered;
    ex.resBuffered = undefined;
    if (ex.resScan !== SCAN_BUFFERED || chunks === undefined || chunks.length === 0) return undefined;
    let buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    const encoding = ex.encoding ?? ex.res.getHeader('content-encoding');
    if (typeof encoding === 'string' && encoding !== 'identity') {
      const opts = { maxOutputLength: maxResBytes };
      if (encoding === 'gzip') buf = gunzipSync(buf, opts);
      else if (encoding === 'deflate') buf = inflateSync(buf, opts);
      else if (encoding === 'br') buf = brotliDecompressSync(buf, opts);
      else return undefined;
    }
    return scanBody(buf, cls.batch, detailFor(cls));
  }

  /** Classify, build and spool the audit request record of an exchange. Strict mode returns the spool promise. */
  function finishAudit(ex: Exchange, status: number): Promise<void> | undefined {
    const ctx = getRequestContext(ex.req);
    const version = ctx?.fhirVersion ?? defaultVersion;
    const cls = !ex.auditable
      ? ex.pre
      : ex.clsFinal && ex.clsVersion === version
        ? ex.cls
        : finalClassification(ex, version);
    ex.cls = cls;
    ex.clsFinal = true;
    ex.clsVersion = version;
    if (cls === undefined || status === 0) return undefined;
    const failedBatch = cls.kind !== 'clinical' && isFailedBatch(ex, cls, status);
    if (cls.kind !== 'clinical' && !failedBatch) return undefined;
    let body: unknown;
    if (!ex.readOnly && !failedBatch) {
      try {
        body = bodyOf(ex, cls);
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
    if (hooks.logger() !== undefined) emitAuditLogs(ex, request);
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
      (hooks.logger() as Logger).emit({
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

  return {
    classify,
    audit: finishAudit,
    startScan,
    failed(refused) {
      if (refused) health.refusedOne();
      else health.droppedRecords(1);
    },
    admit: () => health.admit(),
    health: () => health.snapshot(),
    lastShipMs: () => lastShipMs,
    async probe() {
      await opening.catch(() => undefined);
      await spool?.probe();
    },
    async ready() {
      await opening;
      if (openError !== undefined) throw openError;
    },
    async flush() {
      await opening;
      await spool?.flush();
    },
    async drain() {
      await opening;
      if (spool === undefined) throw openError;
      await spool.flush();
      if (shipper === undefined) {
        throw new FhirAuditError(AUDIT_ERROR_CODES.invalidOption, 'drain() needs a sinkUrl', { status: 500 });
      }
      await shipper.drained();
    },
    spoolStats: () => spool?.stats(),
    shipperStats: () => (shipper === undefined ? undefined : { ...shipper.stats }),
    failures: () => {
      const h = health.snapshot();
      return h.refused + h.dropped;
    },
    truncatedBodies: () => truncatedBodies,
    async shutdown() {
      await opening.catch(() => undefined);
      await spool?.flush().catch(() => undefined);
      await shipper?.stop();
      await spool?.close();
      health.close();
    },
  };
}
