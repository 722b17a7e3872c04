/** Errors of the sink, each with a stable `code`, the HTTP `status` and FHIR issue type it maps to. */
import { errorTable, FhirwatchError } from '@fhirwatch/contract';

/** Code → HTTP status and FHIR issue type (the contract's error helper). */
export const SINK_ERRORS = errorTable('sink', {
  FW_SINK_OPTIONS: { status: 500, issue: 'exception' },
  FW_SINK_MIGRATE: { status: 500, issue: 'exception' },
  FW_SINK_STORE_UNAVAILABLE: { status: 503, issue: 'transient' },
  FW_SINK_BUSY: { status: 429, issue: 'throttled' },
  FW_SINK_CLOSED: { status: 503, issue: 'transient' },
  FW_SINK_SPOOL: { status: 500, issue: 'exception' },
  FW_SINK_BAD_JSON: { status: 400, issue: 'structure' },
  FW_SINK_BAD_RECORD: { status: 400, issue: 'invalid' },
  FW_SINK_BAD_OTLP: { status: 400, issue: 'structure' },
  FW_SINK_TOO_LARGE: { status: 413, issue: 'too-long' },
  FW_SINK_UNSUPPORTED_MEDIA_TYPE: { status: 415, issue: 'not-supported' },
  FW_SINK_BAD_ENCODING: { status: 400, issue: 'structure' },
  FW_SINK_NOT_FOUND: { status: 404, issue: 'not-found' },
  FW_SINK_METHOD: { status: 405, issue: 'not-supported' },
  FW_SINK_UNAUTHORIZED: { status: 401, issue: 'login' },
  /** A writer credential used for another writer's records; a cross-site request on an open loopback server. */
  FW_SINK_FORBIDDEN: { status: 403, issue: 'forbidden' },
  /** A Host header that is not this loopback server's (DNS rebinding). */
  FW_SINK_MISDIRECTED: { status: 421, issue: 'security' },
  /** A path with `..`, `.`, `//`, backslashes or percent-escapes: refused, never normalized. */
  FW_SINK_BAD_PATH: { status: 400, issue: 'invalid' },
  FW_SINK_BAD_QUERY: { status: 400, issue: 'invalid' },
  FW_SINK_QUERY_FAILED: { status: 500, issue: 'exception' },
  FW_SINK_NOT_CONFIGURED: { status: 409, issue: 'processing' },
  /** A state change the resource's current state does not allow (an incident closed twice, acknowledged after close). */
  FW_SINK_CONFLICT: { status: 409, issue: 'processing' },
});

/** Code → HTTP status (kept for importers; derived from SINK_ERRORS). */
export const SINK_ERROR_STATUS = Object.fromEntries(
  Object.entries(SINK_ERRORS).map(([code, spec]) => [code, spec.status]),
) as { readonly [C in keyof typeof SINK_ERRORS]: (typeof SINK_ERRORS)[C]['status'] };

export type SinkErrorCode = keyof typeof SINK_ERRORS;

export class SinkError extends FhirwatchError<SinkErrorCode> {
  /** First bad NDJSON line (1-based) for ingest validation errors. */
  readonly line?: number;
  /** Seconds a sender should wait before retrying (429/503). */
  readonly retryAfter?: number;

  constructor(
    code: SinkErrorCode,
    message: string,
    options: { cause?: unknown; line?: number; retryAfter?: number } = {},
  ) {
    super(SINK_ERRORS[code], code, message, { cause: options.cause });
    this.name = 'SinkError';
    if (options.line !== undefined) this.line = options.line;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}
