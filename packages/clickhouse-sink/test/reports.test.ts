/**
 * Every compliance report on the seeded dataset (real chDB): planted cases are found, ordinary traffic
 * is not flagged, duplicate deliveries are never counted twice. Expected answers are computed from the
 * generated records and the plants, not copied from query output.
 */
import { AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport } from '../src/compliance/format/index.ts';
import {
  accessReport,
  activityReport,
  afterHoursReport,
  exportsReport,
  failuresReport,
  summaryReport,
  tenantIsolationReport,
  vipReport,
} from '../src/compliance/index.ts';
import { resolveMrnFromStore } from '../src/compliance/patient-resolve.ts';
import { nameProbingReport } from '../src/compliance/report-defs/name-probing.ts';
import { volumeReport } from '../src/compliance/report-defs/volume.ts';
import { isWithinWorkHours, resolveWorkHours, workHoursFor } from '../src/compliance/work-hours.ts';
import { AUDIT_TABLE } from '../src/store/schema/index.ts';
import { ids, type LoadedStore, loadStore } from './queries-fixture.ts';

let store: LoadedStore;
let records: AuditRecord[];
let range: { from: Date; to: Date };
const inRange = (r: AuditRecord): boolean => {
  const t = Date.parse(r.event_time);
  return t >= range.from.getTime() && t < range.to.getTime();
};

beforeAll(async () => {
  store = await loadStore('reports');
  records = store.dataset.records;
  range = { from: store.dataset.plants.reportFrom, to: store.dataset.plants.reportTo };
}, 240_000);

afterAll(async () => {
  await store?.close();
});

describe('dataset in the store', () => {
  it('holds duplicate deliveries as separate rows', async () => {
    const result = await store.client.query({
      query: `SELECT count() AS rows, uniqExact(event_id) AS events FROM ${AUDIT_TABLE}`,
      format: 'JSONEachRow',
    });
    const [row] = (await result.json()) as { rows: string; events: string }[];
    expect(Number(row?.events)).toBe(records.length);
    expect(Number(row?.rows)).toBe(records.length + store.dataset.duplicates.length);
    expect(store.dataset.duplicates.length).toBeGreaterThan(100);
  });
});

describe('access report', () => {
  it('lists every access to the patient once, with all-patients exports of its tenant', async () => {
    const { tenant_id, patient_id } = store.dataset.plants.accessPatient;
    const report = await accessReport(store.client, { patientIds: [patient_id], ...range });
    const tenants = new Set(records.filter((r) => r.patient_id === patient_id).map((r) => r.tenant_id));
    const expected = records.filter(
      (r) => inRange(r) && (r.patient_id === patient_id || (r.patient_id === '*' && tenants.has(r.tenant_id))),
    );
    expect(tenants).toEqual(new Set([tenant_id]));
    expect(report.rows.map((r) => r.event_id)).toHaveLength(new Set(report.rows.map((r) => r.event_id)).size);
    expect(ids(report.rows)).toEqual(ids(expected));
    expect(report.rows.some((r) => r.patient_id === '*')).toBe(true);
    // oldest first, and the rows are whole records
    const times = report.rows.map((r) => r.event_time);
    expect([...times].sort()).toEqual(times);
    const byId = new Map(records.map((r) => [r.event_id, r]));
    for (const row of report.rows) expect(row).toEqual(byId.get(row.event_id));

    // a patient of another tenant gets none of east's all-patient exports
    const other = records.find(
      (r) => r.tenant_id !== tenant_id && r.patient_id.startsWith('p-') && inRange(r),
    )!.patient_id;
    const otherReport = await accessReport(store.client, { patientIds: [other], ...range });
    expect(otherReport.rows.length).toBeGreaterThan(0);
    expect(ids(otherReport.rows)).toEqual(ids(records.filter((r) => inRange(r) && r.patient_id === other)));

    const withoutExports = await accessReport(store.client, {
      patientIds: [patient_id],
      includeAllPatientExports: false,
      ...range,
    });
    expect(ids(withoutExports.rows)).toEqual(ids(expected.filter((r) => r.patient_id === patient_id)));
  });

  it('resolves an MRN through the identifier searches recorded in the store', async () => {
    const { tenant_id, patient_id, mrn, mrn_system } = store.dataset.plants.accessPatient;
    // which patients did identifier searches for this MRN return? (computed from the generated queries)
    const expected = new Set(
      records
        .filter((r) => r.event_type === 'PatientSearch' && r.outcome === 0 && inRange(r) && r.patient_id !== '')
        .filter((r) => new URLSearchParams(r.query).get('identifier') === `${mrn_system}|${mrn}`)
        .map((r) => `${r.tenant_id}/${r.patient_id}`),
    );
    expect(expected).toEqual(new Set([`${tenant_id}/${patient_id}`]));
    const resolved = await resolveMrnFromStore(store.client, { mrn, ...range });
    expect(new Set(resolved.map((r) => `${r.tenant_id}/${r.patient_id}`))).toEqual(expected);
    expect(await resolveMrnFromStore(store.client, { mrn: 'MRN-NOBODY', ...range })).toEqual([]);
  });

  it('restricts to one tenant', async () => {
    const { patient_id } = store.dataset.plants.accessPatient;
    const report = await accessReport(store.client, { patientIds: [patient_id], tenant: 'no-such-tenant', ...range });
    expect(report.rows).toEqual([]);
  });
});

