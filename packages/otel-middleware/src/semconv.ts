/**
 * Attribute and metric names. HTTP names come from @opentelemetry/semantic-conventions (stable);
 * the FHIR ones are ours. https://opentelemetry.io/docs/specs/semconv/http/http-metrics/
 */
export {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_SCHEME,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';

export const ATTR_FHIR_VERSION = 'fhir.version';
export const ATTR_FHIR_INTERACTION = 'fhir.interaction';
export const ATTR_FHIR_RESOURCE_TYPE = 'fhir.resource_type';
export const ATTR_FHIR_AUDIT_EVENT = 'fhir.audit_event';
export const ATTR_FHIR_BATCH_ENTRY_COUNT = 'fhir.batch.entry_count';
export const ATTR_FHIR_AUDIT_RECORD_COUNT = 'fhir.audit.record_count';
export const ATTR_FHIR_AUDIT_BODY_TRUNCATED = 'fhir.audit.body_truncated';
export const ATTR_TENANT_ID = 'tenant.id';
export const ATTR_CLIENT_ID = 'client.id';

/** Semconv advice for HTTP duration histograms, in seconds. */
export const HTTP_DURATION_BUCKETS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** Route recorded when neither the host nor the classifier names one: never the raw path (PHI). */
export const UNMATCHED_ROUTE = '(unmatched)';

export const INSTRUMENTATION_NAME = '@fhirwatch/otel-middleware';
export const INSTRUMENTATION_VERSION = '0.1.0';
