export {
  AUDIT_COLUMNS,
  AUDIT_DEDUP_CLAUSE,
  AUDIT_DEDUP_VIEW,
  AUDIT_TABLE,
  AUDIT_USER_PROJECTION,
  AUDIT_VIP_TABLE,
  DEFAULT_AUDIT_RETENTION_DAYS,
} from './audit.ts';
export { AUDIT_BY_PATIENT_TABLE, AUDIT_BY_PATIENT_VIEW } from './audit-by-patient.ts';
export type {
  MigrateResult,
  Migration,
  RenderedMigration,
  ResolvedSchemaOptions,
  SchemaOptions,
} from './migrations.ts';
export {
  appliedVersions,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  migrate,
  renderMigrations,
  renderSchemaScript,
  resolveSchemaOptions,
} from './migrations.ts';
export { ident, literal, localName } from './render.ts';
export {
  DEFAULT_TELEMETRY_RETENTION_DAYS,
  LATENCY_ROLLUP_LEVELS,
  LATENCY_ROLLUP_TABLE,
  LATENCY_ROLLUP_VIEW,
  OTEL_TABLES,
  TENANT_ATTRIBUTE,
} from './telemetry.ts';
export type { BackfillDef, ColumnDef, MaterializedViewDef, SchemaObject, TableDef, ViewDef } from './types.ts';
