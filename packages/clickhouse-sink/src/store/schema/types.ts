/** DDL as data: one definition per table / view, rendered to the single-node or the cluster variant. */

export interface ColumnDef {
  readonly name: string;
  /** ClickHouse type, e.g. `LowCardinality(String)`. */
  readonly type: string;
  /** `DEFAULT expr`, `MATERIALIZED expr` or `ALIAS expr` (whole clause). */
  readonly expression?: string;
  /** `CODEC(...)` (whole clause). */
  readonly codec?: string;
  readonly comment?: string;
}

export type EngineKind = 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree';

export interface TableDef {
  readonly kind: 'table';
  readonly name: string;
  readonly columns: readonly ColumnDef[];
  /** `INDEX name expr TYPE t GRANULARITY g` bodies (without the leading `INDEX`). */
  readonly indexes?: readonly string[];
  /** `PROJECTION name (SELECT …)` bodies (without the leading `PROJECTION`). */
  readonly projections?: readonly string[];
  readonly engine: EngineKind;
  /** Engine arguments (e.g. the version column of a ReplacingMergeTree). */
  readonly engineArgs?: readonly string[];
  readonly partitionBy?: string;
  readonly primaryKey?: string;
  readonly orderBy: string;
  /** TTL clause body (without `TTL`), resolved from the options. */
  readonly ttl?: string;
  readonly settings?: Readonly<Record<string, string | number>>;
  /** Distributed sharding key in the cluster variant. */
  readonly shardingKey: string;
  readonly comment?: string;
}

export interface MaterializedViewDef {
  readonly kind: 'materialized-view';
  readonly name: string;
  /** Target table (a TableDef name). */
  readonly to: string;
  /** Source table (a TableDef name); in the cluster variant the MV reads the shard-local table. */
  readonly from: string;
  /** SELECT with `{from}` where the source table goes. */
  readonly select: string;
}

export interface ViewDef {
  readonly kind: 'view';
  readonly name: string;
  /** SELECT with `{table:<name>}` placeholders for the tables it reads (the Distributed table in a cluster). */
  readonly select: string;
}

/**
 * `ALTER TABLE … ADD COLUMN IF NOT EXISTS` for a table an earlier migration created (released migrations are
 * never edited). In the cluster variant both the shard-local table and the Distributed table get the column.
 */
export interface AddColumnsDef {
  readonly kind: 'add-columns';
  /** The table (a TableDef name). */
  readonly table: string;
  /** Columns to add, each optionally placed `after` an existing column. */
  readonly columns: readonly (ColumnDef & { readonly after?: string })[];
}

/**
 * A statement that is not a plain CREATE … IF NOT EXISTS (an ALTER, a backfill INSERT … SELECT, a view
 * re-created). `{table}` / `{table2}` (each as often as needed) stand for `tables[0]` / `tables[1]`. Cluster variant, by `scope`:
 * `both` (default: an ALTER) runs ON CLUSTER on the shard-local and on the Distributed table; `local` reads and
 * writes the shard-local tables of the node it runs on; `distributed` runs once ON CLUSTER (`{table}` gets the
 * ON CLUSTER clause) over the Distributed names (a plain view); `shards` runs ON CLUSTER on the shard-local tables
 * only (an ALTER a Distributed table does not take: a projection, a table setting).
 */
export interface StatementDef {
  readonly kind: 'statement';
  readonly name: string;
  readonly tables: readonly string[];
  readonly sql: string;
  readonly scope?: 'both' | 'local' | 'distributed' | 'shards';
}

/**
 * `INSERT INTO <into> (<columns>) SELECT <columns> FROM <from>`: copies the rows a new materialized view did not
 * see (they were stored before it existed). Runs once, with the migration that declares it.
 */
export interface BackfillDef {
  readonly kind: 'backfill';
  /** Target table (a TableDef name). */
  readonly into: string;
  /** Source table (a TableDef name). */
  readonly from: string;
  readonly columns: readonly string[];
}

export type SchemaObject = TableDef | MaterializedViewDef | ViewDef | AddColumnsDef | StatementDef | BackfillDef;

export interface RenderOptions {
  /** Database the objects live in (default `default`). */
  readonly database: string;
  /** Render the cluster variant: `ON CLUSTER`, Replicated engines, Distributed tables. Unset = single node. */
  readonly cluster?: string;
}
