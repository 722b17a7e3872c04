/** Write one load-test run into `loadtest_runs` (migration 7). */
import type { ClickHouseClient } from '@clickhouse/client';
import { SinkError } from '../errors.ts';
import { LOADTEST_RUNS_TABLE } from '../store/schema/loadtest.ts';

/** A row of `loadtest_runs`; times as Date, verdicts and report as values (stored as JSON text). */
export interface LoadtestRunRow {
  runId: string;
  startedAt: Date;
  finishedAt: Date;
  scenario: string;
  engine: string;
  target: string;
  tenantId: string;
  fhirVersion: string;
  passed: boolean;
  sloVerdicts: readonly { name: string; threshold: string; observed: number; passed: boolean }[];
  requests: number;
  errors: number;
  droppedIterations: number;
  throughputRps: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  report: unknown;
}

/** Insert the run (the store must be migrated to version 7). */
export async function insertLoadtestRun(client: ClickHouseClient, run: LoadtestRunRow): Promise<void> {
  try {
    await client.insert({
      table: LOADTEST_RUNS_TABLE,
      format: 'JSONEachRow',
      values: [
        {
          run_id: run.runId,
          started_at: run.startedAt.getTime(),
          finished_at: run.finishedAt.getTime(),
          scenario: run.scenario,
          engine: run.engine,
          target: run.target,
          tenant_id: run.tenantId,
          fhir_version: run.fhirVersion,
          passed: run.passed ? 1 : 0,
          slo_verdicts: JSON.stringify(run.sloVerdicts),
          requests: run.requests,
          errors: run.errors,
          dropped_iterations: run.droppedIterations,
          throughput_rps: run.throughputRps,
          p50_ms: run.p50Ms,
          p95_ms: run.p95Ms,
          p99_ms: run.p99Ms,
          report: JSON.stringify(run.report),
        },
      ],
    });
  } catch (error) {
    throw new SinkError('FW_SINK_STORE_UNAVAILABLE', `could not store the load-test run: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
