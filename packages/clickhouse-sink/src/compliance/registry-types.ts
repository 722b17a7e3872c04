/**
 * The shape of a report definition (see registry.ts). Kept apart from the registry so a report file can
 * import the types without importing every other report.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Report, ReportColumn, ReportOptions } from './types.ts';

/** How an option's text (a CLI flag, a query-string value, a stored threshold) becomes a value. */
export type ReportOptionType = 'integer' | 'number' | 'string' | 'boolean' | 'enum' | 'list';

export interface ReportOptionDef {
  /** Key in the report's options object and in a tenant's stored thresholds (camelCase). */
  readonly name: string;
  /** Command-line flag without the dashes (kebab-case). */
  readonly flag: string;
  readonly type: ReportOptionType;
  /** Allowed values of an `enum` option. */
  readonly values?: readonly string[];
  /** Value used when neither a flag nor a tenant setting gives one (undefined: the report decides, see help). */
  readonly default?: string | number | boolean | readonly string[];
  /** One line for `--help` and the console's form. */
  readonly help: string;
  /** The report cannot run without it. */
  readonly required?: boolean;
  /** A tenant's stored settings may set it (`fhirwatch audit settings set --threshold <report>.<name>=<value>`). */
  readonly tenantSetting?: boolean;
}

/** What a report is: everything the CLI, the query API and the console need to offer and run it. */
export interface ReportDef<Row extends object = Record<string, unknown>> {
  /** `fhirwatch audit report <name>`. */
  readonly name: string;
  readonly title: string;
  /** One line for usage text. */
  readonly summary: string;
  /** Rows are audit records (FHIR AuditEvent output possible). */
  readonly recordLevel: boolean;
  /**
   * Uses the tenant's stored settings (time zone, working time, holidays, thresholds): the registry runs it
   * once per tenant that has settings, and once for all other tenants with the defaults (and says so).
   */
  readonly tenantSettings: boolean;
  readonly options: readonly ReportOptionDef[];
  /** Other reports whose stored thresholds also apply (same option names), before this report's own. */
  readonly settingsFrom?: readonly string[];
  readonly columns: readonly ReportColumn[];
  /** CSV columns when wider than `columns` (record rows: every record field, see withRecordFields). */
  readonly csvColumns?: readonly ReportColumn[];
  /** Row keys the merged rows of several per-tenant runs are ordered by. */
  readonly orderBy: readonly string[];
  /**
   * The main statement, as run for one tenant (`{name:Type}` are query parameters; fixed fragments such as
   * the tenant filter are shown in their one-tenant form). For reading, not for running.
   */
  readonly sql: string;
  run(client: ClickHouseClient, options: ReportOptions & Record<string, unknown>): Promise<Report<Row>>;
  /**
   * Monitoring reports: whom a row flags (a user id, or `client:<id>` when the trail has no user for it); none for
   * a row that is listed but not a hit (an export that is neither large nor off hours). runReport tallies it into
   * the report's `flagged`, which the CLI, the console and the demo show.
   */
  flags?(row: Row): readonly string[];
  /** Re-order (re-rank) the merged rows of several per-tenant runs; default: sort by `orderBy`. */
  finalize?(rows: Row[]): Row[];
}
