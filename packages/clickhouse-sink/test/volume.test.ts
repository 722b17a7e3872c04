/**
 * Volume on sliding windows and local days (real chDB): a burst split by an hour edge is caught; a local day
 * that UTC would split in two is judged whole in the tenant's time zone (from its stored settings); a user whose
 * own baseline is high is not flagged for a usual day.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReport } from '../src/compliance/registry.ts';
import { volumeReport } from '../src/compliance/report-defs/volume.ts';
import { putTenantSettings } from '../src/compliance/settings.ts';
import { openStore } from '../src/store/open.ts';
import { migrate } from '../src/store/schema/index.ts';
import { zonedInstant } from '../src/testing/dataset.ts';
import { TENANT, view } from './audit-builder.ts';
import { insertRecords } from './queries-fixture.ts';

const DAY = Date.UTC(2026, 10, 17); // Tuesday
const HOUR = 3_600_000;
const records: AuditRecord[] = [];
// straddling: 40 distinct patients 13:35–14:24 UTC, 20 in each UTC hour (below the floor of 30 per bucket)
for (let i = 0; i < 40; i += 1) records.push(view(DAY + 13 * HOUR + 35 * 60_000 + i * 75_000, 'edge', `p-edge-${i}`));
// a New York evening: 160 patients 18:00–23:50 local on Nov 17 = 23:00 UTC Nov 17 … 04:50 UTC Nov 18
const evening = zonedInstant('America/New_York', 2026, 11, 17, 18, 0).getTime();
for (let i = 0; i < 160; i += 1) records.push(view(evening + i * 130_000, 'night', `p-night-${i}`));
// a registration clerk with a high baseline: 40 patients an hour, 8 hours a day, 20 days; 45 in one hour today
for (let d = 1; d <= 20; d += 1) {
  for (let h = 0; h < 8; h += 1) {
    for (let i = 0; i < 40; i += 1)
      records.push(view(DAY - d * 86_400_000 + (8 + h) * HOUR + i * 80_000, 'clerk', `p-c-${d}-${h}-${i}`));
  }
}
for (let i = 0; i < 45; i += 1) records.push(view(DAY + 9 * HOUR + i * 70_000, 'clerk', `p-c-today-${i}`));

let dir: string;
let client: ClickHouseClient;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-volume-'));
  client = openStore({ path: join(dir, 'store') });
  await migrate(client);
  await insertRecords(client, records);
}, 120_000);
afterAll(async () => {
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const range = { from: new Date(DAY), to: new Date(DAY + 2 * 86_400_000) };

describe('volume (sliding windows, local days)', () => {
  it('catches a burst that an hour edge splits, and not the clerk whose baseline is high', async () => {
    const report = await volumeReport(client, range);
    // (the New York evening holds ~28 patients in any hour: under the floor)
    expect(report.rows.map((r) => [r.user_id, r.bucket, r.patients, r.threshold])).toEqual([
      ['edge', new Date(DAY + 13 * HOUR + 35 * 60_000).toISOString(), 40, 30],
    ]);
    // the UTC hour buckets of the edge burst hold 20 each: a fixed-bucket report saw nothing
    const perHour = new Map<number, number>();
    for (const r of records.filter((x) => x.user_id === 'edge')) {
      const h = Math.floor(Date.parse(r.event_time) / HOUR);
      perHour.set(h, (perHour.get(h) ?? 0) + 1);
    }
    expect(Math.max(...perHour.values())).toBe(20);
    // the clerk: 45 in an hour against a baseline of 40 (threshold 120 at k = 3); flagged only at k = 1.1
    const clerk = await volumeReport(client, { ...range, floor: 0, k: 1.1 });
    expect(clerk.rows.filter((r) => r.user_id === 'clerk').map((r) => [r.patients, r.baseline])).toEqual([[45, 40]]);
  });

  it('days are the tenant’s local days: from its stored time zone by default, UTC otherwise', async () => {
    const utc = await volumeReport(client, { ...range, granularity: 'day' });
    expect(utc.rows.filter((r) => r.user_id === 'night')).toEqual([]);
    await putTenantSettings(client, { tenantId: TENANT, settings: { timeZone: 'America/New_York' } });
    const local = await runReport(client, 'volume', { ...range, options: { granularity: 'day' } });
    const rows = local.rows as { user_id: string; bucket: string; local_start: string; patients: number }[];
    expect(rows.map((r) => [r.user_id, r.bucket, r.local_start, r.patients])).toEqual([
      ['night', zonedInstant('America/New_York', 2026, 11, 17, 0, 0).toISOString(), '2026-11-17 00:00:00', 160],
    ]);
    expect(local.notes).toEqual([]);
    // the summary counts the same local day (one row for the evening, not two UTC days)
    const summary = await runReport(client, 'summary', { ...range, options: { explain: false } });
    const days = (summary.rows as { day: string; event_type: string; events: number }[]).filter(
      (r) => r.event_type === 'PatientView',
    );
    expect(days.map((r) => [r.day, r.events])).toEqual([['2026-11-17', 40 + 45 + 160]]);
    const utcSummary = await runReport(client, 'summary', {
      ...range,
      options: { explain: false },
      useSettings: false,
    });
    expect((utcSummary.rows as { day: string }[]).map((r) => r.day)).toEqual(['2026-11-17', '2026-11-18']);
  });
});
