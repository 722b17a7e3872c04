/** Public types of the compliance queries. */
import type { AuditRecord } from '@fhirwatch/contract';
import type { RequestRow } from './requests.ts';
import type { TimeRange, TimeRangeInput } from './time-range.ts';
import type { WorkHoursConfig } from './work-hours.ts';

/** A report's name (`fhirwatch audit report <name>`; the registry in registry.ts lists them). */
export type ReportName = string;

export interface ReportColumn {
  /** Key in each row. */
  readonly key: string;
  /** Column header in table and CSV output. */
  readonly header: string;
}

/** What every report returns: rows for table/CSV/JSON, and the audit records behind them for FHIR output. */
export interface Report<Row extends object = Record<string, unknown>> {
  readonly name: ReportName;
  readonly title: string;
  readonly range?: TimeRange;
  readonly tenant?: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly columns: readonly ReportColumn[];
  readonly rows: Row[];
  /** Present for record-level reports: the (deduplicated) audit records, for the FHIR AuditEvent Bundle. */
  readonly records?: AuditRecord[];
  /** Columns of CSV output when wider than `columns` (record-level reports: every record field). */
  readonly exportColumns?: readonly ReportColumn[];
  /** Lines for the header (table title, JSON `notes`): e.g. which tenants ran without stored settings. */
  readonly notes?: readonly string[];
  /**
   * Record-level reports about people (access, activity): one row per request (open chart, list refresh, search,
   * export), each expanding to its per-patient `rows`; tables and JSON show them, CSV and FHIR keep the rows.
   */
  readonly requests?: readonly RequestRow[];
  /** Monitoring reports: each principal the rows flag, with its number of rows, most rows first. */
  readonly flagged?: readonly FlaggedPrincipal[];
}

/** A user (or `client:<id>` without a user) a monitoring report flags, and how many of its rows do. */
export interface FlaggedPrincipal {
  readonly principal: string;
  readonly rows: number;
}

/** Options every report accepts. */
export interface ReportOptions extends TimeRangeInput {
  /** Only this tenant (tenant_id); all tenants when unset. */
  tenant?: string;
  /** Leave these tenants out (the registry's run for "every tenant without stored settings"). */
  excludeTenants?: readonly string[];
}

export interface AccessReportOptions extends ReportOptions {
  /** FHIR logical ids of the patient (several when an MRN resolved to more than one id). */
  patientIds: readonly string[];
  /** Also list bulk exports of all patients (`patient_id = '*'`) of the patient's tenants. Default true. */
  includeAllPatientExports?: boolean;
}

export interface ActivityReportOptions extends ReportOptions {
  userId: string;
}

export interface AfterHoursReportOptions extends ReportOptions {
  workHours?: WorkHoursConfig;
}

export interface ExportsReportOptions extends ReportOptions {
  /** An export is large from this many patients (or result_count) on, or when it covers all patients. Default 1000. */
  largePatients?: number;
  workHours?: WorkHoursConfig;
}

export interface FailuresReportOptions extends ReportOptions {
  /** Only groups with at least this many events. Default 1. */
  minEvents?: number;
}

export type TenantIsolationReportOptions = ReportOptions;
export interface SummaryReportOptions extends ReportOptions {
  /** Days are local days in the time zone of this config's fallback (the registry passes the tenant's). Default UTC. */
  workHours?: WorkHoursConfig;
}
