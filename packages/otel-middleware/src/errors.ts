/** Errors of the middleware. Each has a stable `code` (FW_AUDIT_*: the contract's audit-errors.ts / FW_OTEL_*), the HTTP `status` and issue type of its table, and `cause`. */
import { AUDIT_SPOOL_ERRORS, errorTable, FhirwatchError, type IssueType } from '@fhirwatch/contract';

export const AUDIT_ERROR_CODES = {
  /** The spool holds `maxSpoolBytes` already: strict mode fails the request closed. */
  spoolFull: 'FW_AUDIT_SPOOL_FULL',
  /** Writing or fsyncing the spool failed: strict mode fails the request closed. */
  spoolUnwritable: 'FW_AUDIT_SPOOL_UNWRITABLE',
  /** Another live process holds the spool directory. */
  spoolLocked: 'FW_AUDIT_SPOOL_LOCKED',
  /** The writer was closed. */
  closed: 'FW_AUDIT_CLOSED',
  /** Strict mode could not hold the response body in memory (over `maxResponseBodyBytes`). */
  bodyTooLarge: 'FW_AUDIT_BODY_TOO_LARGE',
  /** The sink rejected a batch as invalid (400/413/415): the segment is quarantined. */
  sinkRejected: 'FW_AUDIT_SINK_REJECTED',
  /** The sink could not be reached or answered 429/5xx: the batch is retried. */
  sinkUnavailable: 'FW_AUDIT_SINK_UNAVAILABLE',
  /** The HMAC key file is open to group or others (fix: `chmod 600 <file>`). */
  keyFileMode: 'FW_AUDIT_KEY_FILE_MODE',
  /** Invalid option. */
  invalidOption: 'FW_OTEL_INVALID_OPTION',
} as const;
export type AuditErrorCode = (typeof AUDIT_ERROR_CODES)[keyof typeof AUDIT_ERROR_CODES];

/**
 * Code → HTTP status and FHIR issue type (the contract's error helper): the audit path's `FW_AUDIT_`
 * codes come from the contract's one table of that prefix (audit-errors.ts); `FW_OTEL_` is ours.
 */
export const AUDIT_ERRORS = {
  ...AUDIT_SPOOL_ERRORS,
  ...errorTable('middleware', {
    FW_OTEL_INVALID_OPTION: { status: 500, issue: 'exception' },
  }),
} satisfies Record<AuditErrorCode, { status: number; issue: IssueType }>;

export class FhirAuditError extends FhirwatchError<AuditErrorCode> {
  /** `status`: only the sink's own answer, relayed by FW_AUDIT_SINK_REJECTED / FW_AUDIT_SINK_UNAVAILABLE. */
  constructor(code: AuditErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(AUDIT_ERRORS[code], code, message, options);
    this.name = 'FhirAuditError';
  }
}
