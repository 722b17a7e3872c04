/**
 * Errors of the compliance queries: a stable `code` (FW_AUDIT_<WHAT>), the HTTP status and FHIR issue type
 * it maps to, never PHI in the message. The codes and their table live in the contract's audit-errors.ts
 * (the one home of the `FW_AUDIT_` prefix, shared with the middleware's spool codes).
 */
import { AUDIT_QUERY_ERRORS, FhirwatchError } from '@fhirwatch/contract';

export { AUDIT_QUERY_ERRORS };

export const AUDIT_QUERY_ERROR_CODES = {
  invalidRange: 'FW_AUDIT_INVALID_RANGE',
  invalidOption: 'FW_AUDIT_INVALID_OPTION',
  formatUnsupported: 'FW_AUDIT_FORMAT_UNSUPPORTED',
  patientUnresolved: 'FW_AUDIT_PATIENT_UNRESOLVED',
  fhirLookupFailed: 'FW_AUDIT_FHIR_LOOKUP_FAILED',
} as const satisfies Record<string, keyof typeof AUDIT_QUERY_ERRORS>;
export type AuditQueryErrorCode = keyof typeof AUDIT_QUERY_ERRORS;

export class AuditQueryError extends FhirwatchError<AuditQueryErrorCode> {
  constructor(code: AuditQueryErrorCode, message: string, options?: { cause?: unknown }) {
    super(AUDIT_QUERY_ERRORS[code], code, message, options);
    this.name = 'AuditQueryError';
  }
}
