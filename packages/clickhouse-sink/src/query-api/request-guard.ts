/**
 * Checks every request of the sink and the console passes before any route sees it (README, "Authentication and
 * authorization"):
 *
 * - the path is already normal: no `.`/`..` segments, no `//`, no backslash, no percent-escape (`%2e%2e`, `%2f`)
 *   — refused with 400, never resolved, so what a route (or the console's proxy) sees is what was asked;
 * - on a loopback server where something is open without a credential (the demo's zero-configuration mode): the
 *   Host must be a loopback name with this server's port (a DNS-rebinding page sends its own name: 421), and the
 *   request must not come from another site (`Origin` not this origin, `Sec-Fetch-Site` cross-site/same-site:
 *   403). A browser on another origin can then neither read nor change anything, and cannot plant records.
 */
import { SinkError } from '../errors.ts';
import { isLoopbackHost } from './auth.ts';

/** Characters a path segment may hold: RFC 3986 unreserved and sub-delims, `:` and `@`; no `%`. */
const SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;

/** The path of a request target (before `?`), checked to be normal; 400 FW_SINK_BAD_PATH otherwise. */
export function normalPath(target: string): string {
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  if (path === '/') return path;
  if (!path.startsWith('/')) throw badPath();
  const segments = path.slice(1).split('/');
  // a trailing slash is an empty last segment; any other empty segment is `//`
  if (segments.at(-1) === '') segments.pop();
  for (const segment of segments) {
    if (segment === '.' || segment === '..' || !SEGMENT.test(segment)) throw badPath();
  }
  return path;
}

const badPath = (): SinkError =>
  new SinkError('FW_SINK_BAD_PATH', 'the path must be plain: no dot segments, empty segments or percent-escapes');

export interface RequestGuardOptions {
  /** The server's bound address and port (read per request: the port is known once listening). */
  address(): { host: string; port: number } | undefined;
  /** True when some route answers without a credential (then Host and Origin are checked on a loopback bind). */
  open: boolean;
}

/** The headers the guard reads (lower-case names, first value). */
export interface GuardedRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** `host[:port]` → [host, port]; IPv6 in brackets. */
function splitHost(value: string): { host: string; port: string } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(value.trim());
  return { host: m?.[1] ?? '', port: m?.[2] ?? '' };
}

/** Throws a SinkError (400, 403, 421) when the request must not reach any route; returns its normal path. */
export function guardRequest(req: GuardedRequest, options: RequestGuardOptions): string {
  const path = normalPath(req.url ?? '/');
  const bound = options.address();
  if (!options.open || bound === undefined || !isLoopbackHost(bound.host)) return path;
  const hostHeader = first(req.headers.host) ?? '';
  const { host, port } = splitHost(hostHeader);
  if (!isLoopbackHost(host) || (port === '' ? bound.port !== 80 : Number(port) !== bound.port)) {
    throw new SinkError(
      'FW_SINK_MISDIRECTED',
      'this server answers only to its loopback address (Host 127.0.0.1, localhost or [::1] with its port)',
    );
  }
  const origin = first(req.headers.origin);
  if (origin !== undefined && origin !== `http://${hostHeader}`) {
    throw new SinkError('FW_SINK_FORBIDDEN', 'cross-origin requests are refused (no token is configured)');
  }
  const site = first(req.headers['sec-fetch-site']);
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new SinkError('FW_SINK_FORBIDDEN', 'cross-site requests are refused (no token is configured)');
  }
  return path;
}
