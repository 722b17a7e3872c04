import * as semconv from '@opentelemetry/semantic-conventions';
import { describe, expect, it } from 'vitest';
import * as ours from '../src/semconv.ts';

describe('telemetry names', () => {
  it('the HTTP names (from @fhirwatch/contract) are the stable OpenTelemetry semantic conventions', () => {
    expect([
      ours.ATTR_ERROR_TYPE,
      ours.ATTR_HTTP_REQUEST_METHOD,
      ours.ATTR_HTTP_RESPONSE_STATUS_CODE,
      ours.ATTR_HTTP_ROUTE,
      ours.ATTR_NETWORK_PROTOCOL_VERSION,
      ours.ATTR_SERVER_ADDRESS,
      ours.ATTR_SERVER_PORT,
      ours.ATTR_URL_SCHEME,
      ours.METRIC_HTTP_CLIENT_REQUEST_DURATION,
      ours.METRIC_HTTP_SERVER_REQUEST_DURATION,
    ]).toEqual([
      semconv.ATTR_ERROR_TYPE,
      semconv.ATTR_HTTP_REQUEST_METHOD,
      semconv.ATTR_HTTP_RESPONSE_STATUS_CODE,
      semconv.ATTR_HTTP_ROUTE,
      semconv.ATTR_NETWORK_PROTOCOL_VERSION,
      semconv.ATTR_SERVER_ADDRESS,
      semconv.ATTR_SERVER_PORT,
      semconv.ATTR_URL_SCHEME,
      semconv.METRIC_HTTP_CLIENT_REQUEST_DURATION,
      semconv.METRIC_HTTP_SERVER_REQUEST_DURATION,
    ]);
  });
});
