/**
 * `GET /healthz` (alive: the process answers) and `GET /readyz` (can take traffic: the audit spool takes
 * records) of the gateway, answered before the audit middleware and the FHIR routes. Unauthenticated by design
 * (orchestrators probe without credentials) and minimal: states, codes, counts and times, never a path, a
 * tenant or anything from a request. Not ready → 503 naming the failing check in `failing`.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { FhirAudit } from '@fhirwatch/otel-middleware';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

function send(res: ServerResponse, status: number, body: unknown, head: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(status === 503 ? { 'retry-after': '1' } : {}),
  });
  res.end(head ? undefined : text);
}

/**
 * The readiness answer: `auditSpool` is the one check (`off` when the audit is off); the spool's file system
 * is probed with a small write first, so a full or read-only disk is seen before a request fails.
 */
export async function readiness(
  audit: FhirAudit | undefined,
): Promise<{ ready: boolean; body: Record<string, unknown> }> {
  if (audit === undefined) {
    return { ready: true, body: { status: 'ready', failing: [], checks: { auditSpool: { ok: true, state: 'off' } } } };
  }
  const h = await audit.checkHealth();
  const ok = h.open && h.state === 'ok';
  const auditSpool = {
    ok,
    state: h.open ? h.state : 'failed',
    ...(h.code === undefined ? {} : { code: h.code }),
    ...(h.errno === undefined ? {} : { errno: h.errno }),
    policy: h.policy,
    depth: h.depth,
    oldestRecordAgeS: h.oldestRecordAgeS === undefined ? null : Math.round(h.oldestRecordAgeS * 10) / 10,
    shipping: h.shipping,
    lastShipAt: iso(h.lastShipMs),
    lastWriteAt: iso(h.lastWriteOkMs),
    failedSince: iso(h.failedSinceMs),
    refused: h.refused,
    dropped: h.dropped,
  };
  return {
    ready: ok,
    body: { status: ok ? 'ready' : 'not ready', failing: ok ? [] : ['auditSpool'], checks: { auditSpool } },
  };
}

/** Serve /healthz and /readyz in front of `handler`. */
export function withHealthRoutes(handler: RequestListener, audit: FhirAudit | undefined): RequestListener {
  return function gatewayWithHealth(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    const path = url.split('?', 1)[0];
    if (path !== '/healthz' && path !== '/readyz') {
      handler(req, res);
      return;
    }
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, { error: { code: 'FW_GATEWAY_METHOD', message: 'use GET' } }, head);
      return;
    }
    if (path === '/healthz') {
      send(res, 200, { status: 'ok' }, head);
      return;
    }
    readiness(audit).then(
      ({ ready, body }) => send(res, ready ? 200 : 503, body, head),
      () => send(res, 503, { status: 'not ready', failing: ['auditSpool'], checks: {} }, head),
    );
  };
}
