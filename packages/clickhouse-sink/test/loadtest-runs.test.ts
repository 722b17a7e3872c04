/** Migration 7 (`loadtest_runs`) and insertLoadtestRun on a real chDB store. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate, openStore } from '../src/index.ts';
import { insertLoadtestRun } from '../src/ingest/index.ts';
import { LOADTEST_RUNS_TABLE } from '../src/store/index.ts';

let dir: string;
let client: ClickHouseClient;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-loadtest-'));
  client = openStore({ path: dir });
  await migrate(client);
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Relative to now: loadtest_runs has the 30-day telemetry TTL, so a fixed date would expire under the test. */
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 86_400_000;

it('stores a run with its verdicts and report, and reads it back in order', async () => {
  const verdicts = [{ name: 'list-refresh p95', threshold: '<= 2000 ms', observed: 812.5, passed: true }];
  for (const [i, passed] of [true, false].entries()) {
    await insertLoadtestRun(client, {
      runId: `run-${i}`,
      startedAt: new Date(T0 + i * 60_000),
      finishedAt: new Date(T0 + i * 60_000 + 30_000),
      scenario: 'list-refresh',
      engine: 'open',
      target: 'http://127.0.0.1:8080/tenant',
      tenantId: '9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
      fhirVersion: 'STU3',
      passed,
      sloVerdicts: verdicts,
      requests: 300 + i,
      errors: i,
      droppedIterations: 0,
      throughputRps: 10.25,
      p50Ms: 100.5,
      p95Ms: 812.5,
      p99Ms: 1200,
      report: { runId: `run-${i}`, totals: { requests: 300 + i } },
    });
  }
  const rows = await (
    await client.query({
      query: `SELECT run_id, toUnixTimestamp64Milli(started_at) AS started, passed, slo_verdicts, requests, p95_ms, report FROM ${LOADTEST_RUNS_TABLE} ORDER BY started_at`,
      format: 'JSONEachRow',
    })
  ).json<{
    run_id: string;
    started: string;
    passed: number;
    slo_verdicts: string;
    requests: string;
    p95_ms: number;
    report: string;
  }>();
  expect(rows.map((r) => [r.run_id, Number(r.started), r.passed, Number(r.requests), r.p95_ms])).toEqual([
    ['run-0', T0, 1, 300, 812.5],
    ['run-1', T0 + 60_000, 0, 301, 812.5],
  ]);
  expect(JSON.parse(rows[0]!.slo_verdicts)).toEqual(verdicts);
  expect(JSON.parse(rows[1]!.report)).toEqual({ runId: 'run-1', totals: { requests: 301 } });
});
