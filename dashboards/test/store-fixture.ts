/**
 * A migrated chDB store in a temp dir with generated data for every board: the sink's seeded audit dataset
 * (planted cases included, duplicate deliveries kept), the VIP list, a telemetry sample (mapped with the sink's
 * own OTLP mapping, so rows look exactly like ingested ones) and a few load-test runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrate, openStore } from '@fhirwatch/clickhouse-sink';
import { addVipPatient, removeVipPatient } from '@fhirwatch/clickhouse-sink/compliance';
import { mapMetrics, mapTraces, type RowsByTable } from '@fhirwatch/clickhouse-sink/ingest';
import { insertAuditRecords } from '@fhirwatch/clickhouse-sink/store';
import { type AuditDataset, DATASET_TENANTS, generateAuditDataset } from '@fhirwatch/clickhouse-sink/testing';
import { generateTelemetrySample, type TelemetrySample } from '../src/telemetry-sample.ts';

/**
 * `loadtest_runs` as agreed for migration 7 (owned by the load-test work). Created here only when the store's
 * migrations do not create it yet, so the load-test panels are tested against the agreed columns either way.
 */
export const LOADTEST_RUNS_DDL = `CREATE TABLE IF NOT EXISTS loadtest_runs (
  run_id String, started_at DateTime64(3, 'UTC'), finished_at DateTime64(3, 'UTC'),
  scenario LowCardinality(String), engine LowCardinality(String), target String, tenant_id String,
  fhir_version LowCardinality(String), passed UInt8, slo_verdicts String, requests UInt64, errors UInt64,
  dropped_iterations UInt64, throughput_rps Float64, p50_ms Float64, p95_ms Float64, p99_ms Float64, report String
) ENGINE = MergeTree ORDER BY (started_at, run_id)`;

export interface PanelStore {
  client: ClickHouseClient;
  dataset: AuditDataset;
  telemetry: TelemetrySample;
  /** When the telemetry and load-test runs end (≈ now). */
  now: Date;
  /** First and last instant of the audit dataset. */
  auditFrom: Date;
  auditTo: Date;
  loadtestRuns: number;
  close(): Promise<void>;
}

const DAY = 86_400_000;

async function insertRows(client: ClickHouseClient, rows: RowsByTable): Promise<void> {
  for (const [table, values] of rows) {
    for (let i = 0; i < values.length; i += 5000) {
      await client.insert({ table, values: values.slice(i, i + 5000), format: 'JSONEachRow' });
    }
  }
}

export async function loadPanelStore(prefix: string): Promise<PanelStore> {
  const dir = mkdtempSync(join(tmpdir(), `fw-dash-${prefix}-`));
  const client = openStore({ path: join(dir, 'store') });
  try {
    await migrate(client);
    await client.command({ query: LOADTEST_RUNS_DDL });
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    // the audit dataset ends at the next UTC midnight: recent enough for every retention and time filter
    const auditTo = new Date(Math.ceil(now.getTime() / DAY) * DAY);
    const days = 21;
    const dataset = generateAuditDataset({ end: auditTo, days, users: 4, patients: 120 });
    // stored as the sink stores old single-record lines (v1 requests: audit_events is their expansion view)
    await insertAuditRecords(client, dataset.records);
    await insertAuditRecords(client, dataset.duplicates);
    for (const entry of dataset.plants.vipAdd) await addVipPatient(client, entry);
    for (const entry of dataset.plants.vipRemove) await removeVipPatient(client, entry);

    const tenants = DATASET_TENANTS.slice(0, 2).map((t) => t.id);
    const telemetry = generateTelemetrySample({ tenants, end: now, minutes: 30, requestsPerMinute: 10 });
    await insertRows(client, mapTraces(telemetry.traces));
    await insertRows(client, mapMetrics(telemetry.metrics));

    const runs = Array.from({ length: 6 }, (_, i) => {
      const started = new Date(now.getTime() - (6 - i) * 3_600_000);
      const passed = i % 3 !== 2;
      const p95 = passed ? 120 + i * 10 : 820;
      return {
        run_id: `run-${i}`,
        started_at: started.toISOString(),
        finished_at: new Date(started.getTime() + 60_000).toISOString(),
        scenario: i % 2 === 0 ? 'list-refresh' : 'patient-search',
        engine: 'autocannon',
        target: 'http://127.0.0.1:0',
        tenant_id: tenants[i % 2],
        fhir_version: 'STU3',
        passed: passed ? 1 : 0,
        slo_verdicts: JSON.stringify([
          { name: 'p95 latency (ms)', threshold: 500, observed: p95, passed },
          { name: 'error rate', threshold: 0.01, observed: 0.001, passed: true },
        ]),
        requests: 6000 + i,
        errors: passed ? 3 : 90,
        dropped_iterations: 0,
        throughput_rps: 100 + i,
        p50_ms: 40,
        p95_ms: p95,
        p99_ms: p95 * 1.5,
        report: '{}',
      };
    });
    await client.insert({ table: 'loadtest_runs', values: runs, format: 'JSONEachRow' });

    return {
      client,
      dataset,
      telemetry,
      now,
      auditFrom: new Date(auditTo.getTime() - days * DAY),
      auditTo,
      loadtestRuns: runs.length,
      async close() {
        await client.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
