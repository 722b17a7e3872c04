/**
 * Create the compliance side tables (migration 8's objects) when a store has not been migrated yet, as the VIP
 * list does: the same rendered DDL as the migration (single node), `IF NOT EXISTS`, once per client.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { resolveSchemaOptions } from '../schema/migrations.ts';
import { renderObject } from '../schema/render.ts';
import type { TableDef } from '../schema/types.ts';

const done = new WeakMap<ClickHouseClient, Set<string>>();

export async function ensureTables(client: ClickHouseClient, tables: readonly TableDef[]): Promise<void> {
  const seen = done.get(client) ?? new Set<string>();
  done.set(client, seen);
  for (const table of tables) {
    if (seen.has(table.name)) continue;
    for (const statement of renderObject(table, resolveSchemaOptions())) await client.command({ query: statement });
    seen.add(table.name);
  }
}
