/**
 * Versioned, idempotent migrations. Each migration is a list of schema objects rendered for the target
 * (single node or cluster); every statement is `IF NOT EXISTS`, and applied versions are recorded in
 * `fhirwatch_migrations` (version, name, checksum of the rendered DDL, applied_at), so running `migrate` again
 * does nothing. Retention is an option: changing it on an existing store issues `ALTER TABLE … MODIFY TTL`.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { SinkError } from '../../errors.ts';
import {
  AUDIT_TABLE,
  auditEventsDedupView,
  auditEventsTable,
  auditVipTable,
  DEFAULT_AUDIT_RETENTION_DAYS,
} from './audit.ts';
import { auditByPatientBackfill, auditByPatientTable, auditByPatientView } from './audit-by-patient.ts';
import { auditCheckpointsTable } from './audit-checkpoints.ts';
import { careRelationshipsTable, groupMembersTable, tenantSettingsTable } from './audit-context.ts';
import {
  AUDIT_PATIENT_INDEX_TABLE,
  auditPatientIndexTable,
  linearIndexViewMigration,
  patientIndexMigration,
  smallGranuleIndexMigration,
  wideIndexMigration,
} from './audit-patient-index.ts';
import {
  AUDIT_REQUESTS_TABLE,
  auditDedupViewRecreate,
  auditRequestsBackfill,
  auditRequestsExpandView,
  auditRequestsTable,
  auditResultCountNullable,
} from './audit-requests.ts';
import {
  INCIDENT_EVENTS_TABLE,
  INCIDENT_OUTBOX_TABLE,
  INCIDENTS_TABLE,
  incidentEventsTable,
  incidentOutboxTable,
  incidentsTable,
} from './incidents.ts';
import { loadtestRunsTable } from './loadtest.ts';
import {
  AUDIT_QUERY_LOG_TABLE,
  auditQueryLogColumnComments,
  auditQueryLogTable,
  auditQueryLogTableComment,
} from './query-log.ts';
import { ident, literal, localName, renderDatabase, renderObject } from './render.ts';
import {
  DEFAULT_TELEMETRY_RETENTION_DAYS,
  LATENCY_ROLLUP_TABLE,
  latencyRollupTable,
  latencyRollupView,
  OTEL_TABLES,
  otelLogsEventName,
  otelLogsTable,
  otelMetricTables,
  otelTracesTable,
  traceIdTsTable,
  traceIdTsView,
} from './telemetry.ts';
import type { RenderOptions, SchemaObject, TableDef } from './types.ts';

export const MIGRATIONS_TABLE = 'fhirwatch_migrations';

export interface SchemaOptions {
  /** Database (default `default`). */
  database?: string;
  /** Cluster name for the cluster variant (e.g. `{cluster}` to use the macro). Unset = single node. */
  cluster?: string;
  /** Audit retention in days (default 7 years). */
  auditRetentionDays?: number;
  /** Telemetry retention in days (default 30). */
  telemetryRetentionDays?: number;
}

export interface ResolvedSchemaOptions extends RenderOptions {
  readonly auditRetentionDays: number;
  readonly telemetryRetentionDays: number;
}

export interface Migration {
  readonly version: number;
  readonly name: string;
  objects(options: ResolvedSchemaOptions): SchemaObject[];
}

export interface RenderedMigration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
  readonly checksum: string;
}

export interface MigrateResult {
  /** Versions applied by this call. */
  applied: number[];
  /** Versions that were already recorded. */
  skipped: number[];
  /** Tables whose TTL was changed to match the retention options. */
  retentionChanged: string[];
}

export function resolveSchemaOptions(options: SchemaOptions = {}): ResolvedSchemaOptions {
  const positive = (value: number | undefined, fallback: number, name: string): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value <= 0) {
      throw new SinkError('FW_SINK_OPTIONS', `${name} must be a positive integer number of days`);
    }
    return value;
  };
  const database = options.database ?? 'default';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new SinkError('FW_SINK_OPTIONS', 'invalid database name');
  return {
    database,
    ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
    auditRetentionDays: positive(options.auditRetentionDays, DEFAULT_AUDIT_RETENTION_DAYS, 'auditRetentionDays'),
    telemetryRetentionDays: positive(
      options.telemetryRetentionDays,
      DEFAULT_TELEMETRY_RETENTION_DAYS,
      'telemetryRetentionDays',
    ),
  };
}

