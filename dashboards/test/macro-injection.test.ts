// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana ${var} syntax in SQL strings, not JS templates
/**
 * Issue 15, defect 4: a dashboard variable value must stay a string literal, whatever it holds. Checked on
 * real chDB: ClickHouse's own parser (`EXPLAIN AST`) must see the same query structure for a hostile value as
 * for a plain one (only the literal differs), and `SELECT <literal>` must give the value back unchanged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { openStore } from '@fhirwatch/clickhouse-sink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandMacros, type MacroContext } from '../src/macros.ts';
import { PANELS, VARIABLES } from '../src/panels.ts';

let dir: string;
let client: ClickHouseClient;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-dash-inject-'));
  client = openStore({ path: join(dir, 'store') });
});
afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (vars: MacroContext['vars']): MacroContext => ({
  from: new Date('2026-11-30T10:00:00Z'),
  to: new Date('2026-11-30T11:00:00Z'),
  intervalSeconds: 60,
  vars,
});

/** ClickHouse's parse of `sql`, with every literal's value blanked: the query's structure. */
async function structure(sql: string): Promise<string> {
  const result = await client.query({ query: `EXPLAIN AST ${sql}`, format: 'TabSeparatedRaw' });
  const text = await result.text();
  return text.replace(/Literal .*/g, 'Literal');
}

/** Variables a SQL text uses (`${name}` or `$name`, not `$__` macros). */
function variablesOf(sql: string): string[] {
  const names = new Set<string>();
  for (const m of sql.matchAll(/\$\{(\w+)\}|\$(?!__)([A-Za-z_]\w*)/g)) names.add((m[1] ?? m[2]) as string);
  return [...names];
}

/** The exact payload of the issue (with a real newline and with the two characters `\n`). */
const ISSUE_PAYLOADS = ["$__timeFilter(1 --'\n) OR 1=1 --", "$__timeFilter(1 --'\\n) OR 1=1 --"];

/** A deterministic generator (mulberry32): the same cases on every run, so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "'",
  "''",
  '\\',
  "\\'",
  '"',
  '`',
  '$__timeFilter(',
  '$__timeFilter(x)',
  '$__conditionalAll(',
  '$__fromTime',
  '$__interval_s',
  '$tenant',
  '${interaction}',
  '$__unknown',
  ')',
  '(',
  ',',
  '\n',
  '\r\n',
  '\t',
  '\0',
  '--',
  '/*',
  '*/',
  '#',
  ';',
  ' OR 1=1 ',
  'UNION ALL SELECT 1',
  'é',
  '🩺',
  'a',
  '0',
];

function hostileValue(next: () => number): string {
  const n = 1 + Math.floor(next() * 8);
  let out = '';
  for (let i = 0; i < n; i++) out += PIECES[Math.floor(next() * PIECES.length)];
  return out;
}

/** Every SQL text that takes variables: the panels and the variable queries. */
const TEMPLATES = [
  ...PANELS.map((p) => ({ id: p.id, sql: p.sql })),
  ...VARIABLES.map((v) => ({ id: `variable:${v.name}`, sql: v.sql })),
].filter((t) => variablesOf(t.sql).length > 0);

describe('dashboard variables cannot leave their literal (defect 4)', () => {
  it('the panels take variables (the fuzz below has something to test)', () => {
    expect(TEMPLATES.length).toBeGreaterThan(5);
  });

  it("the issue's payload stays one literal: same AST as a plain value, and the value comes back unchanged", async () => {
    const panel = TEMPLATES.find((t) => variablesOf(t.sql).includes('tenant'));
    expect(panel).toBeDefined();
    for (const payload of ISSUE_PAYLOADS) {
      const vars = Object.fromEntries(variablesOf(panel!.sql).map((name) => [name, ['plain']]));
      const plain = expandMacros(panel!.sql, ctx(vars));
      const hostile = expandMacros(panel!.sql, ctx({ ...vars, tenant: [payload] }));
      expect(await structure(hostile)).toBe(await structure(plain));
      // the literal holds the payload byte for byte
      const literal = expandMacros('SELECT ${tenant} AS v', ctx({ tenant: [payload] }));
      const result = await client.query({ query: literal, format: 'JSONEachRow' });
      expect(await result.json()).toEqual([{ v: payload }]);
    }
  });

  it('fuzz: random values with quotes, backslashes, macros, newlines and comments in every variable of every panel', async () => {
    const next = random(15);
    let cases = 0;
    for (const template of TEMPLATES) {
      const names = variablesOf(template.sql);
      for (let round = 0; round < 6; round++) {
        const hostile: Record<string, string[]> = {};
        const plain: Record<string, string[]> = {};
        for (const name of names) {
          const count = 1 + Math.floor(next() * 3);
          hostile[name] = Array.from({ length: count }, () => hostileValue(next));
          plain[name] = Array.from({ length: count }, (_, i) => `plain${i}`);
        }
        const sql = expandMacros(template.sql, ctx(hostile));
        expect(await structure(sql), `${template.id} with ${JSON.stringify(hostile)}`).toBe(
          await structure(expandMacros(template.sql, ctx(plain))),
        );
        cases++;
      }
    }
    expect(cases).toBe(TEMPLATES.length * 6);
  }, 120_000);

  it('fuzz: every generated value comes back from ClickHouse unchanged', async () => {
    const next = random(4);
    const values = Array.from({ length: 200 }, () => hostileValue(next));
    const sql = expandMacros('SELECT arrayJoin([${v}]) AS v', ctx({ v: values }));
    const result = await client.query({ query: sql, format: 'JSONEachRow' });
    expect(((await result.json()) as { v: string }[]).map((r) => r.v)).toEqual(values);
  });
});
