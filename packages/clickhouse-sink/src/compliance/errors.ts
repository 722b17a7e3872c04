/**
 * Errors of the compliance queries: a stable `code` (FW_AUDIT_<WHAT>), the HTTP status and FHIR issue type
 * it maps to (the contract's error helper), never PHI in the message.
 */
import { errorTable, FhirwatchError } from '@fhirwatch/contract';

export const AUDIT_QUERY_ERRORS = errorTable('compliance', {
  FW_AUDIT_INVALID_RANGE: { status: 400, issue: 'invalid' },
  FW_AUDIT_INVALID_OPTION: { status: 400, issue: 'invalid' },
  FW_AUDIT_FORMAT_UNSUPPORTED: { status: 400, issue: 'not-supported' },
  FW_AUDIT_PATIENT_UNRESOLVED: { status: 404, issue: 'not-found' },
  FW_AUDIT_FHIR_LOOKUP_FAILED: { status: 502, issue: 'transient' },
});

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
