/**
 * `@fhirwatch/clickhouse-sink/store`: the store. Opening it (chDB directory or ClickHouse server), its schema as
 * numbered migrations (single node and cluster DDL), the names of its tables and views, and the audit request row
 * codec every writer uses.
 */
export {
  AUDIT_REQUEST_INSERT_COLUMNS,
  auditRequestRowValues,
  encodeAuditRequestRows,
  insertAuditRecords,
  requestFromRow,
} from './audit-encode.ts';
export type { StoreOptions, StoreTarget } from './open.ts';
export { openStore, STORE_SETTINGS, storeOptionsOf } from './open.ts';
export type { MigrateResult, Migration, SchemaOptions } from './schema/index.ts';
export {
  AUDIT_BY_PATIENT_TABLE,
  AUDIT_DEDUP_CLAUSE,
  AUDIT_DEDUP_VIEW,
  AUDIT_QUERY_LOG_TABLE,
  AUDIT_REQUESTS_TABLE,
  AUDIT_TABLE,
  AUDIT_USER_PROJECTION,
  AUDIT_VIP_TABLE,
  CARE_RELATIONSHIPS_TABLE,
  DEFAULT_AUDIT_RETENTION_DAYS,
  DEFAULT_TELEMETRY_RETENTION_DAYS,
  GROUP_MEMBERS_TABLE,
  LATENCY_ROLLUP_TABLE,
  LOADTEST_RUNS_TABLE,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  migrate,
  OTEL_TABLES,
  renderMigrations,
  renderSchemaScript,
  TENANT_SETTINGS_TABLE,
} from './schema/index.ts';
