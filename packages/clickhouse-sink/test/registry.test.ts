/**
 * The report registry and the stored tenant settings (real chDB): every report runs by name with its
 * columns as declared, option text is parsed and checked, stored settings are used by default, flags override
 * them, and a run without settings for a tenant says so in its notes.
 */
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  getReportDef,
  parseReportOptions,
  REPORT_REGISTRY,
  reportUsage,
  runReport,
} from '../src/compliance/registry.ts';
import {
  clearTenantSettings,
  listTenantSettings,
  putTenantSettings,
  updateTenantSettings,
} from '../src/compliance/settings.ts';
import { isWithinWorkHours, resolveWorkHours } from '../src/compliance/work-hours.ts';
import { ids, type LoadedStore, loadStore } from './queries-fixture.ts';

let store: LoadedStore;
let records: AuditRecord[];
let range: { from: Date; to: Date };
const inRange = (r: AuditRecord): boolean => {
  const t = Date.parse(r.event_time);
  return t >= range.from.getTime() && t < range.to.getTime();
};

beforeAll(async () => {
  store = await loadStore('registry', { days: 20, users: 3, patients: 60 });
  records = store.dataset.records;
  range = { from: store.dataset.plants.reportFrom, to: store.dataset.plants.reportTo };
}, 240_000);

afterAll(async () => {
  await store?.close();
});

describe('registry', () => {
  it('names each report once, with help for every option and one type per flag', () => {
    const names = REPORT_REGISTRY.map((def) => def.name);
    expect(new Set(names).size).toBe(names.length);
    const flags = new Map<string, string>();
    for (const def of REPORT_REGISTRY) {
      expect(def.sql).toMatch(/^(SELECT|WITH) /);
      for (const option of def.options) {
        expect(option.help.length).toBeGreaterThan(5);
        const seen = flags.get(option.flag);
        if (seen !== undefined) expect(seen).toBe(option.type);
        flags.set(option.flag, option.type);
      }
    }
    const usage = reportUsage();
    for (const def of REPORT_REGISTRY) {
      expect(usage).toContain(`  ${def.name} `);
      for (const option of def.options) expect(usage).toMatch(new RegExp(`--(\\[no-\\])?${option.flag}\\b`));
    }
  });

  it('parses option text by flag or name and rejects bad values with a coded error', () => {
    const def = getReportDef('name-probing')!;
    expect(parseReportOptions(def, { 'min-searches': '12', maxViewRatio: 0.5, unrelated: 'x' })).toEqual({
      minSearches: 12,
      maxViewRatio: 0.5,
    });
    expect(() => parseReportOptions(def, { 'min-searches': '1.5' })).toThrow(
      expect.objectContaining({ code: 'FW_AUDIT_INVALID_OPTION' }),
    );
    expect(() => parseReportOptions(getReportDef('volume')!, { granularity: 'week' })).toThrow(
      expect.objectContaining({ code: 'FW_AUDIT_INVALID_OPTION' }),
    );
  });

  it('runs every report by name, its rows under the columns it declares', async () => {
    const { patient_id } = store.dataset.plants.accessPatient;
    const { user_id } = store.dataset.plants.activityUser;
    for (const def of REPORT_REGISTRY) {
      const options =
        def.name === 'access' ? { patient: [patient_id] } : def.name === 'activity' ? { user: user_id } : {};
      const report = await runReport(store.client, def.name, { ...range, options, useSettings: false });
      expect(report.name).toBe(def.name);
      // the declared columns, with the names the registry adds next to ids (tenant_name, user_name)
      const declared = def.columns.map((c) => c.key);
      expect(report.columns.map((c) => c.key).filter((k) => declared.includes(k))).toEqual(declared);
      for (const added of report.columns.map((c) => c.key).filter((k) => !declared.includes(k))) {
        expect(['tenant_name', 'user_name']).toContain(added);
      }
      if (declared.includes('tenant_id')) expect(report.columns.map((c) => c.key)).toContain('tenant_name');
      expect(report.records !== undefined).toBe(def.recordLevel);
    }
    await expect(runReport(store.client, 'no-such-report', range)).rejects.toMatchObject({
      code: 'FW_AUDIT_INVALID_OPTION',
    });
    await expect(runReport(store.client, 'access', range)).rejects.toMatchObject({ code: 'FW_AUDIT_INVALID_OPTION' });
  });
});