const migrationsTable: TableDef = {
  kind: 'table',
  name: MIGRATIONS_TABLE,
  columns: [
    { name: 'version', type: 'UInt32' },
    { name: 'name', type: 'String' },
    { name: 'checksum', type: 'String' },
    { name: 'applied_at', type: "DateTime64(3, 'UTC')" },
  ],
  engine: 'ReplacingMergeTree',
  orderBy: 'version',
  shardingKey: 'version',
};

/** The migrations, in order. Never edit a released one: add a new version. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit_events',
    objects: (o) => [auditEventsTable(o.auditRetentionDays), auditEventsDedupView],
  },
  {
    version: 2,
    name: 'otel_tables',
    objects: (o) => [
      otelTracesTable(o.telemetryRetentionDays),
      otelLogsTable(o.telemetryRetentionDays),
      ...otelMetricTables(o.telemetryRetentionDays),
    ],
  },
  {
    version: 3,
    name: 'latency_rollup',
    objects: (o) => [latencyRollupTable(o.telemetryRetentionDays), latencyRollupView],
  },
  {
    version: 4,
    name: 'audit_vip_patients',
    objects: () => [auditVipTable],
  },
  {
    version: 5,
    name: 'otel_collector_compat',
    objects: (o) => [otelLogsEventName, traceIdTsTable(o.telemetryRetentionDays), traceIdTsView],
  },
  {
    version: 6,
    name: 'audit_requests',
    objects: (o) => [
      auditResultCountNullable,
      auditDedupViewRecreate,
      auditRequestsTable(o.auditRetentionDays),
      auditRequestsBackfill,
      auditRequestsExpandView,
    ],
  },
  {
    version: 7,
    name: 'loadtest_runs',
    objects: () => [loadtestRunsTable],
  },
  {
    version: 8,
    name: 'audit_tenant_settings_relationships_groups',
    objects: () => [tenantSettingsTable, careRelationshipsTable, groupMembersTable],
  },
  {
    version: 9,
    name: 'audit_query_log',
    objects: (o) => [auditQueryLogTable(o.auditRetentionDays)],
  },
  {
    version: 10,
    name: 'audit_events_by_patient',
    objects: (o) => [auditByPatientTable(o.auditRetentionDays), auditByPatientView, auditByPatientBackfill],
  },
  {
    version: 11,
    name: 'audit_patient_index',
    objects: (o) => patientIndexMigration(o.auditRetentionDays),
  },
  {
    version: 12,
    name: 'audit_incidents',
    objects: (o) => [
      incidentsTable(o.auditRetentionDays),
      incidentEventsTable(o.auditRetentionDays),
      incidentOutboxTable(o.auditRetentionDays),
    ],
  },
  {
    version: 13,
    name: 'audit_query_log_comments',
    objects: () => [auditQueryLogColumnComments, auditQueryLogTableComment],
  },
  {
    version: 14,
    name: 'audit_patient_index_wide',
    objects: (o) => wideIndexMigration(o.auditRetentionDays),
  },
  {
    version: 15,
    name: 'audit_patient_index_small_granules',
    objects: (o) => smallGranuleIndexMigration(o.auditRetentionDays),
  },
  {
    version: 16,
    name: 'audit_patient_index_linear_view',
    objects: () => linearIndexViewMigration(),
  },
];

/** Checksums ignore retention, so changing retention does not look like an edited migration. */
function checksum(migration: Migration, options: ResolvedSchemaOptions): string {
  const canonical = { ...options, auditRetentionDays: 1, telemetryRetentionDays: 1 };
  const text = migration
    .objects(canonical)
    .flatMap((object) => renderObject(object, canonical))
    .join(';\n');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Every migration rendered for the options (what `migrate` would run on an empty store). */
export function renderMigrations(options: SchemaOptions = {}): RenderedMigration[] {
  const resolved = resolveSchemaOptions(options);
  return MIGRATIONS.map((migration) => ({
    version: migration.version,
    name: migration.name,
    statements: migration.objects(resolved).flatMap((object) => renderObject(object, resolved)),
    checksum: checksum(migration, resolved),
  }));
}

/** The full DDL (database, migrations table, every migration) as one SQL script. */
export function renderSchemaScript(options: SchemaOptions = {}): string {
  const resolved = resolveSchemaOptions(options);
  const statements = [
    renderDatabase(resolved),
    ...renderObject(migrationsTable, resolved),
    ...renderMigrations(options).flatMap((migration) => [
      `-- migration ${migration.version}: ${migration.name}`,
      ...migration.statements,
    ]),
  ];
  return statements.map((statement) => (statement.startsWith('--') ? statement : `${statement};`)).join('\n\n') + '\n';
}

const ttlTables = (o: ResolvedSchemaOptions): { name: string; ttl: string }[] => {
  const tables: TableDef[] = [
    auditRequestsTable(o.auditRetentionDays),
    auditPatientIndexTable(o.auditRetentionDays),
    auditCheckpointsTable(o.auditRetentionDays),
    otelTracesTable(o.telemetryRetentionDays),
    otelLogsTable(o.telemetryRetentionDays),
    ...otelMetricTables(o.telemetryRetentionDays),
    latencyRollupTable(o.telemetryRetentionDays),
    traceIdTsTable(o.telemetryRetentionDays),
    auditQueryLogTable(o.auditRetentionDays),
    incidentsTable(o.auditRetentionDays),
    incidentEventsTable(o.auditRetentionDays),
    incidentOutboxTable(o.auditRetentionDays),
  ];
  return tables.map((t) => ({ name: t.name, ttl: t.ttl ?? '' }));
};

/**
 * Bring the store's schema up to date: create the database and the migrations table, apply each migration not
 * yet recorded (in order), then align TTLs with the retention options. Safe to run any number of times.
 */
export async function migrate(client: ClickHouseClient, options: SchemaOptions = {}): Promise<MigrateResult> {
  const resolved = resolveSchemaOptions(options);
  const result: MigrateResult = { applied: [], skipped: [], retentionChanged: [] };
  try {
    if (resolved.database !== 'default') await client.command({ query: renderDatabase(resolved) });
    for (const statement of renderObject(migrationsTable, resolved)) await client.command({ query: statement });
    const done = await appliedVersions(client, resolved);
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) {
        result.skipped.push(migration.version);
        continue;
      }
      for (const object of migration.objects(resolved)) {
        for (const statement of renderObject(object, resolved)) await client.command({ query: statement });
      }
      await client.insert({
        table: `${ident(resolved.database)}.${ident(MIGRATIONS_TABLE)}`,
        values: [
          {
            version: migration.version,
            name: migration.name,
            checksum: checksum(migration, resolved),
            applied_at: Date.now(),
          },
        ],
        format: 'JSONEachRow',
      });
      result.applied.push(migration.version);
    }
    for (const { name, ttl } of ttlTables(resolved)) {
      const physical = resolved.cluster === undefined ? name : localName(name);
      if (await alignTtl(client, resolved, physical, ttl)) result.retentionChanged.push(name);
    }
  } catch (error) {
    if (error instanceof SinkError) throw error;
    throw new SinkError('FW_SINK_MIGRATE', `migration failed: ${(error as Error).message}`, { cause: error });
  }
  return result;
}

