/** Errors of the middleware. Each has a stable `code` (FW_AUDIT_* / FW_OTEL_*), an HTTP `status` where it faces HTTP, and `cause`. */
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

export class FhirAuditError extends Error {
  readonly code: AuditErrorCode;
  readonly status: number;
  constructor(code: AuditErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FhirAuditError';
    this.code = code;
    this.status = options.status ?? 503;
  }
}
