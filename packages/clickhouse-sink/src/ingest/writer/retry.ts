/** Retries with exponential backoff and jitter. */

export interface RetryOptions {
  /** Attempts in total, including the first (default 3). */
  attempts?: number;
  /** First delay in ms (default 50), doubled per attempt up to `maxDelayMs` (default 1000). */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export async function withRetries<T>(
  operation: () => Promise<T>,
  options: RetryOptions,
  retryable: (error: unknown) => boolean,
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 3);
  let delay = options.minDelayMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !retryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}

/**
 * ClickHouse error codes that mean "these rows are wrong", not "the store is unavailable": retrying or
 * spooling them cannot help. Everything else from the store (network, timeouts, missing/readonly tables,
 * memory limits, a closed session) is treated as unavailability and retried later.
 */
const DATA_ERROR_CODES = new Set([
  '6', // CANNOT_PARSE_TEXT
  '25', // CANNOT_PARSE_ESCAPE_SEQUENCE (a lone UTF-16 surrogate in a text field)
  '26', // CANNOT_PARSE_QUOTED_STRING
  '27', // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  '38', // CANNOT_PARSE_DATE
  '41', // CANNOT_PARSE_DATETIME
  '53', // TYPE_MISMATCH
  '70', // CANNOT_CONVERT_TYPE
  '69', // ARGUMENT_OUT_OF_BOUND
  '72', // CANNOT_PARSE_NUMBER
  '117', // INCORRECT_DATA
  '131', // TOO_LARGE_STRING_SIZE
  '190', // SIZES_OF_ARRAYS_DONT_MATCH (Nested columns of one row)
  '321', // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  '349', // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  '376', // CANNOT_PARSE_UUID
  '407', // DECIMAL_OVERFLOW (a DateTime64(9) past 2262-04-11)
  '1002', // UNKNOWN_EXCEPTION (client-side) is not a data error: kept out on purpose
]);
DATA_ERROR_CODES.delete('1002');

export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DATA_ERROR_CODES.has(code);
}
