/**
 * Access control of the query API: the API and the console expose PHI (who saw which patient). A loopback bind
 * needs no login; any other bind needs a bearer token and the sink refuses to start without one. When a token
 * is configured, every API request must carry it (`Authorization: Bearer <token>`), loopback or not.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { SinkError } from '../errors.ts';

/** 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Minimum token length: a guessable token on a non-loopback bind is no protection. */
export const MIN_TOKEN_LENGTH = 16;

/** Throws FW_SINK_OPTIONS when the query API would be reachable off-host without a token. */
export function assertQueryApiBind(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new SinkError('FW_SINK_OPTIONS', `the query API token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  if (!isLoopbackHost(host) && token === undefined) {
    throw new SinkError(
      'FW_SINK_OPTIONS',
      `the query API and console expose PHI: binding ${host} (not loopback) needs a bearer token (FHIRWATCH_QUERY_TOKEN), or bind 127.0.0.1`,
    );
  }
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Who made the request, as recorded in audit_query_log: `token:<sha256 prefix>` or `loopback`. */
export interface Principal {
  principal: string;
  auth: 'loopback' | 'token';
}

export function authenticate(authorization: string | undefined, token: string | undefined): Principal {
  if (token === undefined) return { principal: 'loopback', auth: 'loopback' };
  const header = authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null || !timingSafeEqual(digest(match[1] as string), digest(token))) {
    throw new SinkError('FW_SINK_UNAUTHORIZED', 'a valid bearer token is required');
  }
  return { principal: `token:${digest(token).toString('hex').slice(0, 12)}`, auth: 'token' };
}