describe('record-level output, byte for byte', () => {
  // every record field, in AUDIT_RECORD_FIELDS order (the key order the JSON and FHIR texts follow), from the
  // generated records: the reference the decoded rows must match as text, not only as values
  const canonical = (r: AuditRecord): AuditRecord =>
    Object.fromEntries(AUDIT_RECORD_FIELDS.map((field) => [field, r[field]])) as unknown as AuditRecord;
  it('access and activity reports give the JSON and FHIR texts of the generated records', async () => {
    const byId = new Map(records.map((r) => [r.event_id, r]));
    const { patient_id } = store.dataset.plants.accessPatient;
    const { user_id, tenant_id } = store.dataset.plants.activityUser;
    for (const report of [
      await accessReport(store.client, { patientIds: [patient_id], ...range }),
      await activityReport(store.client, { userId: user_id, tenant: tenant_id, ...range }),
    ]) {
      expect(report.rows.length).toBeGreaterThan(0);
      // null result counts (over the capture cap) and numbers arrive as they were generated
      const expected = report.rows.map((row) => canonical(byId.get(row.event_id) as AuditRecord));
      const reference = { ...report, rows: expected, records: expected };
      const now = new Date();
      for (const format of ['json', 'fhir'] as const) {
        expect(formatReport(report, format, { now })).toBe(formatReport(reference, format, { now }));
      }
    }
  });
});

describe('activity report', () => {
  it('lists every access of the user in the range, once', async () => {
    const { user_id, tenant_id } = store.dataset.plants.activityUser;
    const report = await activityReport(store.client, { userId: user_id, tenant: tenant_id, ...range });
    const expected = records.filter((r) => inRange(r) && r.user_id === user_id && r.tenant_id === tenant_id);
    expect(expected.length).toBeGreaterThan(20);
    expect(ids(report.rows)).toEqual(ids(expected));
    expect(new Set(report.rows.map((r) => r.patient_id))).toEqual(new Set(expected.map((r) => r.patient_id)));
  });
});

describe('after-hours report', () => {
  it('flags exactly the accesses outside each tenant’s working time, none of the ordinary traffic', async () => {
    const { plants, workHours } = store.dataset;
    const report = await afterHoursReport(store.client, { workHours, ...range });
    const hours = resolveWorkHours(workHours);
    const expected = records.filter(
      (r) => inRange(r) && !isWithinWorkHours(new Date(r.event_time), workHoursFor(hours, r.tenant_id)),
    );
    expect(ids(report.rows)).toEqual(ids(expected));
    const got = new Set(ids(report.rows));
    for (const id of plants.afterHoursEventIds) expect(got.has(id)).toBe(true);
    for (const id of plants.inHoursBoundaryEventIds) expect(got.has(id)).toBe(false);
    // everything flagged was planted (after-hours plants, the Sunday export)
    const offHoursExport = new Set(plants.exports.filter((e) => e.off_hours).map((e) => e.trace_id));
    const planted = new Set(plants.afterHoursEventIds);
    const unplanned = report.rows.filter((row) => !planted.has(row.event_id) && !offHoursExport.has(row.trace_id));
    expect(unplanned.map((row) => [row.event_time, row.tenant_id, row.user_id, row.event_type])).toEqual([]);
  });

  it('uses the tenant’s own time zone: with every tenant on UTC hours the flagged set changes', async () => {
    const report = await afterHoursReport(store.client, { ...range });
    const hours = resolveWorkHours({});
    const expected = records.filter((r) => inRange(r) && !isWithinWorkHours(new Date(r.event_time), hours.fallback));
    expect(ids(report.rows)).toEqual(ids(expected));
    expect(expected.length).toBeGreaterThan(store.dataset.plants.afterHoursEventIds.length + 50);
  });
});

