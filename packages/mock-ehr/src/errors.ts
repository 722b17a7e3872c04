import type { IssueType } from '@fhirwatch/contract';

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

/** An error that becomes an OperationOutcome with `status`. Messages never carry PHI (no search values, no ids). */
export class MockEhrError extends Error {
  readonly code: MockEhrErrorCode;
  readonly status: number;
  readonly issueType: IssueType;
  constructor(
    code: MockEhrErrorCode,
    status: number,
    issueType: IssueType,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MockEhrError';
    this.code = code;
    this.status = status;
    this.issueType = issueType;
  }
}
