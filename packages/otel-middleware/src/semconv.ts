/**
 * Attribute and metric names, under the names this package has always used. The values live in
 * @fhirwatch/contract (telemetry-names.ts), shared with the sink's self-metrics and the dashboards;
 * HTTP names are OpenTelemetry's stable semantic conventions (test/semconv.test.ts checks them against
 * @opentelemetry/semantic-conventions). https://opentelemetry.io/docs/specs/semconv/http/http-metrics/
 */
import { ATTRIBUTES, METRICS } from '@fhirwatch/contract';

export { HTTP_DURATION_BUCKETS_S, UNMATCHED_ROUTE } from '@fhirwatch/contract';

export const ATTR_ERROR_TYPE = ATTRIBUTES.errorType;
export const ATTR_HTTP_REQUEST_METHOD = ATTRIBUTES.httpRequestMethod;
export const ATTR_HTTP_RESPONSE_STATUS_CODE = ATTRIBUTES.httpResponseStatusCode;
export const ATTR_HTTP_ROUTE = ATTRIBUTES.httpRoute;
export const ATTR_NETWORK_PROTOCOL_VERSION = ATTRIBUTES.networkProtocolVersion;
export const ATTR_SERVER_ADDRESS = ATTRIBUTES.serverAddress;
export const ATTR_SERVER_PORT = ATTRIBUTES.serverPort;
export const ATTR_URL_SCHEME = ATTRIBUTES.urlScheme;
export const METRIC_HTTP_CLIENT_REQUEST_DURATION = METRICS.httpClientDuration;
export const METRIC_HTTP_SERVER_REQUEST_DURATION = METRICS.httpServerDuration;

export const ATTR_FHIR_VERSION = ATTRIBUTES.fhirVersion;
export const ATTR_FHIR_INTERACTION = ATTRIBUTES.fhirInteraction;
export const ATTR_FHIR_RESOURCE_TYPE = ATTRIBUTES.fhirResourceType;
export const ATTR_FHIR_AUDIT_EVENT = ATTRIBUTES.fhirAuditEvent;
export const ATTR_FHIR_BATCH_ENTRY_COUNT = ATTRIBUTES.fhirBatchEntryCount;
export const ATTR_FHIR_AUDIT_RECORD_COUNT = ATTRIBUTES.fhirAuditRecordCount;
export const ATTR_FHIR_AUDIT_BODY_TRUNCATED = ATTRIBUTES.fhirAuditBodyTruncated;
export const ATTR_TENANT_ID = ATTRIBUTES.tenantId;
export const ATTR_CLIENT_ID = ATTRIBUTES.clientId;

export const INSTRUMENTATION_NAME = '@fhirwatch/otel-middleware';
export const INSTRUMENTATION_VERSION = '0.1.0';