describe('volume report', () => {
  it('flags the planted hour, not the ordinary users', async () => {
    const report = await volumeReport(store.client, { granularity: 'hour', ...range });
    expect(
      report.rows.map((r) => ({ tenant_id: r.tenant_id, user_id: r.user_id, bucket: r.bucket, patients: r.patients })),
    ).toEqual(store.dataset.plants.volumeHour);
    expect(report.rows[0]!.baseline_buckets).toBeGreaterThan(10);
  });

  it('flags the planted day, not the clerk whose own baseline is high', async () => {
    const { plants } = store.dataset;
    const report = await volumeReport(store.client, { granularity: 'day', ...range });
    const flagged = report.rows.map((r) => ({
      tenant_id: r.tenant_id,
      user_id: r.user_id,
      bucket: r.bucket,
      patients: r.patients,
    }));
    expect(flagged).toEqual(plants.volumeDay);
    // the clerk's busy day is above the floor; k × baseline holds it back. With k = 1 it is flagged.
    const lowK = await volumeReport(store.client, { granularity: 'day', k: 1, ...range });
    const lowKKeys = lowK.rows.map((r) => `${r.user_id}@${r.bucket}`);
    for (const busy of plants.volumeNotFlagged) expect(lowKKeys).toContain(`${busy.user_id}@${busy.bucket}`);
  });
});

describe('vip report', () => {
  it('reports every access to a listed patient (tenant-scoped and any-tenant), not removed ones', async () => {
    const report = await vipReport(store.client, range);
    expect(ids(report.rows)).toEqual([...store.dataset.plants.vipEventIds].sort());
    expect(report.rows.every((r) => r.vip_reason !== '')).toBe(true);
  });
});

describe('name-probing report', () => {
  it('flags the burst of name searches with few views only', async () => {
    const report = await nameProbingReport(store.client, range);
    expect(report.rows.map(({ first_search: _f, last_search: _l, window_end: _e, ...row }) => row)).toEqual(
      store.dataset.plants.nameProbing,
    );
    for (const principal of store.dataset.plants.nameProbingNot) {
      expect(report.rows.some((r) => r.principal === principal)).toBe(false);
    }
  });

  it('honours its thresholds', async () => {
    const stricter = await nameProbingReport(store.client, { ...range, minSearches: 26 });
    expect(stricter.rows).toEqual([]);
  });
});

describe('exports report', () => {
  it('lists every export request once, flagging the large and off-hours ones', async () => {
    const { plants, workHours } = store.dataset;
    const report = await exportsReport(store.client, { workHours, ...range });
    const summary = (e: {
      tenant_id: string;
      large: boolean;
      off_hours: boolean;
      all_patients: boolean;
      patients: number;
    }) => `${e.tenant_id}|${e.large}|${e.off_hours}|${e.all_patients}|${e.patients}`;
    expect(report.rows.map(summary).sort()).toEqual(plants.exports.map(summary).sort());
    expect(report.rows.filter((r) => r.flagged)).toHaveLength(
      plants.exports.filter((e) => e.large || e.off_hours).length,
    );
    const exportRecords = records.filter((r) => r.event_type === 'ExportInitiation' && inRange(r));
    expect(ids(report.records ?? [])).toEqual(ids(exportRecords));
  });
});

describe('failures report', () => {
  it('groups denied and failed accesses by tenant and client', async () => {
    const report = await failuresReport(store.client, range);
    const groups = new Map<string, { events: number; users: Set<string> }>();
    for (const r of records) {
      if (!inRange(r) || r.outcome === 0) continue;
      const category = r.http_status === 401 || r.http_status === 403 ? 'denied' : 'failed';
      const key = `${r.tenant_id}|${r.client_id}|${category}|${r.http_status}|${r.outcome}`;
      const group = groups.get(key) ?? { events: 0, users: new Set() };
      group.events += 1;
      if (r.user_id !== '') group.users.add(r.user_id);
      groups.set(key, group);
    }
    const got = new Map(
      report.rows.map((r) => [`${r.tenant_id}|${r.client_id}|${r.category}|${r.http_status}|${r.outcome}`, r]),
    );
    expect([...got.keys()].sort()).toEqual([...groups.keys()].sort());
    for (const [key, group] of groups) {
      expect(got.get(key)?.events).toBe(group.events);
      expect(got.get(key)?.users).toBe(group.users.size);
    }
    const { tenant_id, client_id, denied } = store.dataset.plants.rogueClient;
    expect(got.get(`${tenant_id}|${client_id}|denied|403|4`)?.events).toBe(denied);
  });
});

describe('tenant-isolation report', () => {
  it('lists exactly the records whose routed tenant differs from the token tenant', async () => {
    const report = await tenantIsolationReport(store.client, range);
    expect(ids(report.rows)).toEqual([...store.dataset.plants.isolationEventIds].sort());
    // records that were never routed (routed_tenant_id '') exist and are not breaches
    expect(records.some((r) => inRange(r) && r.routed_tenant_id === '')).toBe(true);
  });
});

describe('summary report', () => {
  it('counts events per type per day per tenant once each', async () => {
    const report = await summaryReport(store.client, range);
    const expected = new Map<string, number>();
    for (const r of records) {
      if (!inRange(r)) continue;
      const key = `${r.event_time.slice(0, 10)}|${r.tenant_id}|${r.event_type}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const got = new Map(report.rows.map((r) => [`${r.day}|${r.tenant_id}|${r.event_type}`, r.events]));
    expect(got).toEqual(expected);
  });
});
