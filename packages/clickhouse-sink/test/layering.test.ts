/**
 * The sink's parts depend one way (ARCHITECTURE.md): store ← compliance ← incidents ← query-api ← ingest (which mounts the
 * query API); nothing imports the test data generator except tests. Read from the sources' import lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src/', import.meta.url));
const PARTS = ['store', 'ingest', 'compliance', 'incidents', 'query-api', 'testing'] as const;
/** What each part may import from the others. */
const ALLOWED: Record<(typeof PARTS)[number], readonly string[]> = {
  store: [],
  compliance: ['store'],
  incidents: ['store', 'compliance'],
  'query-api': ['store', 'compliance', 'incidents'],
  ingest: ['store', 'query-api', 'incidents'],
  testing: ['store', 'compliance'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const partOf = (file: string): string => relative(src, file).split('/')[0] ?? '';

describe('sink layering', () => {
  it('each part imports only the parts below it', () => {
    const wrong: string[] = [];
    for (const file of files(src)) {
      const part = partOf(file) as (typeof PARTS)[number];
      if (!PARTS.includes(part)) continue;
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = partOf(resolve(file, '..', spec as string));
        if (target === part || !PARTS.includes(target as never)) continue;
        if (!ALLOWED[part].includes(target)) wrong.push(`${relative(src, file)} → ${spec}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the main export does not ship the test data generator', async () => {
    const main = (await import('../src/index.ts')) as Record<string, unknown>;
    const testing = (await import('../src/testing/index.ts')) as Record<string, unknown>;
    expect(Object.keys(testing).length).toBeGreaterThan(0);
    expect(Object.keys(testing).filter((name) => name in main)).toEqual([]);
  });
});
