/**
 * Create the compliance side tables (migration 8's objects) when a store has not been migrated yet, as the VIP
 * list does: the same rendered DDL as the migration (single node), `IF NOT EXISTS`, once per client.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { resolveSchemaOptions } from './schema/migrations.ts';
import { renderObject } from './schema/render.ts';
import type { TableDef } from './schema/types.ts';

const done = new WeakMap<ClickHouseClient, Set<string>>();

/** ClickHouse's UNKNOWN_TABLE (code 60), as chDB and a server report it. */
function isUnknownTable(error: unknown): boolean {
  const e = error as { code?: unknown; type?: unknown; message?: unknown };
  return String(e.code) === '60' || e.type === 'UNKNOWN_TABLE' || /UNKNOWN_TABLE|Code: 60\b/.test(String(e.message));
}

/**
 * Run a read; if a side table is missing (a store not migrated to version 8), create the tables and run it once
 * more. A migrated store pays no DDL on the read path (a report is one short command: every query counts).
 */
export async function readWithTables<T>(
  client: ClickHouseClient,
  tables: readonly TableDef[],
  read: () => Promise<T>,
): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!isUnknownTable(error)) throw error;
    // the table is gone (never created, or dropped since): forget that it was created
    for (const table of tables) done.get(client)?.delete(table.name);
    await ensureTables(client, tables);
    return read();
  }
}

export async function ensureTables(client: ClickHouseClient, tables: readonly TableDef[]): Promise<void> {
  const seen = done.get(client) ?? new Set<string>();
  done.set(client, seen);
  for (const table of tables) {
    if (seen.has(table.name)) continue;
    for (const statement of renderObject(table, resolveSchemaOptions())) await client.command({ query: statement });
    seen.add(table.name);
  }
}
