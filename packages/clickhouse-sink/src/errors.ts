/** Errors of the sink, each with a stable `code` and, where it faces HTTP, a `status`. */

export const SINK_ERROR_STATUS = {
  FW_SINK_OPTIONS: 500,
  FW_SINK_MIGRATE: 500,
  FW_SINK_STORE_UNAVAILABLE: 503,
  FW_SINK_BUSY: 429,
  FW_SINK_CLOSED: 503,
  FW_SINK_SPOOL: 500,
  FW_SINK_BAD_JSON: 400,
  FW_SINK_BAD_RECORD: 400,
  FW_SINK_BAD_OTLP: 400,
  FW_SINK_TOO_LARGE: 413,
  FW_SINK_UNSUPPORTED_MEDIA_TYPE: 415,
  FW_SINK_BAD_ENCODING: 400,
  FW_SINK_NOT_FOUND: 404,
  FW_SINK_METHOD: 405,
  FW_SINK_UNAUTHORIZED: 401,
  /** A writer credential used for another writer's records; a cross-site request on an open loopback server. */
  FW_SINK_FORBIDDEN: 403,
  /** A Host header that is not this loopback server's (DNS rebinding). */
  FW_SINK_MISDIRECTED: 421,
  /** A path with `..`, `.`, `//`, backslashes or percent-escapes: refused, never normalized. */
  FW_SINK_BAD_PATH: 400,
  FW_SINK_BAD_QUERY: 400,
  FW_SINK_QUERY_FAILED: 500,
  FW_SINK_NOT_CONFIGURED: 409,
} as const;

export type SinkErrorCode = keyof typeof SINK_ERROR_STATUS;

export class SinkError extends Error {
  readonly code: SinkErrorCode;
  readonly status: number;
  /** First bad NDJSON line (1-based) for ingest validation errors. */
  readonly line?: number;
  /** Seconds a sender should wait before retrying (429/503). */
  readonly retryAfter?: number;

  constructor(
    code: SinkErrorCode,
    message: string,
    options: { cause?: unknown; line?: number; retryAfter?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SinkError';
    this.code = code;
    this.status = SINK_ERROR_STATUS[code];
    if (options.line !== undefined) this.line = options.line;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}
