/**
 * OperationOutcome builders: every FHIR-facing error is one.
 * https://www.hl7.org/fhir/STU3/operationoutcome.html (same shape in DSTU2)
 */
export const ISSUE_SEVERITIES = ['fatal', 'error', 'warning', 'information'] as const;
export type IssueSeverity = (typeof ISSUE_SEVERITIES)[number];

/** The subset of http://hl7.org/fhir/issue-type codes fhirwatch emits. */
export type IssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'not-found'
  | 'not-supported'
  | 'too-long'
  | 'too-costly'
  | 'throttled'
  | 'timeout'
  | 'transient'
  | 'exception'
  | 'processing';

export interface OperationOutcomeIssue {
  severity: IssueSeverity;
  code: IssueType;
  diagnostics?: string;
  details?: { text?: string; coding?: { system?: string; code?: string; display?: string }[] };
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** Default HTTP status for an issue type (used when a caller gives none). */
export const STATUS_FOR_ISSUE: Readonly<Record<IssueType, number>> = {
  invalid: 400,
  structure: 400,
  required: 400,
  value: 400,
  security: 401,
  login: 401,
  forbidden: 403,
  'not-found': 404,
  'not-supported': 400,
  'too-long': 413,
  'too-costly': 413,
  throttled: 429,
  timeout: 504,
  transient: 503,
  exception: 500,
  processing: 422,
};

/**
 * One-issue OperationOutcome. `code` is a stable fhirwatch error code (FW_<AREA>_<WHAT>) carried in
 * `details.coding`, so clients and tests can match on it rather than on text.
 */
export function operationOutcome(
  issueType: IssueType,
  diagnostics: string,
  options: { severity?: IssueSeverity; code?: string } = {},
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity: options.severity ?? 'error', code: issueType, diagnostics };
  if (options.code !== undefined) {
    issue.details = { coding: [{ system: 'urn:fhirwatch:error', code: options.code }], text: options.code };
  }
  return { resourceType: 'OperationOutcome', issue: [issue] };
}
