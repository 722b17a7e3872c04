/**
 * Request telemetry of the middleware: per request one server span (named by route template, FHIR and HTTP
 * attributes, never PHI), the HTTP server duration histogram, a back-dated client span and client duration
 * point per upstream call the host reported (`recordUpstream`), and the pipeline-health metrics. No
 * auto-instrumentation; metric attribute objects and span names are interned (bounded maps).
 */
import type { IncomingMessage } from 'node:http';
import { type FhirVersion, METRIC_UNITS } from '@fhirwatch/contract';
import {
  type Attributes,
  type Context,
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
import { type Logger, logs as otelLogs } from '@opentelemetry/api-logs';
import { getRequestContext, type RequestAuditContext } from './context.ts';
import type { Exchange } from './exchange.ts';
import { type PipelineSources, registerPipelineMetrics } from './pipeline-metrics.ts';
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
import type { FhirAuditOptions } from './types.ts';

export interface RequestTelemetry {
  /** The server span of a new exchange (parent from `traceparent`). */
  startSpan(req: IncomingMessage, method: string): Span;
  /** The context with the exchange's server span (the handler runs in it; parent of the client spans). */
  spanContextOf(ex: Exchange): Context;
  /** Span attributes, status and end, the server duration point and the upstream client spans. */
  record(ex: Exchange, status: number): void;
  /** The OTel logger for audit log records (`emitLogs`), undefined otherwise. */
  logger(): Logger | undefined;
  /** Record one shipped segment's lag (pipeline health). */
  shipLag(seconds: number): void;
}

/** Telemetry handles are resolved on first use, so that `setupTelemetry` may run after `fhirAudit`. */
export function createRequestTelemetry(
  options: FhirAuditOptions,
  defaultVersion: FhirVersion,
  pipeline: PipelineSources,
): RequestTelemetry {
  const emitLogs = options.emitLogs === true;
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
      unit: METRIC_UNITS.httpServerDuration,
      description: 'Duration of HTTP server requests.',
      advice: { explicitBucketBoundaries: [...HTTP_DURATION_BUCKETS_S] },
    });
    clientDuration = meter.createHistogram(METRIC_HTTP_CLIENT_REQUEST_DURATION, {
      unit: METRIC_UNITS.httpClientDuration,
      description: 'Duration of HTTP client requests (the upstream hop to the provider FHIR server).',
      advice: { explicitBucketBoundaries: [...HTTP_DURATION_BUCKETS_S] },
    });
    shipLag = registerPipelineMetrics(meter, pipeline);
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

  return {
    startSpan(req, method) {
      if (tracer === undefined) instruments();
      const parent =
        req.headers.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, req.headers);
      return (tracer as Tracer).startSpan(method, { kind: SpanKind.SERVER }, parent);
    },
    spanContextOf,
    record: recordTelemetry,
    logger: () => logger,
    shipLag(seconds) {
      if (tracer === undefined) instruments();
      shipLag?.record(seconds);
    },
  };
}
