/**
 * Name probing with sliding windows (real chDB): a burst of name searches with few views is caught whether it
 * is compact, spread over the hour or straddles a clock boundary; a busy clinician who searches a lot and opens
 * what they find is not flagged. Fixed 10-minute buckets (the old report) would have missed the spread and
 * straddling bursts: the test shows the counts per bucket stay below the threshold.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReport } from '../src/compliance/registry.ts';
import { nameProbingReport } from '../src/compliance/report-defs/name-probing.ts';
import { putTenantSettings } from '../src/compliance/settings.ts';
import { openStore } from '../src/store/open.ts';
import { AUDIT_TABLE, migrate } from '../src/store/schema/index.ts';
import { search, TENANT, view } from './audit-builder.ts';
import { insertRecords } from './queries-fixture.ts';

const DAY = Date.UTC(2026, 10, 17); // Tuesday
const at = (h: number, m: number, s = 0): number => DAY + ((h * 60 + m) * 60 + s) * 1000;
const names = ['family=smith', 'given=ann', 'name:contains=jo', 'family:exact=Lee&given=Al', 'phonetic=mueller'];
const records: AuditRecord[] = [];
const plant = (user: string, times: number[], viewsAt: number[], foundPerSearch = 1): void => {
  times.forEach((t, i) => {
    const found = Array.from({ length: foundPerSearch }, (_, k) => `p-${user}-${i}-${k}`);
    records.push(...search(t, user, names[i % names.length]!, found));
  });
  viewsAt.forEach((t, i) => {
    records.push(view(t, user, `p-${user}-${i}-0`));
  });
};
// compact: 40 searches (3 patients each, 3 records per request) in 6 minutes, 2 charts opened
plant(
  'compact',
  Array.from({ length: 40 }, (_, i) => at(9, 0, i * 9)),
  [at(9, 2), at(9, 5)],
  3,
);
// spread: 40 searches over 58.5 minutes, 2 charts: never 10 in one fixed 10-minute bucket
plant(
  'spread',
  Array.from({ length: 40 }, (_, i) => at(13, 0, i * 90)),
  [at(13, 20), at(13, 40)],
);
// straddling: 12 searches 10:54–11:05, none opened: 6 on each side of 11:00 (and of 10:00/11:00 hour edges)
plant(
  'edge',
  Array.from({ length: 12 }, (_, i) => at(10, 54 + i)),
  [],
);
// busy but legitimate: 60 searches in an hour, each followed by opening the patient found
plant(
  'busy',
  Array.from({ length: 60 }, (_, i) => at(14, i)),
  Array.from({ length: 60 }, (_, i) => at(14, i, 30)),
);
// busy too: 30 searches, 12 distinct patients opened (ratio 0.4 > 0.2)
plant(
  'ward',
  Array.from({ length: 30 }, (_, i) => at(15, i * 2)),
  Array.from({ length: 12 }, (_, i) => at(15, i * 5, 20)),
);
// a probe hidden in ordinary work: 30 name searches, 2 of the patients found opened, 15 list patients opened
plant(
  'mixed',
  Array.from({ length: 30 }, (_, i) => at(17, i)),
  [at(17, 3), at(17, 9)],
);
for (let i = 0; i < 15; i += 1) records.push(view(at(17, 2 * i, 40), 'mixed', `p-list-${i}`));
// identifier searches are not name searches
for (let i = 0; i < 30; i += 1)
  records.push(...search(at(16, i), 'mrn-desk', `identifier=urn:oid:1|MRN-${i}`, [`p-m${i}`]));

let dir: string;
let client: ClickHouseClient;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-name-probing-'));
  client = openStore({ path: join(dir, 'store') });
  await migrate(client);
  await client.command({ query: `SYSTEM STOP MERGES ${AUDIT_TABLE}` });
  await insertRecords(client, records);
  await insertRecords(
    client,
    records.filter((_, i) => i % 7 === 0),
  ); // duplicate deliveries
}, 120_000);
afterAll(async () => {
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const range = { from: new Date(DAY), to: new Date(DAY + 86_400_000) };
const iso = (ms: number): string => new Date(ms).toISOString();

describe('name-probing (sliding windows)', () => {
  it('catches the compact, the spread and the straddling burst, and not the busy searchers', async () => {
    const report = await nameProbingReport(client, range);
    expect(
      report.rows.map((r) => [r.principal, r.window_start, r.name_searches, r.viewed_patients, r.last_search]),
    ).toEqual([
      ['compact', iso(at(9, 0)), 40, 2, iso(at(9, 0, 39 * 9))],
      ['edge', iso(at(10, 54)), 12, 0, iso(at(11, 5))],
      ['spread', iso(at(13, 0)), 40, 2, iso(at(13, 0, 39 * 90))],
      // 17 charts opened, but only 2 of them were found by the name searches
      ['mixed', iso(at(17, 0)), 30, 2, iso(at(17, 29))],
    ]);
    expect(report.rows.every((r) => r.tenant_id === TENANT)).toBe(true);
  });

  it('the spread and straddling bursts never reach the threshold in a fixed 10-minute bucket', () => {
    for (const user of ['spread', 'edge']) {
      const buckets = new Map<number, Set<string>>();
      for (const r of records.filter((x) => x.user_id === user && x.event_type === 'PatientSearch')) {
        const bucket = Math.floor(Date.parse(r.event_time) / 600_000);
        buckets.set(bucket, (buckets.get(bucket) ?? new Set()).add(r.trace_id));
      }
      expect(Math.max(...[...buckets.values()].map((s) => s.size))).toBeLessThan(10);
    }
  });

  it('the window is an option: 10 minutes no longer sees the spread burst; sliding still sees the straddling one', async () => {
    const short = await nameProbingReport(client, { ...range, windowMinutes: 10 });
    expect(short.rows.map((r) => r.principal)).toEqual(['compact', 'edge', 'mixed']);
    expect(short.rows[1]?.name_searches).toBe(10);
    const strict = await nameProbingReport(client, { ...range, minSearches: 41 });
    expect(strict.rows).toEqual([]);
    const lenient = await nameProbingReport(client, { ...range, maxViewRatio: 0.5 });
    expect(lenient.rows.map((r) => r.principal).sort()).toEqual(['compact', 'edge', 'mixed', 'spread', 'ward']);
  });

  it('uses a tenant’s stored threshold through the registry, and a flag over it', async () => {
    await putTenantSettings(client, {
      tenantId: TENANT,
      settings: { timeZone: 'UTC', thresholds: { 'name-probing': { minSearches: 20 } } },
    });
    const stored = await runReport(client, 'name-probing', range);
    expect(stored.rows.map((r) => (r as { principal: string }).principal)).toEqual(['compact', 'spread', 'mixed']);
    const flag = await runReport(client, 'name-probing', { ...range, options: { 'min-searches': '10' } });
    expect(flag.rows.map((r) => (r as { principal: string }).principal)).toEqual([
      'compact',
      'edge',
      'spread',
      'mixed',
    ]);
  });
});
