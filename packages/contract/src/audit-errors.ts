/**
 * The one home of the `FW_AUDIT_` prefix: every code that starts with it is defined here, once, with its
 * HTTP status and FHIR issue type, grouped by the side that raises it. The middleware (spool, shipper,
 * key file), the sink's compliance queries and the CLI's `audit` command import their group from here;
 * none of them spells the prefix or a code of another group. Codes are public and documented: a new one
 * goes into its side's group (a code in two groups does not compile).
 */
import { errorTable } from './errors.ts';

/** The prefix of every audit-trail error code (middleware, compliance queries, CLI `audit`). */
export const AUDIT_ERROR_PREFIX = 'FW_AUDIT_';

/** Raised by the middleware's audit path: the spool, the shipper to the sink, the HMAC key file. */
export const AUDIT_SPOOL_ERRORS = errorTable('audit', {
  /** The spool holds `maxSpoolBytes` already: strict mode fails the request closed. */
  FW_AUDIT_SPOOL_FULL: { status: 503, issue: 'transient' },
  /** Writing or fsyncing the spool failed: strict mode fails the request closed. */
  FW_AUDIT_SPOOL_UNWRITABLE: { status: 503, issue: 'transient' },
  /** Another live process holds the spool directory. */
  FW_AUDIT_SPOOL_LOCKED: { status: 503, issue: 'transient' },
  /** The writer was closed. */
  FW_AUDIT_CLOSED: { status: 503, issue: 'transient' },
  /** Strict mode could not hold the response body in memory (over `maxResponseBodyBytes`). */
  FW_AUDIT_BODY_TOO_LARGE: { status: 503, issue: 'too-costly' },
  /** The sink rejected a batch as invalid (400/413/415): the segment is quarantined. */
  FW_AUDIT_SINK_REJECTED: { status: 400, issue: 'invalid' },
  /** The sink could not be reached or answered 429/5xx: the batch is retried. */
  FW_AUDIT_SINK_UNAVAILABLE: { status: 503, issue: 'transient' },
  /** The HMAC key file is open to group or others (fix: `chmod 600 <file>`). */
  FW_AUDIT_KEY_FILE_MODE: { status: 500, issue: 'security' },
});

/** Raised by the sink's compliance queries (reports, search, verify), wherever they run. */
export const AUDIT_QUERY_ERRORS = errorTable('audit', {
  FW_AUDIT_INVALID_RANGE: { status: 400, issue: 'invalid' },
  FW_AUDIT_INVALID_OPTION: { status: 400, issue: 'invalid' },
  FW_AUDIT_FORMAT_UNSUPPORTED: { status: 400, issue: 'not-supported' },
  FW_AUDIT_PATIENT_UNRESOLVED: { status: 404, issue: 'not-found' },
  FW_AUDIT_FHIR_LOOKUP_FAILED: { status: 502, issue: 'transient' },
});

/**
 * Raised by the CLI's `audit` command about where it reads (exit status 1; the HTTP status is what a
 * caller relaying them would answer).
 */
export const AUDIT_CLI_ERRORS = errorTable('audit', {
  /** The store directory is held by a running sink (chDB: one process per store). */
  FW_AUDIT_STORE_BUSY: { status: 503, issue: 'transient' },
  /** `--sink-url` names no listening sink. */
  FW_AUDIT_SINK_UNREACHABLE: { status: 502, issue: 'transient' },
});

/** Every `FW_AUDIT_` code, by the side that raises it. */
export const AUDIT_ERROR_GROUPS = {
  spool: AUDIT_SPOOL_ERRORS,
  query: AUDIT_QUERY_ERRORS,
  cli: AUDIT_CLI_ERRORS,
} as const;

type Codes<G> = keyof G & string;
type Overlap<A, B> = Codes<A> & Codes<B>;
// A code in two groups is a compile error here (each line must be `never`).
const noOverlap: [
  Overlap<typeof AUDIT_SPOOL_ERRORS, typeof AUDIT_QUERY_ERRORS>,
  Overlap<typeof AUDIT_SPOOL_ERRORS, typeof AUDIT_CLI_ERRORS>,
  Overlap<typeof AUDIT_QUERY_ERRORS, typeof AUDIT_CLI_ERRORS>,
] extends [never, never, never]
  ? true
  : false = true;
void noOverlap;

/** True for a code of the audit trail (any group), e.g. to report it rather than rethrow. */
export function isAuditErrorCode(code: unknown): boolean {
  return typeof code === 'string' && code.startsWith(AUDIT_ERROR_PREFIX);
}
