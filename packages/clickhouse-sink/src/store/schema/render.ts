/**
 * Render schema definitions to DDL. Single node: plain MergeTree-family tables. Cluster: for each table a
 * shard-local `<name>_local` with the Replicated engine (`{shard}` / `{replica}` macros) plus a Distributed
 * `<name>` sharded by the table's tenant hash, every statement `ON CLUSTER`; materialized views read and write
 * the shard-local tables; plain views read the Distributed ones. Both variants come from the same definitions.
 */
import type {
  AddColumnsDef,
  BackfillDef,
  ColumnDef,
  MaterializedViewDef,
  RenderOptions,
  SchemaObject,
  StatementDef,
  TableDef,
  ViewDef,
} from './types.ts';

/** Quote an identifier with backticks. */
export function ident(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** Quote a string literal. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Name of the shard-local table behind a Distributed table in the cluster variant. */
export function localName(name: string): string {
  return `${name}_local`;
}

function qualified(options: RenderOptions, name: string): string {
  return `${ident(options.database)}.${ident(name)}`;
}

function onCluster(options: RenderOptions): string {
  return options.cluster === undefined ? '' : ` ON CLUSTER ${literal(options.cluster)}`;
}

function column(def: ColumnDef): string {
  const parts = [ident(def.name), def.type];
  if (def.expression !== undefined) parts.push(def.expression);
  if (def.comment !== undefined) parts.push(`COMMENT ${literal(def.comment)}`);
  if (def.codec !== undefined) parts.push(def.codec);
  return parts.join(' ');
}

function engine(def: TableDef, options: RenderOptions, physicalName: string): string {
  const args = [...(def.engineArgs ?? [])];
  if (options.cluster === undefined) return `${def.engine}(${args.join(', ')})`;
  const zkPath = literal(`/clickhouse/tables/{shard}/${options.database}/${physicalName}`);
  return `Replicated${def.engine}(${[zkPath, literal('{replica}'), ...args].join(', ')})`;
}

function tableStatement(def: TableDef, options: RenderOptions): string {
  const physicalName = options.cluster === undefined ? def.name : localName(def.name);
  const body = [
    ...def.columns.map(column),
    ...(def.indexes ?? []).map((index) => `INDEX ${index}`),
    ...(def.projections ?? []).map((projection) => `PROJECTION ${projection}`),
  ];
  const lines = [
    `CREATE TABLE IF NOT EXISTS ${qualified(options, physicalName)}${onCluster(options)}`,
    `(\n    ${body.join(',\n    ')}\n)`,
    `ENGINE = ${engine(def, options, physicalName)}`,
  ];
  if (def.partitionBy !== undefined) lines.push(`PARTITION BY ${def.partitionBy}`);
  if (def.primaryKey !== undefined) lines.push(`PRIMARY KEY ${def.primaryKey}`);
  lines.push(`ORDER BY ${def.orderBy}`);
  if (def.ttl !== undefined) lines.push(`TTL ${def.ttl}`);
  const settings = Object.entries(def.settings ?? {});
  if (settings.length > 0) lines.push(`SETTINGS ${settings.map(([key, value]) => `${key} = ${value}`).join(', ')}`);
  if (def.comment !== undefined) lines.push(`COMMENT ${literal(def.comment)}`);
  return lines.join('\n');
}

function distributedStatement(def: TableDef, options: RenderOptions & { cluster: string }): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(options, def.name)}${onCluster(options)}`,
    `AS ${qualified(options, localName(def.name))}`,
    `ENGINE = Distributed(${literal(options.cluster)}, ${literal(options.database)}, ${literal(localName(def.name))}, ${def.shardingKey})`,
  ].join('\n');
}

function materializedViewStatement(def: MaterializedViewDef, options: RenderOptions): string {
  const cluster = options.cluster !== undefined;
  const target = cluster ? localName(def.to) : def.to;
  const source = cluster ? localName(def.from) : def.from;
  return [
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(options, def.name)}${onCluster(options)}`,
    `TO ${qualified(options, target)}`,
    `AS ${def.select.replace('{from}', qualified(options, source))}`,
  ].join('\n');
}

function viewStatement(def: ViewDef, options: RenderOptions): string {
  const select = def.select.replace(/\{table:([A-Za-z0-9_]+)\}/g, (_match, name: string) => qualified(options, name));
  return `CREATE VIEW IF NOT EXISTS ${qualified(options, def.name)}${onCluster(options)}\nAS ${select}`;
}

function addColumnsStatements(def: AddColumnsDef, options: RenderOptions): string[] {
  const adds = def.columns
    .map((c) => `ADD COLUMN IF NOT EXISTS ${column(c)}${c.after === undefined ? '' : ` AFTER ${ident(c.after)}`}`)
    .join(',\n    ');
  const alter = (table: string): string => `ALTER TABLE ${qualified(options, table)}${onCluster(options)}\n    ${adds}`;
  // the shard-local table first: the Distributed table's structure must stay a subset of it
  return options.cluster === undefined ? [alter(def.table)] : [alter(localName(def.table)), alter(def.table)];
}

function statements(def: StatementDef, options: RenderOptions): string[] {
  const fill = (name: (table: string) => string): string =>
    def.sql.replaceAll('{table2}', name(def.tables[1] ?? '')).replaceAll('{table}', name(def.tables[0] ?? ''));
  if (options.cluster === undefined) return [fill((t) => qualified(options, t))];
  if (def.scope === 'local') return [fill((t) => qualified(options, localName(t)))];
  if (def.scope === 'shards') return [fill((t) => `${qualified(options, localName(t))}${onCluster(options)}`)];
  if (def.scope === 'distributed') {
    const first = def.tables[0] ?? '';
    return [fill((t) => (t === first ? `${qualified(options, t)}${onCluster(options)}` : qualified(options, t)))];
  }
  return [
    fill((t) => `${qualified(options, localName(t))}${onCluster(options)}`),
    fill((t) => `${qualified(options, t)}${onCluster(options)}`),
  ];
}

/**
 * The backfill of a new table from its source. Cluster: Distributed to Distributed (both sharded by the same
 * tenant hash, so each row lands on the shard its source row is on).
 */
function backfillStatement(def: BackfillDef, options: RenderOptions): string {
  const columns = def.columns.map(ident).join(', ');
  return `INSERT INTO ${qualified(options, def.into)} (${columns})\nSELECT ${columns} FROM ${qualified(options, def.from)}`;
}

/** The DDL statements of one schema object, in execution order. */
export function renderObject(def: SchemaObject, options: RenderOptions): string[] {
  switch (def.kind) {
    case 'table':
      return options.cluster === undefined
        ? [tableStatement(def, options)]
        : [tableStatement(def, options), distributedStatement(def, { ...options, cluster: options.cluster })];
    case 'materialized-view':
      return [materializedViewStatement(def, options)];
    case 'view':
      return [viewStatement(def, options)];
    case 'add-columns':
      return addColumnsStatements(def, options);
    case 'statement':
      return statements(def, options);
    case 'backfill':
      return [backfillStatement(def, options)];
  }
}

/** The `CREATE DATABASE` statement for the options. */
export function renderDatabase(options: RenderOptions): string {
  return `CREATE DATABASE IF NOT EXISTS ${ident(options.database)}${onCluster(options)}`;
}
