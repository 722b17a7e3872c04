/**
 * A sink with the console mounted (what `fhirwatch sink --console` runs), on a fresh chDB store loaded through
 * the sink's own HTTP ingest with generated data: the seeded audit dataset of @fhirwatch/clickhouse-sink (with its
 * planted cases: VIP accesses, name probing, a volume spike, failures, exports, after-hours) ending at the last
 * UTC midnight before now, its VIP list, and the seeded telemetry sample of @fhirwatch/dashboards (spans and the
 * audit-pipeline metrics) for the last 30 minutes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IncidentsOptions, type SinkServer, startSink } from '@fhirwatch/clickhouse-sink';
import { updateTenantSettings } from '@fhirwatch/clickhouse-sink/compliance';
import { type AuditDataset, DATASET_TENANTS, generateAuditDataset } from '@fhirwatch/clickhouse-sink/testing';
import type { AuditRecord } from '@fhirwatch/contract';
import { generateTelemetrySample } from '@fhirwatch/dashboards';
import { consoleHandler, consolePanels } from '../src/server.ts';

export interface ConsoleFixture {
  sink: SinkServer;
  dataset: AuditDataset;
  close(): Promise<void>;
}

async function post(url: string, type: string, body: string): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${await response.text()}`);
}

/** `incidents`: also run the sink's incident monitor with this config (the incidents browser test). */
export async function startConsoleFixture(
  prefix: string,
  options: { incidents?: IncidentsOptions } = {},
): Promise<ConsoleFixture> {
  const dir = mkdtempSync(join(tmpdir(), `fw-${prefix}-`));
  const end = new Date();
  end.setUTCHours(0, 0, 0, 0);
  const dataset = generateAuditDataset({ end });
  const sink = await startSink({
    store: join(dir, 'store'),
    flushIntervalMs: 200,
    queryApi: { panels: consolePanels(), hmacKey: Buffer.from(dataset.key) },
    mount: consoleHandler(),
    ...(options.incidents === undefined ? {} : { incidents: options.incidents }),
  });
  const ndjson = (records: readonly AuditRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n');
  for (let i = 0; i < dataset.records.length; i += 5000) {
    await post(`${sink.url}/v1/audit`, 'application/x-ndjson', ndjson(dataset.records.slice(i, i + 5000)));
  }
  // tenant display names, as an officer stores them (fhirwatch audit settings set --tenant-name)
  for (const tenant of DATASET_TENANTS) {
    await updateTenantSettings(sink.client, {
      tenantId: tenant.id,
      settings: { displayName: `Dataset hospital ${tenant.short}` },
    });
  }
  for (const entry of dataset.plants.vipAdd) {
    await post(
      `${sink.url}/api/audit/vip`,
      'application/json',
      JSON.stringify({ patient: entry.patientId, tenant: entry.tenantId ?? '', reason: entry.reason ?? '' }),
    );
  }
  const telemetry = generateTelemetrySample({
    tenants: DATASET_TENANTS.map((t) => t.id),
    end: new Date(),
    minutes: 30,
  });
  await post(`${sink.url}/v1/traces`, 'application/json', JSON.stringify(telemetry.traces));
  await post(`${sink.url}/v1/metrics`, 'application/json', JSON.stringify(telemetry.metrics));
  await sink.telemetry.flush();
  await sink.audit.flush();
  return {
    sink,
    dataset,
    async close() {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
