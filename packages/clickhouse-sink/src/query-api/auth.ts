/**
 * Who may do what on the sink (and the console): the design is written down in the sink README,
 * "Authentication and authorization". In short:
 *
 * - **read** (`/api/…`): a query credential, one per officer with a name (`FHIRWATCH_QUERY_TOKENS`, `name:token`
 *   pairs), or the single `FHIRWATCH_QUERY_TOKEN` (recorded as the officer `query-token`). Without any, only a
 *   loopback bind is allowed, and then only same-origin requests with a loopback Host (request-guard.ts).
 * - **ingest** (`/v1/…`): an ingest credential per writer (`FHIRWATCH_INGEST_TOKENS`), never a query token; a
 *   writer's credential only carries records whose `recorded_by` is its name. Required off loopback and on any
 *   sink that has query credentials.
 *
 * Tokens are compared in constant time (sha256 digests of both sides).
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

/** A named bearer credential: an officer (query) or a writer (ingest). */
export interface Credential {
  readonly name: string;
  readonly token: string;
}

/** The name the single `FHIRWATCH_QUERY_TOKEN` is recorded under (an officer whose name is not known). */
export const SHARED_QUERY_TOKEN_NAME = 'query-token';

const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._@-]{0,99}$/u;

/**
 * Parse `name:token` pairs separated by commas or new lines (blank lines and `#` comments ignored), as
 * `FHIRWATCH_QUERY_TOKENS` / `FHIRWATCH_INGEST_TOKENS` or a tokens file hold them. `source` names the variable or
 * file in errors; a token is never quoted back.
 */
export function parseCredentials(text: string, source: string): Credential[] {
  const out: Credential[] = [];
  const entries = text
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '' && !entry.startsWith('#'));
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const name = colon < 0 ? '' : entry.slice(0, colon).trim();
    const token = colon < 0 ? '' : entry.slice(colon + 1).trim();
    if (!NAME.test(name)) {
      throw new SinkError(
        'FW_SINK_OPTIONS',
        `${source}: entry ${index + 1} must be name:token (a name of letters, digits, space . _ @ -)`,
      );
    }
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new SinkError(
        'FW_SINK_OPTIONS',
        `${source}: the token of '${name}' must be at least ${MIN_TOKEN_LENGTH} characters`,
      );
    }
    out.push({ name, token });
  }
  return out;
}

function assertDistinct(credentials: readonly Credential[], what: string): void {
  const names = new Set<string>();
  const tokens = new Set<string>();
  for (const { name, token } of credentials) {
    if (names.has(name)) throw new SinkError('FW_SINK_OPTIONS', `two ${what} credentials are named '${name}'`);
    if (tokens.has(token)) throw new SinkError('FW_SINK_OPTIONS', `two ${what} credentials share one token`);
    names.add(name);
    tokens.add(token);
  }
}

/** The officers' credentials: named tokens plus the single shared token (labelled `query-token`). */
export function queryCredentials(token: string | undefined, tokens: readonly Credential[] = []): Credential[] {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new SinkError('FW_SINK_OPTIONS', `the query API token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  const all = [...tokens, ...(token === undefined ? [] : [{ name: SHARED_QUERY_TOKEN_NAME, token }])];
  assertDistinct(all, 'query');
  return all;
}

/** Throws FW_SINK_OPTIONS when the query API would be reachable off-host without a token. */
export function assertQueryApiBind(host: string, token: string | undefined, tokens: readonly Credential[] = []): void {
  const credentials = queryCredentials(token, tokens);
  if (!isLoopbackHost(host) && credentials.length === 0) {
    throw new SinkError(
      'FW_SINK_OPTIONS',
      `the query API and console expose PHI: binding ${host} (not loopback) needs a bearer token (FHIRWATCH_QUERY_TOKEN or FHIRWATCH_QUERY_TOKENS), or bind 127.0.0.1`,
    );
  }
}

/**
 * Throws FW_SINK_OPTIONS when ingest would be open where it must not be: off loopback, or on a sink whose reads
 * need a credential (a forged record would be served to the officers). An ingest token may not be a query token.
 */
export function assertIngestBind(host: string, ingest: readonly Credential[], query: readonly Credential[]): void {
  assertDistinct(ingest, 'ingest');
  const queryTokens = new Set(query.map((c) => c.token));
  if (ingest.some((c) => queryTokens.has(c.token))) {
    throw new SinkError('FW_SINK_OPTIONS', 'an ingest token must not also be a query token');
  }
  if (ingest.length > 0) return;
  if (!isLoopbackHost(host)) {
    throw new SinkError(
      'FW_SINK_OPTIONS',
      `ingest (POST /v1/audit, OTLP) on ${host} (not loopback) needs writer credentials: FHIRWATCH_INGEST_TOKENS=<writer>:<token>,…`,
    );
  }
  if (query.length > 0) {
    throw new SinkError(
      'FW_SINK_OPTIONS',
      'this sink requires a query token, so ingest needs writer credentials too (FHIRWATCH_INGEST_TOKENS=<writer>:<token>,…); otherwise anyone could plant records the officers read',
    );
  }
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The credential presented as `Authorization: Bearer <token>`, or undefined. */
export function matchCredential(
  authorization: string | undefined,
  credentials: readonly Credential[],
): Credential | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (match === null) return undefined;
  const presented = digest(match[1] as string);
  let found: Credential | undefined;
  // every credential is compared, so the time taken does not say which one matched
  for (const credential of credentials) {
    if (timingSafeEqual(presented, digest(credential.token))) found = credential;
  }
  return found;
}

/** Who made the request, as recorded in audit_query_log: `token:<officer name>` or `loopback`. */
export interface Principal {
  principal: string;
  /** `process`: the query core run in the reader's own process (the CLI on a store it opened; in-process.ts). */
  auth: 'loopback' | 'token' | 'process';
  /** The officer's name from a named token; undefined for loopback and the shared token. */
  officer?: string;
}

export function authenticate(authorization: string | undefined, credentials: readonly Credential[]): Principal {
  if (credentials.length === 0) return { principal: 'loopback', auth: 'loopback' };
  const credential = matchCredential(authorization, credentials);
  if (credential === undefined) throw new SinkError('FW_SINK_UNAUTHORIZED', 'a valid bearer token is required');
  return {
    principal: `token:${credential.name}`,
    auth: 'token',
    ...(credential.name === SHARED_QUERY_TOKEN_NAME ? {} : { officer: credential.name }),
  };
}

/** The ingest credential of a `/v1/…` request, or 401 (none configured: undefined, ingest is open). */
export function authenticateWriter(
  authorization: string | undefined,
  ingest: readonly Credential[],
): Credential | undefined {
  if (ingest.length === 0) return undefined;
  const credential = matchCredential(authorization, ingest);
  if (credential === undefined) {
    throw new SinkError('FW_SINK_UNAUTHORIZED', 'ingest needs a writer credential (Authorization: Bearer <token>)');
  }
  return credential;
}