describe('whom monitoring reports flag', () => {
  it('tallies each monitoring report’s hit rows by principal; reference reports flag no one', async () => {
    const monitoring = REPORT_REGISTRY.filter((def) => def.flags !== undefined).map((def) => def.name);
    expect(monitoring).toEqual([
      'after-hours',
      'volume',
      'vip',
      'name-probing',
      'exports',
      'failures',
      'tenant-isolation',
      'unexplained',
    ]);
    const vip = await runReport(store.client, 'vip', { ...range, useSettings: false });
    const vipUsers = new Map<string, number>();
    for (const record of records.filter((r) => store.dataset.plants.vipEventIds.includes(r.event_id))) {
      const principal = record.user_id !== '' ? record.user_id : `client:${record.client_id}`;
      vipUsers.set(principal, (vipUsers.get(principal) ?? 0) + 1);
    }
    expect(new Map((vip.flagged ?? []).map((f) => [f.principal, f.rows]))).toEqual(vipUsers);
    // rows are listed in order of most rows first
    const counts = (vip.flagged ?? []).map((f) => f.rows);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));

    // exports: every export is a row, only large or off-hours ones flag their user
    const exports = await runReport(store.client, 'exports', { ...range, useSettings: false });
    const flaggedRows = (exports.rows as { flagged: boolean }[]).filter((row) => row.flagged).length;
    expect((exports.flagged ?? []).reduce((sum, f) => sum + f.rows, 0)).toBe(flaggedRows);
    expect(exports.rows.length).toBeGreaterThan(flaggedRows);

    // failures: grouped by client; a group without users flags its client
    const failures = await runReport(store.client, 'failures', { ...range, useSettings: false });
    const rogue = store.dataset.plants.rogueClient;
    const rogueRow = (failures.rows as { client_id: string; user_ids: string[] }[]).find(
      (row) => row.client_id === rogue.client_id,
    );
    expect(rogueRow).toBeDefined();
    const expected = rogueRow!.user_ids.length > 0 ? rogueRow!.user_ids : [`client:${rogue.client_id}`];
    for (const principal of expected) {
      expect((failures.flagged ?? []).map((f) => f.principal)).toContain(principal);
    }

    for (const name of ['summary']) {
      expect((await runReport(store.client, name, { ...range, useSettings: false })).flagged).toBeUndefined();
    }
  });
});

