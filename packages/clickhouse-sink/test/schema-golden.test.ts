import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.ts';
import { renderMigrations, renderSchemaScript } from '../src/store/index.ts';

const golden = (name: string): string => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const variants = [
  { file: 'schema.single.sql', options: {} },
  { file: 'schema.cluster.sql', options: { cluster: '{cluster}', database: 'fhirwatch' } },
] as const;

let dir: string;
let client: ClickHouseClient;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-golden-'));
  client = openStore({ path: dir });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rendered DDL', () => {
  for (const { file, options } of variants) {
    it(`${file} matches the golden file (UPDATE_GOLDEN=1 rewrites it)`, () => {
      const script = renderSchemaScript(options);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden(file), script);
      expect(script).toBe(readFileSync(golden(file), 'utf8'));
    });

    it(`every statement of ${file} parses in ClickHouse (EXPLAIN AST)`, async () => {
      const statements = renderMigrations(options).flatMap((m) => m.statements);
      expect(statements.length).toBeGreaterThan(10);
      for (const statement of statements) {
        const ast = await (await client.query({ query: `EXPLAIN AST ${statement}`, format: 'TabSeparatedRaw' })).text();
        // DDL, plus migration 6's ALTER (result_count nullable), the one-time backfills of migrations 6, 10, 11
        // and 14, and migration 11's DROPs of what it replaces (14's of the index it rebuilds)
        expect(ast).toMatch(
          statement.startsWith('INSERT INTO')
            ? /InsertQuery/
            : statement.startsWith('DROP ')
              ? /DropQuery/
              : /Create(Query|ViewQuery)|CreateQuery|AlterQuery/,
        );
      }
    });
  }

  it('the cluster variant uses ON CLUSTER, Replicated engines with shard/replica macros and tenant-sharded Distributed tables', () => {
    const statements = renderMigrations({ cluster: '{cluster}' }).flatMap((m) => m.statements);
    // every statement but the six backfills (INSERT … SELECT: migration 6's, 11's two, 14's and 15's run on the
    // node that migrates, migration 10's between Distributed tables) runs ON CLUSTER
    const ddl = statements.filter((s) => !s.startsWith('INSERT INTO'));
    expect(ddl.length).toBe(statements.length - 6);
    expect(ddl.every((s) => s.includes("ON CLUSTER '{cluster}'"))).toBe(true);
    const tables = statements.filter((s) => s.startsWith('CREATE TABLE') && !s.includes('Distributed('));
    expect(tables.length).toBeGreaterThan(8);
    for (const table of tables)
      expect(table).toMatch(/ENGINE = Replicated\w*MergeTree\('\/clickhouse\/tables\/\{shard\}\/[^']+', '\{replica\}'/);
    const distributed = statements.filter((s) => s.includes('Distributed('));
    expect(distributed.length).toBe(tables.length);
    expect(distributed.find((s) => s.includes('`audit_events_local`'))).toContain('cityHash64(tenant_id)');
    expect(statements.find((s) => s.includes('MATERIALIZED VIEW'))).toContain('FROM `default`.`otel_traces_local`');
  });
});
