import { type ErrorSpec, errorTable, FhirwatchError, type FhirwatchErrorOptions } from '@fhirwatch/contract';

/** Stable error codes of the mock EHR (carried in OperationOutcome.issue.details.coding). */
export const MOCK_EHR_ERROR = {
  notFound: 'FW_MOCKEHR_NOT_FOUND',
  unknownType: 'FW_MOCKEHR_UNKNOWN_TYPE',
  badParameter: 'FW_MOCKEHR_BAD_PARAMETER',
  badEncoding: 'FW_MOCKEHR_BAD_ENCODING',
  badJson: 'FW_MOCKEHR_BAD_JSON',
  badBundle: 'FW_MOCKEHR_BAD_BUNDLE',
  bodyTooLarge: 'FW_MOCKEHR_BODY_TOO_LARGE',
  method: 'FW_MOCKEHR_METHOD_NOT_ALLOWED',
  mediaType: 'FW_MOCKEHR_UNSUPPORTED_MEDIA_TYPE',
  injected: 'FW_MOCKEHR_INJECTED_ERROR',
  internal: 'FW_MOCKEHR_INTERNAL',
  options: 'FW_MOCKEHR_OPTIONS',
} as const;
export type MockEhrErrorCode = (typeof MOCK_EHR_ERROR)[keyof typeof MOCK_EHR_ERROR];

/** Code → HTTP status and FHIR issue type (the contract's error helper). */
export const MOCK_EHR_ERRORS = errorTable('mockEhr', {
  FW_MOCKEHR_NOT_FOUND: { status: 404, issue: 'not-found' },
  FW_MOCKEHR_UNKNOWN_TYPE: { status: 404, issue: 'not-found' },
  FW_MOCKEHR_BAD_PARAMETER: { status: 400, issue: 'invalid' },
  FW_MOCKEHR_BAD_ENCODING: { status: 400, issue: 'invalid' },
  FW_MOCKEHR_BAD_JSON: { status: 400, issue: 'structure' },
  FW_MOCKEHR_BAD_BUNDLE: { status: 400, issue: 'invalid' },
  FW_MOCKEHR_BODY_TOO_LARGE: { status: 413, issue: 'too-long' },
  FW_MOCKEHR_METHOD_NOT_ALLOWED: { status: 405, issue: 'not-supported' },
  FW_MOCKEHR_UNSUPPORTED_MEDIA_TYPE: { status: 415, issue: 'not-supported' },
  FW_MOCKEHR_INJECTED_ERROR: { status: 500, issue: 'exception' },
  FW_MOCKEHR_INTERNAL: { status: 500, issue: 'exception' },
  FW_MOCKEHR_OPTIONS: { status: 500, issue: 'exception' },
} satisfies Record<MockEhrErrorCode, ErrorSpec>);

/**
 * An error that becomes an OperationOutcome with `status`, both from MOCK_EHR_ERRORS (a throw refines the
 * issue type, or the status where one code answers two: an injected fault's 503, 'starting', 406).
 * Messages never carry PHI (no search values, no ids).
 */
export class MockEhrError extends FhirwatchError<MockEhrErrorCode> {
  constructor(code: MockEhrErrorCode, message: string, options?: FhirwatchErrorOptions) {
    super(MOCK_EHR_ERRORS[code], code, message, options);
    this.name = 'MockEhrError';
  }
}