describe('tenant settings', () => {
  const [east, berlin] = ['0e3c5f3a-0001-4c8e-9a10-000000000001', '0e3c5f3a-0002-4c8e-9a10-000000000002'] as const;

  it('are stored, merged, listed and cleared', async () => {
    await putTenantSettings(store.client, {
      tenantId: berlin,
      settings: { timeZone: 'Europe/Berlin' },
      changedBy: 'test',
      at: new Date('2026-11-01T00:00:00Z'),
    });
    await updateTenantSettings(store.client, {
      tenantId: berlin,
      settings: { workHours: [8, 18], thresholds: { 'name-probing': { minSearches: 30 } } },
      changedBy: 'test',
      at: new Date('2026-11-02T00:00:00Z'),
    });
    const list = await listTenantSettings(store.client);
    expect(list.map((entry) => [entry.tenant_id, entry.settings])).toEqual([
      [berlin, { timeZone: 'Europe/Berlin', workHours: [8, 18], thresholds: { 'name-probing': { minSearches: 30 } } }],
    ]);
    await clearTenantSettings(store.client, { tenantId: berlin, at: new Date('2026-11-03T00:00:00Z') });
    expect(await listTenantSettings(store.client)).toEqual([]);
    await expect(
      putTenantSettings(store.client, { tenantId: berlin, settings: { timeZone: 'Mars/Olympus' } }),
    ).rejects.toMatchObject({ code: 'FW_AUDIT_INVALID_OPTION' });
  });

  it('drive after-hours by default (time zone, hours, holidays), flags override, and missing settings are named', async () => {
    const holiday = store.dataset.records.find(
      (r) => r.tenant_id === east && inRange(r) && r.event_type === 'PatientView',
    )!;
    const holidayDate = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(
      new Date(holiday.event_time),
    );
    await putTenantSettings(store.client, {
      tenantId: east,
      settings: {
        timeZone: 'America/New_York',
        workHours: [7, 19],
        workDays: [1, 2, 3, 4, 5],
        holidays: [holidayDate],
      },
      at: new Date('2026-11-04T00:00:00Z'),
    });
    const report = await runReport(store.client, 'after-hours', { ...range, tenant: east });
    const hours = resolveWorkHours({
      default: { timeZone: 'America/New_York', workHours: [7, 19], workDays: [1, 2, 3, 4, 5], holidays: [holidayDate] },
    }).fallback;
    const expected = records.filter(
      (r) => r.tenant_id === east && inRange(r) && !isWithinWorkHours(new Date(r.event_time), hours),
    );
    expect(ids(report.rows as AuditRecord[])).toEqual(ids(expected));
    expect(ids(report.rows as AuditRecord[])).toContain(holiday.event_id);
    expect(report.notes).toEqual([]);

    // a flag overrides the stored time zone
    const utc = await runReport(store.client, 'after-hours', { ...range, tenant: east, workTime: { timeZone: 'UTC' } });
    const utcHours = { ...hours, timeZone: 'UTC' };
    expect(ids(utc.rows as AuditRecord[])).toEqual(
      ids(
        records.filter(
          (r) => r.tenant_id === east && inRange(r) && !isWithinWorkHours(new Date(r.event_time), utcHours),
        ),
      ),
    );

    // all tenants: east on its settings, the others on the defaults, and the header says which
    const all = await runReport(store.client, 'after-hours', range);
    const defaults = resolveWorkHours({}).fallback;
    const expectedAll = records.filter(
      (r) => inRange(r) && !isWithinWorkHours(new Date(r.event_time), r.tenant_id === east ? hours : defaults),
    );
    expect(ids(all.rows as AuditRecord[])).toEqual(ids(expectedAll));
    expect(all.notes?.join(' ')).toMatch(
      /No stored settings for tenants .*0e3c5f3a-0002.*0e3c5f3a-0003.*defaults used \(UTC/,
    );
    expect(all.notes?.join(' ')).not.toContain(east);
    const berlinOnly = await runReport(store.client, 'after-hours', { ...range, tenant: berlin });
    expect(berlinOnly.notes).toEqual([expect.stringContaining(`No stored settings for tenant ${berlin}`)]);
  });

  it('a store without the settings table (not migrated to 8) reads as "no settings" and gets the table', async () => {
    await store.client.command({ query: 'DROP TABLE IF EXISTS audit_tenant_settings' });
    expect(await listTenantSettings(store.client)).toEqual([]);
    const report = await runReport(store.client, 'after-hours', { ...range, tenant: east });
    expect(report.notes).toEqual([expect.stringContaining(`No stored settings for tenant ${east}`)]);
    await putTenantSettings(store.client, {
      tenantId: east,
      settings: { timeZone: 'America/New_York' },
      at: new Date('2026-11-04T12:00:00Z'),
    });
    expect((await listTenantSettings(store.client)).map((entry) => entry.tenant_id)).toEqual([east]);
  });

  it('thresholds come from the settings unless a flag is given', async () => {
    await updateTenantSettings(store.client, {
      tenantId: east,
      settings: { thresholds: { exports: { largePatients: 3 } } },
      at: new Date('2026-11-05T00:00:00Z'),
    });
    const stored = await runReport(store.client, 'exports', { ...range, tenant: east });
    expect(stored.parameters).toMatchObject({ largePatients: 3, settings: 'stored' });
    const flagged = await runReport(store.client, 'exports', {
      ...range,
      tenant: east,
      options: { 'large-patients': '50' },
    });
    expect(flagged.parameters).toMatchObject({ largePatients: 50 });
    const other = await runReport(store.client, 'exports', { ...range, tenant: berlin });
    expect(other.parameters).toMatchObject({ largePatients: 1000, settings: 'defaults' });
  });
});
