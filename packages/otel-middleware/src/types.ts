/** Public options of the middleware and of the telemetry setup. */
import type { IncomingMessage } from 'node:http';
import type { Classification, FhirVersion } from '@fhirwatch/contract';
import type { MeterProvider, Span, TracerProvider } from '@opentelemetry/api';
import type { LoggerProvider } from '@opentelemetry/api-logs';
import type { FhirAuditError } from './errors.ts';
import type { SpoolFailurePolicy } from './spool-health.ts';

/**
 * `batched`: records are spooled within `flushIntervalMs`; the response never waits for them.
 * `strict`: the response (status, headers and body) is held until its records are fdatasync'ed
 * to the spool (group commit). In both modes a full or unwritable spool refuses audited requests with a
 * 503 OperationOutcome unless `onSpoolFailure: 'serve'`.
 */
export type AuditMode = 'batched' | 'strict';

export interface AuditUser {
  userId?: string;
  userName?: string;
}

/** Reads the trusted user context of a request. Errors are caught: the record then says no user. */
export type UserExtractor = (req: IncomingMessage) => AuditUser | undefined;

export interface RequestHookInfo {
  req: IncomingMessage;
  /** PHI-bearing (query, patient refs): read it, never copy it into the span. */
  classification: Classification | undefined;
  status: number;
}

export type DisclosureMode = 'spec' | 'returned';

export interface FhirAuditOptions {
  /** Default `batched`. */
  mode?: AuditMode;
  /** Spool directory (default `<cwd>/.fhirwatch/audit-spool`). One process per directory (locked). */
  spoolDir?: string;
  /** Sink base URL (`POST {sinkUrl}/v1/audit`). Absent: records are spooled and kept, not shipped. */
  sinkUrl?: string;
  /** Writer id, `recorded_by`; the HMAC chain is per writer (default `os.hostname()`). */
  recordedBy?: string;
  /** HMAC chain key (default: a random key created once in `<spoolDir>/hmac.key`). */
  hmacKey?: string | Buffer;
  /** FHIR version when the host's request context does not say (default `STU3`). */
  fhirVersion?: FhirVersion;
  /** Path prefix of the FHIR base to strip before classification (default ''). */
  basePath?: string;
  /**
   * Treat a leading tenant GUID segment (`/{tenant}/Patient/…`) as part of the FHIR base
   * (default true; a GUID is never a FHIR resource type).
   */
  tenantPathSegment?: boolean;
  /**
   * Trust `x-fhirwatch-user-id` / `x-fhirwatch-user-name` request headers (default false: only set
   * this when an authenticated upstream sets them and strips them from client traffic).
   */
  trustedUserHeaders?: boolean;
  /** Custom user extractor; overrides `trustedUserHeaders`. A user set by the host via `setRequestContext` wins. */
  userExtractor?: UserExtractor;
  /**
   * Which patients a search discloses (default `spec`). `spec` = audit-events.md: a PatientSearch
   * discloses the patients it returned; searches for events 4–10 concern the `patient` searched
   * (named by the request), so their response bodies are only scanned for `result_count`, never for
   * patients; a batch's Location entry takes the patients of the same batch's Encounters.
   * `returned` = the contract's `disclosedPatients` semantics: every search also records every
   * patient found in what it returned (e.g. `_include`d or unfiltered results): stricter, costs more.
   */
  disclosure?: DisclosureMode;
  /** Response bytes buffered for disclosure (default 16 MiB). Above it: see README (truncation). */
  maxResponseBodyBytes?: number;
  /** Request bytes buffered for classification (batch Bundles, form searches; default 4 MiB). */
  maxRequestBodyBytes?: number;
  /**
   * Spool cap (default 256 MiB). Reaching it is a spool failure (see `onSpoolFailure`): `refuse` answers
   * 503, `serve` drops and counts the records.
   */
  maxSpoolBytes?: number;
  /**
   * What an audited request gets when its record cannot be spooled (disk full, unwritable directory,
   * `maxSpoolBytes` reached), in both modes (spool-health.ts). `refuse` (default): a 503 OperationOutcome
   * before any PHI leaves (batched mode: decided when the response head would leave). `serve`: the explicit
   * opt-in to serve PHI unaudited; lost records are counted. Entering/leaving the failed state is logged.
   */
  onSpoolFailure?: SpoolFailurePolicy;
  /** Where the spool-health log lines go (one JSON line each, no PHI; default stderr, whatever the log level). */
  spoolHealthLog?: (line: string) => void;
  /** Segment size = largest shipped batch (default 1 MiB). */
  segmentMaxBytes?: number;
  /** Batched mode: longest time a record waits in memory before it is written (default 50 ms). */
  flushIntervalMs?: number;
  /** Seal and ship the active segment once it is this old (default 1000 ms); sooner when it fills up or on drain(). */
  shipIntervalMs?: number;
  /** Retry backoff of the shipper (defaults 200 ms … 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** gzip shipped batches (default false). */
  gzip?: boolean;
  /** Extra headers for the sink. */
  sinkHeaders?: Record<string, string>;
  /**
   * This writer's ingest credential on the sink (`Authorization: Bearer`): a sink with credentials accepts from
   * it only records whose `recorded_by` is the credential's writer name (clickhouse-sink README, "Authentication
   * and authorization"). Without it, only a loopback sink without credentials takes the records.
   */
  ingestToken?: string;
  /** Providers (default: the global ones, as registered by `setupTelemetry`). */
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  loggerProvider?: LoggerProvider;
  /** Emit one PHI-free OTel log record per audit record (event_id, event type, outcome; default false). */
  emitLogs?: boolean;
  /** Run the wrapped handler with the request span active (default true) so host spans nest under it. */
  activeContext?: boolean;
  /** Called before the span ends. Errors are caught and ignored. Never put PHI on the span. */
  requestHook?: (span: Span, info: RequestHookInfo) => void;
  /** Spool/shipper errors (PHI-free). Default: reported through OTel `diag`. */
  onError?: (error: FhirAuditError) => void;
}

export interface TelemetryOptions {
  /** OTLP/HTTP base URL; signals go to `/v1/traces`, `/v1/metrics`, `/v1/logs` (default `http://127.0.0.1:4318`). */
  endpoint?: string;
  /** `service.name` (default `fhirwatch`). */
  serviceName?: string;
  /** Extra resource attributes (no PHI). */
  resourceAttributes?: Record<string, string>;
  headers?: Record<string, string>;
  /** Metric export interval (default 10 s). */
  metricExportIntervalMs?: number;
  /**
   * `delta` (default) or `cumulative`. Delta: each export holds only that interval's counts, so
   * ClickHouse sums rows over any time range without reset handling, and the SDK forgets series
   * (tenant × route × status) that went quiet.
   */
  temporality?: 'delta' | 'cumulative';
  /** Span batch processor tuning. */
  maxExportBatchSize?: number;
  scheduledDelayMillis?: number;
  /** Which signals to export (default all three). */
  traces?: boolean;
  metrics?: boolean;
  logs?: boolean;
}
