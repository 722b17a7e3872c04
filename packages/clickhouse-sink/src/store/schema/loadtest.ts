/**
 * `loadtest_runs` (migration 7): one row per `fhirwatch loadtest` run, so dashboards can show runs over time
 * (verdicts, percentiles, throughput per scenario and target). `report` holds the run's report.json.
 */
import type { TableDef } from './types.ts';

export const LOADTEST_RUNS_TABLE = 'loadtest_runs';

const lc = 'LowCardinality(String)';

export const loadtestRunsTable: TableDef = {
  kind: 'table',
  name: LOADTEST_RUNS_TABLE,
  comment: 'fhirwatch load-test runs (fhirwatch loadtest)',
  columns: [
    { name: 'run_id', type: 'String' },
    { name: 'started_at', type: "DateTime64(3, 'UTC')" },
    { name: 'finished_at', type: "DateTime64(3, 'UTC')" },
    { name: 'scenario', type: lc },
    { name: 'engine', type: lc },
    { name: 'target', type: 'String' },
    { name: 'tenant_id', type: 'String' },
    { name: 'fhir_version', type: lc },
    { name: 'passed', type: 'UInt8' },
    { name: 'slo_verdicts', type: 'String', comment: 'JSON array of {name, threshold, observed, passed}' },
    { name: 'requests', type: 'UInt64' },
    { name: 'errors', type: 'UInt64' },
    { name: 'dropped_iterations', type: 'UInt64' },
    { name: 'throughput_rps', type: 'Float64' },
    { name: 'p50_ms', type: 'Float64' },
    { name: 'p95_ms', type: 'Float64' },
    { name: 'p99_ms', type: 'Float64' },
    { name: 'report', type: 'String', codec: 'CODEC(ZSTD(3))', comment: 'report.json of the run' },
  ],
  engine: 'MergeTree',
  orderBy: '(started_at, run_id)',
  shardingKey: 'cityHash64(run_id)',
};
