/**
 * Explained and unexplained access (real chDB): each explanation kind on its own planted access, an imported
 * care relationship (and an expired one that explains nothing), the unexplained report ranking the snooping
 * user first, the summary's explained share per tenant, and a CSV import that rejects a bad file whole.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainAccesses } from '../src/compliance/explain.ts';
import { runReport } from '../src/compliance/registry.ts';
import { importCareRelationships } from '../src/compliance/relationships.ts';
import type { UnexplainedRow } from '../src/compliance/report-defs/unexplained.ts';
import { openStore } from '../src/store/open.ts';
import { CARE_RELATIONSHIPS_TABLE, migrate } from '../src/store/schema/index.ts';
import { record, search, TENANT, view } from './audit-builder.ts';
import { insertRecords } from './queries-fixture.ts';

const DAY = Date.UTC(2026, 10, 17);
const H = 3_600_000;
const D = 86_400_000;
const records: AuditRecord[] = [];
const expected = new Map<string, string>();
const plant = (r: AuditRecord, explanation: string): void => {
  records.push(r);
  expected.set(r.event_id, explanation);
};
// own search: doc searched and found p1 at 09:00, opened it at 09:05
records.push(...search(DAY + 9 * H, 'doc', 'family=smith', ['p1', 'p1b']));
plant(view(DAY + 9 * H + 5 * 60_000, 'doc', 'p1'), 'own-search');
// patient list: p2 on doc's list five days ago
records.push(
  record({ at: DAY - 5 * D, user: 'doc', eventType: 'PatientListView', interaction: 'batch', patient: 'p2' }),
);
plant(view(DAY + 10 * H, 'doc', 'p2'), 'patient-list');
// repeat access: doc opened p3 on four earlier days over four weeks
for (const back of [30, 20, 10, 3]) records.push(view(DAY - back * D + 11 * H, 'doc', 'p3'));
plant(view(DAY + 11 * H, 'doc', 'p3'), 'repeat-access');
// care relationships (imported below): p4 current, p5 expired yesterday
plant(view(DAY + 12 * H, 'doc', 'p4'), 'care-relationship');
plant(view(DAY + 12 * H + 60_000, 'doc', 'p5'), '');
// a search an hour before is too old to explain opening the chart
records.push(...search(DAY + 13 * H, 'doc', 'family=lee', ['p8']));
plant(record({ at: DAY + 14 * H, user: 'doc', eventType: 'ConditionsView', patient: 'p8', query: 'patient=p8' }), '');
// snoop: one explained access, three charts nobody explains
records.push(...search(DAY + 9 * H, 'snoop', 'given=ann', ['p10']));
plant(view(DAY + 9 * H + 60_000, 'snoop', 'p10'), 'own-search');
for (const [i, p] of ['p6', 'p7', 'p9'].entries()) plant(view(DAY + (15 + i) * H, 'snoop', p), '');
// a denied access is no access
records.push(record({ at: DAY + 16 * H, user: 'snoop', patient: 'p11', status: 403 }));

// Another tenant: a busy clinician and a snooper, ranked in person units. The busy one opens 30 patients found by
// their own searches (explained) and reopens two unexplained charts ten times each (20 unexplained rows, a chart
// open is several rows); the snooper opens 4 charts nobody explains, once each (4 rows). Five quiet colleagues
// have one unexplained patient each (the peers' median).
const BUSY_TENANT = '0e3c5f3a-0010-4c8e-9a10-000000000010';
for (let i = 0; i < 30; i += 1) {
  records.push(...search(DAY + 8 * H + i * 60_000, 'busy', `family=f${i}`, [`b${i}`], BUSY_TENANT));
  records.push(view(DAY + 8 * H + i * 60_000 + 1000, 'busy', `b${i}`, BUSY_TENANT));
}
for (let i = 0; i < 20; i += 1) records.push(view(DAY + 10 * H + i * 60_000, 'busy', `bx${i % 2}`, BUSY_TENANT));
for (let i = 0; i < 4; i += 1) records.push(view(DAY + 11 * H + i * 60_000, 'snoop2', `s${i}`, BUSY_TENANT));
for (let i = 0; i < 5; i += 1) records.push(view(DAY + 12 * H + i * 60_000, `quiet${i}`, `q${i}`, BUSY_TENANT));

let dir: string;
let client: ClickHouseClient;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-explain-'));
  client = openStore({ path: join(dir, 'store') });
  await migrate(client);
  await insertRecords(client, records);
  await insertRecords(client, records.slice(0, 5)); // duplicate deliveries
  const csv = `patient,user,from,to\r\np4,doc,${new Date(DAY - 10 * D).toISOString().slice(0, 10)},\r\np5,doc,2026-10-01,${new Date(DAY - D).toISOString().slice(0, 10)}\r\n`;
  expect(await importCareRelationships(client, csv, { tenantId: TENANT, source: 'care.csv' })).toEqual({ rows: 2 });
}, 120_000);
afterAll(async () => {
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const range = { from: new Date(DAY), to: new Date(DAY + D) };

describe('explained access', () => {
  it('gives each planted access its explanation, and none to the unexplained ones', async () => {
    const { accesses } = await explainAccesses(client, { ...range, tenant: TENANT });
    expect(new Map(accesses.map((a) => [a.event_id, a.explanation]))).toEqual(expected);
    expect(accesses.find((a) => a.user_id === 'doc')?.user_name).toBe('Dr doc');
  });

  it('the unexplained report ranks the snooping user first, by distinct unexplained patients', async () => {
    const report = await runReport(client, 'unexplained', { ...range, tenant: TENANT });
    const rows = report.rows as UnexplainedRow[];
    expect(rows.map((r) => [r.rank, r.user_id, r.patient_id])).toEqual([
      [1, 'snoop', 'p6'],
      [1, 'snoop', 'p7'],
      [1, 'snoop', 'p9'],
      [2, 'doc', 'p5'],
      [2, 'doc', 'p8'],
    ]);
    // snoop: 3 unexplained of 4 patients; the only peer (doc) has 2
    expect(rows[0]).toMatchObject({
      user_name: 'Dr snoop',
      unexplained_patients: 3,
      patients: 4,
      peers_median: 2,
      vs_peers: 1.5,
      baseline: "3 patients, peers' median 2, 1.5×",
      unexplained_accesses: 3,
    });
    expect(rows[3]).toMatchObject({ unexplained_patients: 2, patients: 6, peers_median: 3, vs_peers: 0.7 });
    expect(report.notes?.join(' ')).toContain('5 of 10 explained (50 %)');
  });

  it('a busy clinician with many explained patients is not ranked above a snooper with fewer unexplained rows', async () => {
    const report = await runReport(client, 'unexplained', { ...range, tenant: BUSY_TENANT });
    const users = [...new Map((report.rows as UnexplainedRow[]).map((r) => [r.user_id, r])).values()];
    // in per-patient rows the busy clinician leads (20 unexplained rows against 4) …
    expect(users.find((u) => u.user_id === 'busy')?.unexplained_accesses).toBe(20);
    expect(users.find((u) => u.user_id === 'snoop2')?.unexplained_accesses).toBe(4);
    // … in distinct patients against the peers' median (1) the snooper does
    expect(users.map((u) => [u.rank, u.user_id, u.unexplained_patients, u.peers_median, u.vs_peers])).toEqual([
      [1, 'snoop2', 4, 1, 4],
      [2, 'busy', 2, 1, 2],
      [3, 'quiet0', 1, 1, 1],
      [4, 'quiet1', 1, 1, 1],
      [5, 'quiet2', 1, 1, 1],
      [6, 'quiet3', 1, 1, 1],
      [7, 'quiet4', 1, 1, 1],
    ]);
    expect(users.find((u) => u.user_id === 'busy')?.patients).toBe(32);
  });

  it('summary shows the explained share per tenant and per row', async () => {
    const report = await runReport(client, 'summary', { ...range, tenant: TENANT });
    expect(report.notes).toContain(`Tenant ${TENANT}: 50 % of 10 accesses explained.`);
    const views = (report.rows as { event_type: string; accesses: number; explained_pct: number }[]).find(
      (r) => r.event_type === 'PatientView',
    );
    expect(views).toMatchObject({ accesses: 9, explained_pct: 55.6 });
  });

  it('a relationship file with a bad line is rejected whole, naming the line but no patient', async () => {
    const count = async (): Promise<number> =>
      Number(
        (
          (await (
            await client.query({ query: `SELECT count() AS n FROM ${CARE_RELATIONSHIPS_TABLE}`, format: 'JSONEachRow' })
          ).json()) as { n: string }[]
        )[0]?.n,
      );
    const before = await count();
    const bad = 'p-secret-1,doc,2026-01-01,\np-secret-2,doc,not-a-date,\n';
    const error = await importCareRelationships(client, bad, { tenantId: TENANT }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FW_AUDIT_INVALID_OPTION' });
    expect(String((error as Error).message)).toContain('line 2');
    expect(String((error as Error).message)).not.toContain('p-secret');
    expect(await count()).toBe(before);
  });
});
