/**
 * Errors of the gateway: each carries a stable `code` (FW_GATEWAY_<WHAT>) and the HTTP status and issue
 * type it maps to (the contract's error helper). FHIR-facing handlers turn them into OperationOutcomes.
 */
import { errorTable, FhirwatchError } from '@fhirwatch/contract';

export const GATEWAY_ERRORS = errorTable('gateway', {
  FW_GATEWAY_CONFIG_INVALID: { status: 500, issue: 'exception' },
  FW_GATEWAY_CLIENT_NOT_FOUND: { status: 404, issue: 'not-found' },
  FW_GATEWAY_SECRET_NOT_FOUND: { status: 404, issue: 'not-found' },
  FW_GATEWAY_TENANT_INVALID: { status: 400, issue: 'value' },
  FW_GATEWAY_TENANT_UNKNOWN: { status: 404, issue: 'not-found' },
  FW_GATEWAY_TENANT_NOT_BOUND: { status: 403, issue: 'forbidden' },
  FW_GATEWAY_TENANT_MISMATCH: { status: 403, issue: 'forbidden' },
  FW_GATEWAY_TOKEN_MISSING: { status: 401, issue: 'login' },
  FW_GATEWAY_TOKEN_INVALID: { status: 401, issue: 'login' },
  FW_GATEWAY_TOKEN_REVOKED: { status: 401, issue: 'login' },
  FW_GATEWAY_ADMIN_UNAUTHORIZED: { status: 401, issue: 'login' },
  FW_GATEWAY_PATH_ESCAPE: { status: 403, issue: 'forbidden' },
  FW_GATEWAY_BAD_ENCODING: { status: 400, issue: 'invalid' },
  FW_GATEWAY_UNKNOWN_ROUTE: { status: 404, issue: 'not-found' },
  FW_GATEWAY_METHOD_NOT_ALLOWED: { status: 405, issue: 'not-supported' },
  FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE: { status: 415, issue: 'not-supported' },
  FW_GATEWAY_MALFORMED_JSON: { status: 400, issue: 'structure' },
  FW_GATEWAY_MALFORMED_FORM: { status: 400, issue: 'structure' },
  FW_GATEWAY_NOT_A_BATCH: { status: 400, issue: 'invalid' },
  FW_GATEWAY_BATCH_TOO_LARGE: { status: 413, issue: 'too-costly' },
  FW_GATEWAY_NOT_READ_ONLY: { status: 405, issue: 'not-supported' },
  FW_GATEWAY_UPSTREAM_TOO_LARGE: { status: 502, issue: 'too-costly' },
  FW_GATEWAY_INVALID_REQUEST: { status: 400, issue: 'invalid' },
  FW_GATEWAY_BODY_TOO_LARGE: { status: 413, issue: 'too-long' },
  FW_GATEWAY_RATE_LIMITED: { status: 429, issue: 'throttled' },
  FW_GATEWAY_AUTH_THROTTLED: { status: 429, issue: 'throttled' },
  FW_GATEWAY_AUTH_BUSY: { status: 503, issue: 'transient' },
  FW_GATEWAY_UPSTREAM_TIMEOUT: { status: 504, issue: 'timeout' },
  FW_GATEWAY_UPSTREAM_UNREACHABLE: { status: 502, issue: 'transient' },
  FW_GATEWAY_MALFORMED_HTTP: { status: 400, issue: 'structure' },
  FW_GATEWAY_HEADERS_TOO_LARGE: { status: 431, issue: 'too-long' },
  FW_GATEWAY_INTERNAL: { status: 500, issue: 'exception' },
});

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export class GatewayError extends FhirwatchError<GatewayErrorCode> {
  /** FW_GATEWAY_CONFIG_INVALID: the config key at fault (`audit.mode`), never a value. */
  readonly key?: string;

  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown; key?: string }) {
    super(GATEWAY_ERRORS[code], code, message, options);
    this.name = 'GatewayError';
    if (options?.key !== undefined) this.key = options.key;
  }
}

/** RFC 6749 §5.2 error codes of the token endpoint. */
export const OAUTH_ERRORS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
] as const;
export type OAuthErrorCode = (typeof OAUTH_ERRORS)[number];
