/** Errors of the compliance queries: a stable `code` (FW_AUDIT_<WHAT>), never PHI in the message. */
export const AUDIT_QUERY_ERROR_CODES = {
  invalidRange: 'FW_AUDIT_INVALID_RANGE',
  invalidOption: 'FW_AUDIT_INVALID_OPTION',
  formatUnsupported: 'FW_AUDIT_FORMAT_UNSUPPORTED',
  patientUnresolved: 'FW_AUDIT_PATIENT_UNRESOLVED',
  fhirLookupFailed: 'FW_AUDIT_FHIR_LOOKUP_FAILED',
} as const;
export type AuditQueryErrorCode = (typeof AUDIT_QUERY_ERROR_CODES)[keyof typeof AUDIT_QUERY_ERROR_CODES];

export class AuditQueryError extends Error {
  readonly code: AuditQueryErrorCode;
  constructor(code: AuditQueryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditQueryError';
    this.code = code;
  }
}
