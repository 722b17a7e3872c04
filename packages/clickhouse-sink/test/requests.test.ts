/**
 * One row per request (real chDB): the console search's request page (SQL) against the per-patient rows it expands
 * to, the in-memory grouping the access and activity reports use, and the action of each kind of request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport } from '../src/compliance/format/index.ts';
import { NO_IDENTITY_NOTE } from '../src/compliance/names.ts';
import { runReport } from '../src/compliance/registry.ts';
import { groupRequests, type RequestRow, requestAction, requestKeyOf } from '../src/compliance/requests.ts';
import { putTenantSettings } from '../src/compliance/settings.ts';
import { searchAuditRequests } from '../src/query-api/search.ts';
import { openStore } from '../src/store/open.ts';
import { migrate } from '../src/store/schema/index.ts';
import { record, search, TENANT, view } from './audit-builder.ts';
import { insertRecords } from './queries-fixture.ts';

const T0 = Date.UTC(2026, 10, 17, 9);
const M = 60_000;
const CATEGORIES = ['VitalSignsView', 'ConditionsView', 'AllergiesView'] as const;

/** A list refresh: one batch (one trace), a PatientListView row and the category rows for each patient. */
function listRefresh(at: number, user: string, patients: string[], trace: string): AuditRecord[] {
  let entry = 0;
  return patients
    .flatMap((patient) => [
      { ...record({ at, user, patient, eventType: 'PatientListView', interaction: 'batch', traceId: trace }) },
      ...CATEGORIES.map((eventType) => record({ at, user, patient, eventType, traceId: trace })),
    ])
    .map((r) => ({ ...r, batch_id: `batch-${trace}`, entry_index: entry++ }));
}

const records: AuditRecord[] = [
  ...listRefresh(T0, 'doc', ['p1', 'p2', 'p3'], 'a1'.padEnd(32, '0')),
  ...search(T0 + M, 'doc', 'family=lee&given=ann', ['p4', 'p5', 'p6']),
  view(T0 + 2 * M, 'doc', 'p4'),
  record({ at: T0 + 3 * M, user: 'doc', eventType: 'ConditionsView', patient: 'p4', query: 'patient=p4' }),
  record({ at: T0 + 4 * M, user: 'clerk', eventType: 'ExportInitiation', interaction: 'operation', patient: '*' }),
  ...listRefresh(T0 + 5 * M, 'nurse', ['p1'], 'b2'.padEnd(32, '0')),
  view(T0 + 6 * M, 'nurse', 'p1'),
];
/** A tenant whose gateway runs with userIdentity: none: 35 charts opened by the app, no user in any record. */
const NO_USER_TENANT = '0e3c5f3a-0011-4c8e-9a10-000000000011';
const noUser = Array.from({ length: 35 }, (_, i) =>
  record({ at: T0 + i * 1000, tenant: NO_USER_TENANT, client: 'app-x', patient: `n${i}` }),
);

