/**
 * Every panel's SQL, expanded as the Grafana ClickHouse data source would expand it, runs against real chDB
 * loaded with generated data and returns the columns the panel declares (names, order, kinds) with rows.
 */

import { DATASET_TENANTS } from '@fhirwatch/clickhouse-sink/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandMacros, type MacroContext } from '../src/macros.ts';
import { PANELS, type PanelBoard, type PanelColumnType, type PanelDef, VARIABLES } from '../src/panels.ts';
import { loadPanelStore, type PanelStore } from './store-fixture.ts';

let store: PanelStore;

beforeAll(async () => {
  store = await loadPanelStore('panels');
}, 180_000);

afterAll(async () => {
  await store?.close();
});

/** The range each board is looked at with: the telemetry's last half hour, the audit dataset, the runs' day. */
function contextFor(board: PanelBoard, vars: MacroContext['vars'] = {}): MacroContext {
  const now = store.now.getTime();
  switch (board) {
    case 'sre':
      return { from: new Date(now - 40 * 60_000), to: new Date(now + 60_000), intervalSeconds: 60, vars };
    case 'compliance':
      return { from: store.auditFrom, to: store.auditTo, intervalSeconds: 86_400, vars };
    case 'loadtests':
      return { from: new Date(now - 86_400_000), to: new Date(now + 60_000), intervalSeconds: 3600, vars };
  }
}

interface Result {
  meta: { name: string; type: string }[];
  data: unknown[][];
}

async function run(sql: string): Promise<Result> {
  const result = await store.client.query({ query: sql, format: 'JSONCompact' });
  return (await result.json()) as unknown as Result;
}

