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
export { AUDIT_CHECKPOINTS_TABLE } from './audit-checkpoints.ts';
export {
  CARE_RELATIONSHIPS_TABLE,
  GROUP_MEMBERS_TABLE,
  TENANT_SETTINGS_TABLE,
} from './audit-context.ts';
export {
  AUDIT_PATIENT_INDEX_TABLE,
  AUDIT_PATIENT_INDEX_VIEW,
  PATIENT_INDEX_FIELDS,
  PATIENT_INDEX_SELECT,
  REQUEST_USER_PROJECTION,
} from './audit-patient-index.ts';
export {
  AUDIT_REQUEST_COLUMNS,
  AUDIT_REQUESTS_TABLE,
  AUDIT_REQUESTS_VIEW,
} from './audit-requests.ts';
export { AUDIT_EXPANSION_SELECT, expansionExpression, expansionSelect, expansionSelectLinear } from './expansion.ts';
export {
  INCIDENT_EVENTS_TABLE,
  INCIDENT_OUTBOX_TABLE,
  INCIDENTS_TABLE,
  incidentEventsTable,
  incidentOutboxTable,
  incidentsTable,
} from './incidents.ts';
export { LOADTEST_RUNS_TABLE } from './loadtest.ts';
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
export { AUDIT_QUERY_LOG_TABLE, auditQueryLogTable } from './query-log.ts';
export { ident, literal, localName } from './render.ts';
export {
  DEFAULT_TELEMETRY_RETENTION_DAYS,
  LATENCY_ROLLUP_LEVELS,
  LATENCY_ROLLUP_TABLE,
  LATENCY_ROLLUP_VIEW,
  OTEL_TABLES,
  TENANT_ATTRIBUTE,
  TRACE_ID_TS_TABLE,
  TRACE_ID_TS_VIEW,
} from './telemetry.ts';
export type {
  AddColumnsDef,
  BackfillDef,
  ColumnDef,
  MaterializedViewDef,
  SchemaObject,
  StatementDef,
  TableDef,
  ViewDef,
} from './types.ts';