let dir: string;
let client: ClickHouseClient;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-requests-'));
  client = openStore({ path: join(dir, 'store') });
  await migrate(client);
  await insertRecords(client, [...records, ...noUser]);
  await insertRecords(client, records.slice(0, 6)); // duplicate deliveries
  await putTenantSettings(client, { tenantId: TENANT, settings: { displayName: 'Test Hospital' } });
}, 120_000);
afterAll(async () => {
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const range = { from: new Date(T0 - M), to: new Date(T0 + 60 * M) };
const query = (extra: Record<string, string> = {}): URLSearchParams =>
  new URLSearchParams({ from: range.from.toISOString(), to: range.to.toISOString(), limit: '100', ...extra });
const rowsOf = (request: RequestRow): AuditRecord[] =>
  records.filter((r) => r.tenant_id === request.tenant_id && requestKeyOf(r) === request.request_key);

describe('one row per request', () => {
  it('names what each request did', () => {
    const requests = groupRequests(records);
    expect(requests.map((r) => [r.user_id, r.action, r.patients, r.records])).toEqual([
      ['doc', 'list refresh', ['p1', 'p2', 'p3'], 12],
      ['doc', 'search', ['p4', 'p5', 'p6'], 3],
      ['doc', 'open chart', ['p4'], 1],
      ['doc', 'read', ['p4'], 1],
      ['clerk', 'export', ['*'], 1],
      ['nurse', 'list refresh', ['p1'], 4],
      ['nurse', 'open chart', ['p1'], 1],
    ]);
    expect(requests[0]!.categories).toEqual(['AllergiesView', 'ConditionsView', 'PatientListView', 'VitalSignsView']);
    expect(requestAction(['ExportInitiation', 'PatientSearch'], false)).toBe('export');
  });

  it('the search’s request page equals the per-patient rows it expands to, newest first, duplicates once', async () => {
    const page = await searchAuditRequests(client, query({ tenant: TENANT }));
    expect(page.total).toBe(7);
    expect(new Set(page.rows.map((r) => r.tenant_name))).toEqual(new Set(['Test Hospital']));
    expect(page.rows.map(({ tenant_name: _name, ...request }) => request)).toEqual(
      [...groupRequests(records)].reverse(),
    );
    for (const request of page.rows) {
      const rows = rowsOf(request);
      expect(request.records).toBe(rows.length);
      expect(request.patients).toEqual([...new Set(rows.map((r) => r.patient_id))].sort());
      expect(request.categories).toEqual([...new Set(rows.map((r) => r.event_type as string))].sort());
      expect(rows.map((r) => r.event_id)).toContain(request.first_event_id);
    }
  });

  it('a request with one matching row is listed whole; paging counts requests', async () => {
    const byPatient = await searchAuditRequests(client, query({ patient: 'p2' }));
    expect(byPatient.total).toBe(1);
    expect(byPatient.rows[0]).toMatchObject({ action: 'list refresh', patients: ['p1', 'p2', 'p3'], records: 12 });
    const second = await searchAuditRequests(client, query({ limit: '2', offset: '2', tenant: TENANT }));
    expect(second.total).toBe(7);
    expect(second.rows.map((r) => r.first_event_id)).toEqual(
      [...groupRequests(records)]
        .reverse()
        .slice(2, 4)
        .map((r) => r.first_event_id),
    );
  });

  it('access and activity list requests in their table, and keep every per-patient row in CSV and JSON', async () => {
    const activity = await runReport(client, 'activity', { ...range, options: { user: 'doc' } });
    const docRows = records.filter((r) => r.user_id === 'doc');
    expect(activity.rows).toHaveLength(docRows.length);
    expect(activity.requests?.map(({ tenant_name: _name, ...request }) => request)).toEqual(groupRequests(docRows));
    const table = formatReport(activity, 'table');
    expect(table).toContain(`4 requests (${docRows.length} per-patient rows`);
    expect(table).toMatch(/list refresh\s+p1 p2 p3/);
    const csv = formatReport(activity, 'csv').trim().split('\r\n');
    expect(csv).toHaveLength(docRows.length + 1);
    const json = JSON.parse(formatReport(activity, 'json')) as { rows: unknown[]; requests: RequestRow[] };
    expect(json.rows).toHaveLength(docRows.length);
    expect(json.requests.map((r) => r.action)).toEqual(['list refresh', 'search', 'open chart', 'read']);

    // the patient's access report: only this patient's rows of each request (no other patient's PHI), and the
    // export of all patients of the tenant
    const access = await runReport(client, 'access', { ...range, options: { patient: ['p2'] } });
    expect(access.requests?.map((r) => [r.action, r.patients, r.records])).toEqual([
      ['list refresh', ['p2'], 4],
      ['export', ['*'], 1],
    ]);
  });

  it('the summary counts in person units: requests per action, distinct patients, users', async () => {
    const summary = await runReport(client, 'summary', { ...range, tenant: TENANT });
    expect(summary.notes).toContain(
      `Tenant ${TENANT}: 2 chart opens, 2 list refreshes, 1 search, 1 export, 1 other read; 6 distinct patients; 3 users.`,
    );
  });

  it('names next to ids: the tenant’s display name and the user’s name, in rows and CSV columns', async () => {
    const unexplained = await runReport(client, 'unexplained', { ...range, tenant: TENANT });
    const keys = unexplained.columns.map((c) => c.key);
    expect(keys.slice(keys.indexOf('tenant_id'), keys.indexOf('tenant_id') + 4)).toEqual([
      'tenant_id',
      'tenant_name',
      'user_id',
      'user_name',
    ]);
    expect((unexplained.rows as { tenant_name: string; user_name: string }[])[0]).toMatchObject({
      tenant_name: 'Test Hospital',
      user_name: 'Dr doc',
    });
    const header = formatReport(await runReport(client, 'activity', { ...range, options: { user: 'doc' } }), 'csv')
      .replace('\uFEFF', '')
      .split('\r\n')[0]!
      .split(',');
    expect(header).toEqual(expect.arrayContaining(['tenant_id', 'tenant_name', 'user_id', 'user_name']));
  });

  it('without clinician identity the user-grouped reports say so and group by client and tenant', async () => {
    const volume = await runReport(client, 'volume', { ...range, tenant: NO_USER_TENANT });
    expect(volume.notes?.[0]).toBe(NO_IDENTITY_NOTE);
    expect(volume.flagged).toEqual([{ principal: 'client:app-x', rows: 1 }]);
    expect((volume.rows as { user_id: string; patients: number }[])[0]).toMatchObject({
      user_id: 'client:app-x',
      patients: 35,
    });
    // a tenant whose records name users gets no such note
    const named = await runReport(client, 'volume', { ...range, tenant: TENANT });
    expect(named.notes ?? []).not.toContain(NO_IDENTITY_NOTE);
  });
});