const KIND: Record<PanelColumnType, RegExp> = {
  time: /^(Nullable\()?(DateTime|DateTime64|Date|Date32)\b/,
  number: /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/,
  string: /^(Nullable\()?(LowCardinality\()?(String|FixedString)/,
};

function columnIndex(result: Result, name: string): number {
  const index = result.meta.findIndex((m) => m.name === name);
  expect(index, `column ${name}`).toBeGreaterThanOrEqual(0);
  return index;
}

describe('every panel against chDB with generated data', () => {
  it.each(PANELS.map((panel) => [panel.id, panel] as [string, PanelDef]))(
    '%s returns its columns and rows',
    async (_id, panel) => {
      const result = await run(expandMacros(panel.sql, contextFor(panel.board)));
      expect(result.meta.map((m) => m.name)).toEqual(panel.columns.map((c) => c.name));
      panel.columns.forEach((column, i) => {
        expect(result.meta[i]!.type, `${panel.id}.${column.name}`).toMatch(KIND[column.type]);
      });
      expect(result.data.length, `${panel.id} rows`).toBeGreaterThan(0);
      if (panel.chart === 'timeseries' || panel.chart === 'bar') {
        expect(panel.columns[0]!.type).toBe('time');
        // numbers are finite (no NaN from a 0/0)
        for (const row of result.data) {
          panel.columns.forEach((column, i) => {
            if (column.type === 'number')
              expect(Number.isFinite(Number(row[i])), `${panel.id}.${column.name}`).toBe(true);
          });
        }
      }
    },
  );

  it('a tenant selection keeps only that tenant (SRE and compliance)', async () => {
    const tenant = DATASET_TENANTS[1]!.id;
    for (const id of [
      'sre-requests-per-tenant',
      'sre-latency-per-tenant',
      'sre-interaction-summary',
      'compliance-top-users',
    ]) {
      const panel = PANELS.find((p) => p.id === id)!;
      const all = await run(expandMacros(panel.sql, contextFor(panel.board)));
      const one = await run(expandMacros(panel.sql, contextFor(panel.board, { tenant: [tenant] })));
      const at = columnIndex(one, 'tenant');
      expect(new Set(all.data.map((row) => row[at])).size, id).toBeGreaterThan(1);
      expect(one.data.length, id).toBeGreaterThan(0);
      expect(new Set(one.data.map((row) => row[at])), id).toEqual(new Set([tenant]));
    }
  });

  it('an interaction selection keeps only that interaction', async () => {
    const panel = PANELS.find((p) => p.id === 'sre-interaction-latency')!;
    const result = await run(expandMacros(panel.sql, contextFor('sre', { interaction: ['read', 'batch'] })));
    const at = columnIndex(result, 'interaction');
    expect(new Set(result.data.map((row) => row[at]))).toEqual(new Set(['read', 'batch']));
  });

  it('requests/s adds up to the generated server spans', async () => {
    const panel = PANELS.find((p) => p.id === 'sre-requests-per-tenant')!;
    const ctx = contextFor('sre');
    const result = await run(expandMacros(panel.sql, ctx));
    const total = result.data.reduce((sum, row) => sum + Number(row[2]) * ctx.intervalSeconds, 0);
    expect(Math.round(total)).toBe(store.telemetry.counts.serverSpans);
  });

  it('the per-hop split has all three hops', async () => {
    const panel = PANELS.find((p) => p.id === 'sre-hop-latency')!;
    const result = await run(expandMacros(panel.sql, contextFor('sre')));
    expect(new Set(result.data.map((row) => row[1]))).toEqual(new Set(['gateway', 'provider', 'token']));
  });

  it('audit pipeline panels show every agreed metric', async () => {
    const backlog = await run(
      expandMacros(PANELS.find((p) => p.id === 'sre-audit-pipeline-backlog')!.sql, contextFor('sre')),
    );
    expect(new Set(backlog.data.map((row) => row[1]))).toEqual(
      new Set(['fhirwatch.audit.spool.depth', 'fhirwatch.audit.spool.age', 'fhirwatch.audit.ship.lag']),
    );
    const rates = await run(
      expandMacros(PANELS.find((p) => p.id === 'sre-audit-pipeline-rates')!.sql, contextFor('sre')),
    );
    const series = new Set(rates.data.map((row) => row[1]));
    expect(series).toContain('fhirwatch.sink.ingest.rows audit_events');
    expect(series).toContain('fhirwatch.sink.ingest.rows otel_traces');
    // records the gateway could not spool, split as the middleware reports them (refused vs dropped)
    expect(series).toContain('fhirwatch.audit.records.rejected refused');
    expect(series).toContain('fhirwatch.audit.records.rejected dropped');
    // a cumulative counter differenced per series: never negative
    for (const row of rates.data) expect(Number(row[2])).toBeGreaterThanOrEqual(0);
  });

  it('the chain panel sees every writer with no gaps in an intact store', async () => {
    const panel = PANELS.find((p) => p.id === 'compliance-chain-inputs')!;
    // the whole dataset, so each writer's chain is complete from seq 1
    const result = await run(
      expandMacros(panel.sql, { ...contextFor('compliance'), from: new Date(store.auditFrom.getTime() - 86_400_000) }),
    );
    const writers = new Set(store.dataset.records.map((r) => r.recorded_by));
    expect(new Set(result.data.map((row) => row[0]))).toEqual(writers);
    for (const row of result.data) {
      expect(Number(row[2]), 'first_seq').toBe(1);
      expect(Number(row[4]), 'missing_seqs').toBe(0);
      expect(Number(row[5]), 'forked_seqs').toBe(0);
    }
  });

  it('load-test panels show the runs and their verdicts', async () => {
    const runs = await run(expandMacros(PANELS.find((p) => p.id === 'loadtests-runs')!.sql, contextFor('loadtests')));
    expect(runs.data.length).toBe(store.loadtestRuns);
    const verdict = columnIndex(runs, 'verdict');
    const slos = columnIndex(runs, 'slos');
    const failed = runs.data.filter((row) => row[verdict] === 'FAIL');
    expect(failed.length).toBe(2);
    for (const row of failed) expect(row[slos]).toContain('p95 latency (ms) ✗');
    const misses = await run(
      expandMacros(PANELS.find((p) => p.id === 'loadtests-slo-misses')!.sql, contextFor('loadtests')),
    );
    expect(misses.data[0]).toEqual(['p95 latency (ms)', 6, 2, 500, 820]);
  });

  it('the template variable queries list the tenants and interactions', async () => {
    const ctx = contextFor('compliance');
    const wide: MacroContext = { ...ctx, to: new Date(store.now.getTime() + 60_000) };
    const tenants = await run(expandMacros(VARIABLES.find((v) => v.name === 'tenant')!.sql, wide));
    expect(tenants.data.map((row) => row[0])).toEqual(DATASET_TENANTS.map((t) => t.id).sort());
    const interactions = await run(expandMacros(VARIABLES.find((v) => v.name === 'interaction')!.sql, wide));
    expect(interactions.data.map((row) => row[0])).toEqual(expect.arrayContaining(['batch', 'read', 'search-type']));
  });
});
