/**
 * The body of a successful OTLP/HTTP answer (opentelemetry-proto `Export*ServiceResponse`). With nothing
 * rejected it is empty (`{}` / a zero-length protobuf message). When the store refused some rows, the answer is
 * still 200, as OTLP/HTTP requires for a partially accepted request, with `partial_success` counting the
 * rejected spans / log records / data points and a PHI-free message; senders must not retry those.
 */
import { OTLP_RESPONSE_TYPES, type OtlpSignal } from './proto.ts';

export interface OtlpAnswer {
  readonly contentType: 'application/json' | 'application/x-protobuf';
  readonly body: Buffer;
}

export function otlpSuccessBody(
  signal: OtlpSignal,
  encoding: OtlpAnswer['contentType'],
  rejected: number,
  errorMessage: string,
): OtlpAnswer {
  const { type, rejectedField } = OTLP_RESPONSE_TYPES[signal];
  const partialSuccess = rejected > 0 ? { [rejectedField]: String(rejected), errorMessage } : undefined;
  if (encoding === 'application/json') {
    // proto3 JSON: int64 as a decimal string
    return {
      contentType: encoding,
      body: Buffer.from(JSON.stringify(partialSuccess === undefined ? {} : { partialSuccess })),
    };
  }
  const message = type.fromObject(partialSuccess === undefined ? {} : { partialSuccess });
  return { contentType: encoding, body: Buffer.from(type.encode(message).finish()) };
}

/** The partial_success message for refused rows: how many and the store's error codes, never values. */
export function refusedMessage(refused: number, errors: readonly string[]): string {
  const why = errors.length > 0 ? ` (${errors.join(', ')})` : '';
  return `${refused} item${refused === 1 ? '' : 's'} refused by the store${why}; not retryable`;
}
