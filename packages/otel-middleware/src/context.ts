/**
 * Per-request context that the host service (the gateway, or a partner's own FHIR service) hands to
 * the middleware: who is calling, which tenant the request was routed to, and how the upstream hop
 * went. The middleware reads it when the response ends to build spans, metrics and audit records.
 *
 * Kept in a WeakMap keyed by the request object, so nothing is added to the host's objects and a
 * request that the middleware does not wrap costs one map lookup.
 */
import type { IncomingMessage } from 'node:http';
import type { FhirVersion } from '@fhirwatch/contract';

/** Outcome of the host's call to the provider FHIR server (one hop; several calls are summed). */
export interface UpstreamCall {
  /** Seconds, as in `http.client.request.duration`. */
  durationS: number;
  /** HTTP status from the provider; 0 when none arrived. */
  status: number;
  /** Set when the call failed without a status. */
  error?: 'timeout' | 'unreachable' | 'aborted';
  /** `server.address` of the provider (host only: no path, no query). */
  serverAddress?: string;
  serverPort?: number;
  /**
   * When the call ended, ms since the epoch with sub-ms precision (`performance.timeOrigin + performance.now()`);
   * `recordUpstream` fills it in when absent, so the middleware can back-date the client span.
   */
  endedAtMs?: number;
}

export interface RequestAuditContext {
  /** Tenant named by the caller's token scope (or, with `tenantClaimed`, by the request path). */
  tenantId?: string;
  /**
   * true: `tenantId` is only what the request claimed (the tenant named by the path of a request whose
   * token was missing or invalid); false or absent: verified from the token. Recorded as such.
   */
  tenantClaimed?: boolean;
  /** Tenant whose provider the request was routed to. */
  routedTenantId?: string;
  clientId?: string;
  fhirVersion?: FhirVersion;
  /** Trusted user context, when the host has one (see the middleware's user extractor). */
  userId?: string;
  userName?: string;
  /** Route template chosen by the host, when it knows better than the classifier (`/token`). */
  route?: string;
  upstream?: UpstreamCall[];
}

const contexts = new WeakMap<IncomingMessage, RequestAuditContext>();

/** Merge fields into the request's context. Safe to call any number of times, and on unwrapped requests. */
export function setRequestContext(req: IncomingMessage, fields: RequestAuditContext): void {
  const current = contexts.get(req);
  if (current === undefined) contexts.set(req, { ...fields });
  else Object.assign(current, fields);
}

/** The request's context, or undefined when the host set none. */
export function getRequestContext(req: IncomingMessage): RequestAuditContext | undefined {
  return contexts.get(req);
}

/** Record one call to the provider FHIR server for this request. */
export function recordUpstream(req: IncomingMessage, upstreamCall: UpstreamCall): void {
  const call =
    upstreamCall.endedAtMs === undefined
      ? { ...upstreamCall, endedAtMs: performance.timeOrigin + performance.now() }
      : upstreamCall;
  const current = contexts.get(req);
  if (current === undefined) contexts.set(req, { upstream: [call] });
  else if (current.upstream === undefined) current.upstream = [call];
  else current.upstream.push(call);
}