/** Versions recorded in fhirwatch_migrations. */
export async function appliedVersions(
  client: ClickHouseClient,
  options: SchemaOptions | ResolvedSchemaOptions = {},
): Promise<Set<number>> {
  const database = options.database ?? 'default';
  const rows = await (
    await client.query({
      query: `SELECT DISTINCT version FROM ${ident(database)}.${ident(MIGRATIONS_TABLE)} ORDER BY version`,
      format: 'JSONEachRow',
    })
  ).json<{ version: number }>();
  return new Set(rows.map((row) => Number(row.version)));
}

async function alignTtl(
  client: ClickHouseClient,
  options: ResolvedSchemaOptions,
  table: string,
  ttl: string,
): Promise<boolean> {
  const rows = await (
    await client.query({
      query: `SELECT create_table_query FROM system.tables WHERE database = ${literal(options.database)} AND name = ${literal(table)}`,
      format: 'JSONEachRow',
    })
  ).json<{ create_table_query: string }>();
  const current = rows[0]?.create_table_query;
  const days = /toIntervalDay\((\d+)\)/.exec(ttl)?.[1];
  if (current === undefined || days === undefined || current.includes(`toIntervalDay(${days})`)) return false;
  const cluster = options.cluster === undefined ? '' : ` ON CLUSTER ${literal(options.cluster)}`;
  await client.command({
    query: `ALTER TABLE ${ident(options.database)}.${ident(table)}${cluster} MODIFY TTL ${ttl}`,
    clickhouse_settings: { materialize_ttl_after_modify: 0 },
  });
  return true;
}

export {
  AUDIT_PATIENT_INDEX_TABLE,
  AUDIT_QUERY_LOG_TABLE,
  AUDIT_REQUESTS_TABLE,
  AUDIT_TABLE,
  INCIDENT_EVENTS_TABLE,
  INCIDENT_OUTBOX_TABLE,
  INCIDENTS_TABLE,
  LATENCY_ROLLUP_TABLE,
  OTEL_TABLES,
};
