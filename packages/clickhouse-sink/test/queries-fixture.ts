/** Shared set-up of the compliance-query tests: a migrated chDB store in a temp dir, loaded with the seeded dataset. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { addVipPatient, removeVipPatient } from '../src/compliance/vip.ts';
import { insertAuditRecords } from '../src/store/audit-encode.ts';
import { openStore } from '../src/store/open.ts';
import { AUDIT_PATIENT_INDEX_TABLE, AUDIT_REQUESTS_TABLE, migrate } from '../src/store/schema/index.ts';
import { type AuditDataset, generateAuditDataset } from '../src/testing/dataset.ts';

export interface LoadedStore {
  dir: string;
  client: ClickHouseClient;
  dataset: AuditDataset;
  close(): Promise<void>;
}

/** Store records the way the sink stores old single-record lines (as v1 requests; see insertAuditRecords). */
export const insertRecords = insertAuditRecords;

/** A fresh store with the dataset, its duplicate deliveries (merges stopped so they stay) and the VIP list. */
export async function loadStore(
  prefix: string,
  options: Parameters<typeof generateAuditDataset>[0] = {},
): Promise<LoadedStore> {
  const dir = mkdtempSync(join(tmpdir(), `fw-${prefix}-`));
  const client = openStore({ path: join(dir, 'store') });
  await migrate(client);
  // keep duplicate deliveries as separate rows: the reports must not rely on merges
  await client.command({ query: `SYSTEM STOP MERGES ${AUDIT_REQUESTS_TABLE}` });
  await client.command({ query: `SYSTEM STOP MERGES ${AUDIT_PATIENT_INDEX_TABLE}` });
  const dataset = generateAuditDataset(options);
  await insertRecords(client, dataset.records);
  await insertRecords(client, dataset.duplicates);
  for (const entry of dataset.plants.vipAdd) await addVipPatient(client, entry);
  for (const entry of dataset.plants.vipRemove) await removeVipPatient(client, entry);
  return {
    dir,
    client,
    dataset,
    async close() {
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const ids = (records: readonly { event_id: string }[]): string[] => records.map((r) => r.event_id).sort();
