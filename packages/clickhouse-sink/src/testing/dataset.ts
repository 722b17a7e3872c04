/**
 * A deterministic (seeded) synthetic audit dataset for the report tests, the CLI tests and demos:
 * ordinary clinical traffic that no report may flag, plus planted cases with known answers for each
 * report (`plants`). Records carry a valid HMAC chain per writer (legacy single records, each its own chain
 * link, signed with the contract's chain: signChain over auditRecordCanonical).
 *
 * Ordinary traffic: working days only, 08:00–17:30 local time; each clinician runs a few sessions
 * (a name or identifier search returning 1–3 patients, then a view or two of those patients); one
 * clerk per tenant views 100–130 patients a day (10–13 an hour); ~3 % of views fail (403 / 503).
 */
import * as crypto from 'node:crypto';
import {
  type AuditEventType,
  type AuditRecord,
  auditRecordCanonical,
  chainHasher,
  type FhirInteraction,
  outcomeForStatus,
  signChain,
} from '@fhirwatch/contract';
import type { VipChange } from '../compliance/vip.ts';
import type { WorkHoursConfig } from '../compliance/work-hours.ts';
import { localParts } from '../compliance/work-hours.ts';

export interface DatasetTenant {
  id: string;
  short: string;
  timeZone: string;
  writer: string;
}

export const DATASET_TENANTS: readonly DatasetTenant[] = [
  { id: '0e3c5f3a-0001-4c8e-9a10-000000000001', short: 'east', timeZone: 'America/New_York', writer: 'gw-a' },
  { id: '0e3c5f3a-0002-4c8e-9a10-000000000002', short: 'berlin', timeZone: 'Europe/Berlin', writer: 'gw-b' },
  // not in the work-hours config: held to the default (UTC 07:00–19:00, Mon–Fri)
  { id: '0e3c5f3a-0003-4c8e-9a10-000000000003', short: 'utc', timeZone: 'UTC', writer: 'gw-a' },
];

export interface DatasetOptions {
  seed?: number;
  /** Days of traffic ending at `end`. Default 45. */
  days?: number;
  /** Exclusive end of the data (a UTC midnight). Default 2026-11-20T00:00:00Z (a Friday). */
  end?: Date;
  /** Clinicians per tenant. Default 6. */
  users?: number;
  /** Patients per tenant. Default 300. */
  patients?: number;
  /** HMAC key of the writers. Default 'fhirwatch-test-key'. */
  key?: string;
}

export interface DatasetPlants {
  /** Report range the plants sit in: the last 14 days. */
  reportFrom: Date;
  reportTo: Date;
  afterHoursEventIds: string[];
  /** Planted right at the edges of working time: 07:00:00.000 and 18:59:59.999 local, never flagged. */
  inHoursBoundaryEventIds: string[];
  volumeHour: { tenant_id: string; user_id: string; bucket: string; patients: number }[];
  volumeDay: { tenant_id: string; user_id: string; bucket: string; patients: number }[];
  /** A clerk's busy day: above the day floor but within k × baseline; never flagged. */
  volumeNotFlagged: { tenant_id: string; user_id: string; bucket: string; patients: number }[];
  vipAdd: VipChange[];
  vipRemove: VipChange[];
  vipEventIds: string[];
  /** Accesses to removed VIPs or to a VIP id in another tenant: never reported. */
  vipNotReportedEventIds: string[];
  nameProbing: {
    tenant_id: string;
    principal: string;
    window_start: string;
    name_searches: number;
    viewed_patients: number;
  }[];
  /** Principals with bursts that must not be flagged (many views; identifier searches). */
  nameProbingNot: string[];
  exports: {
    trace_id: string;
    tenant_id: string;
    large: boolean;
    off_hours: boolean;
    all_patients: boolean;
    patients: number;
  }[];
  rogueClient: { tenant_id: string; client_id: string; denied: number };
  isolationEventIds: string[];
  /** A patient with ordinary accesses, an MRN search and an all-patients export in range. */
  accessPatient: { tenant_id: string; patient_id: string; mrn: string; mrn_system: string };
  activityUser: { tenant_id: string; user_id: string };
}

export interface AuditDataset {
  records: AuditRecord[];
  /** Records delivered twice (a subset of `records`, identical copies): insert them again. */
  duplicates: AuditRecord[];
  plants: DatasetPlants;
  workHours: WorkHoursConfig;
  key: string;
}

/** mulberry32: small, fast, good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const MIN = 60_000;

/** The UTC instant of a local wall-clock time in a time zone. */
export function zonedInstant(
  timeZone: string,
  y: number,
  m: number,
  d: number,
  h: number,
  mi = 0,
  s = 0,
  ms = 0,
): Date {
  const wanted = Date.UTC(y, m - 1, d, h, mi, s, ms);
  let guess = wanted;
  for (let i = 0; i < 3; i += 1) {
    const text = localParts(new Date(guess), timeZone).text;
    const local = Date.parse(`${text.replace(' ', 'T')}Z`) + (guess % 1000);
    guess += wanted - local;
  }
  return new Date(guess);
}

/** Sign records in place: per writer, in event_time order, seq from 1, prev_hash → hash chain. */
export function signAuditChain(records: AuditRecord[], key: string | Uint8Array): AuditRecord[] {
  const hasher = chainHasher(crypto, key);
  const byWriter = new Map<string, AuditRecord[]>();
  for (const record of records) {
    const list = byWriter.get(record.recorded_by) ?? [];
    list.push(record);
    byWriter.set(record.recorded_by, list);
  }
  for (const list of byWriter.values()) {
    list.sort((a, b) =>
      a.event_time === b.event_time ? (a.event_id < b.event_id ? -1 : 1) : a.event_time < b.event_time ? -1 : 1,
    );
    signChain(hasher, list, auditRecordCanonical);
  }
  return records;
}

export function generateAuditDataset(options: DatasetOptions = {}): AuditDataset {
  const random = prng(options.seed ?? 42);
  const days = options.days ?? 45;
  const end = options.end ?? new Date('2026-11-20T00:00:00Z');
  const userCount = options.users ?? 6;
  const patientCount = options.patients ?? 300;
  const key = options.key ?? 'fhirwatch-test-key';
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
  const uuidv7 = (ms: number): string => {
    const t = ms.toString(16).padStart(12, '0');
    return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${hex(3)}-${'89ab'[int(0, 3)]}${hex(3)}-${hex(12)}`;
  };
  const records: AuditRecord[] = [];
  const [east, berlin, utc] = DATASET_TENANTS as [DatasetTenant, DatasetTenant, DatasetTenant];
  const userId = (t: DatasetTenant, n: number | string): string => `u-${t.short}-${n}`;
  const patientId = (t: DatasetTenant, n: number | string): string => `p-${t.short}-${n}`;
  const mrnSystem = 'urn:oid:2.16.840.1.113883.19.5';
  const mrnOf = (t: DatasetTenant, n: number): string => `MRN-${t.short.toUpperCase()}-${1000 + n}`;

  interface Access {
    tenant: DatasetTenant;
    at: Date;
    eventType: AuditEventType;
    interaction: FhirInteraction;
    resourceType: string;
    patient: string;
    user?: string;
    client?: string;
    query?: string;
    status?: number;
    traceId?: string;
    routed?: string;
    resultCount?: number;
  }
  const add = (a: Access): AuditRecord => {
    const user = a.user ?? '';
    const status = a.status ?? 200;
    const record: AuditRecord = {
      event_id: uuidv7(a.at.getTime()),
      event_time: a.at.toISOString(),
      recorded_by: a.tenant.writer,
      seq: 0,
      prev_hash: '',
      hash: '',
      tenant_id: a.tenant.id,
      routed_tenant_id: a.routed ?? (status === 401 ? '' : a.tenant.id),
      client_id: a.client ?? 'teams-patients-app',
      user_id: user,
      user_name: user === '' ? '' : `Dr ${user.slice(2).replace('-', ' ')}`,
      source_ip:
        user === ''
          ? `10.9.0.${int(1, 250)}`
          : `10.${DATASET_TENANTS.indexOf(a.tenant) + 1}.0.${(user.length * 7 + user.charCodeAt(user.length - 1)) % 250}`,
      user_agent: 'Mozilla/5.0 Teams/24335 PatientsApp/2.1',
      event_type: a.eventType,
      fhir_interaction: a.interaction,
      resource_type: a.resourceType,
      fhir_version: 'STU3',
      query: a.query ?? '',
      patient_id: a.patient,
      batch_id: '',
      entry_index: -1,
      trace_id: a.traceId ?? hex(32),
      outcome: outcomeForStatus(status),
      http_status: status,
      duration_ms: Math.round((20 + random() * 400) * 1000) / 1000,
      result_count: a.resultCount ?? (a.patient === '' ? 0 : 1),
    };
    records.push(record);
    return record;
  };
  const view = (tenant: DatasetTenant, at: Date, patient: string, user: string, status = 200): AuditRecord => {
    const kind = pick(['PatientView', 'VitalSignsView', 'ConditionsView', 'MedicationsView'] as const);
    return kind === 'PatientView'
      ? add({ tenant, at, eventType: kind, interaction: 'read', resourceType: 'Patient', patient, user, status })
      : add({
          tenant,
          at,
          eventType: kind,
          interaction: 'search-type',
          resourceType:
            kind === 'VitalSignsView' ? 'Observation' : kind === 'ConditionsView' ? 'Condition' : 'MedicationStatement',
          patient,
          user,
          status,
          query: `patient=${patient}${kind === 'VitalSignsView' ? '&category=vital-signs&_sort=-date' : ''}`,
        });
  };
  const search = (
    tenant: DatasetTenant,
    at: Date,
    user: string,
    query: string,
    patients: string[],
    client?: string,
  ): AuditRecord[] => {
    const traceId = hex(32);
    const common = {
      tenant,
      at,
      eventType: 'PatientSearch' as const,
      interaction: 'search-type' as const,
      resourceType: 'Patient',
      user,
      query,
      traceId,
      client,
      resultCount: patients.length,
    };
    if (patients.length === 0) return [add({ ...common, patient: '' })];
    return patients.map((patient) => add({ ...common, patient }));
  };
  const families = ['smith', 'garcia', 'nguyen', 'müller', 'o’brien', 'kowalski', 'tanaka', 'okafor'];

  const reportFrom = new Date(end.getTime() - 14 * DAY);
  const dayDate = (offsetFromEnd: number): { y: number; m: number; d: number; weekday: number } => {
    const date = new Date(end.getTime() - offsetFromEnd * DAY);
    return {
      y: date.getUTCFullYear(),
      m: date.getUTCMonth() + 1,
      d: date.getUTCDate(),
      weekday: ((date.getUTCDay() + 6) % 7) + 1,
    };
  };
  /** Weekdays (days before end) used by the plants. 2026-11-20 is a Friday: offset 3 = Tue 17th. */
  const plantDay = { snoop: 3, berlinDay: 4, probe: 2, exports: 9, clerkBusy: 8 };
  const quiet = new Set<string>([
    `${userId(east, 3)}@${plantDay.snoop}`,
    `${userId(berlin, 2)}@${plantDay.berlinDay}`,
    `${userId(utc, 4)}@${plantDay.probe}`,
    `${userId(utc, 5)}@${plantDay.probe}`,
    `${userId(east, 4)}@${plantDay.probe}`,
  ]);

  // ---- ordinary traffic -------------------------------------------------------------------------
  for (let offset = days; offset >= 1; offset -= 1) {
    const { y, m, d, weekday } = dayDate(offset);
    if (weekday > 5) continue;
    for (const tenant of DATASET_TENANTS) {
      for (let u = 1; u <= userCount; u += 1) {
        const user = userId(tenant, u);
        if (quiet.has(`${user}@${offset}`)) continue;
        const sessions = int(3, 6);
        for (let s = 0; s < sessions; s += 1) {
          const startMinute = int(8 * 60, 17 * 60 + 15);
          let at = zonedInstant(
            tenant.timeZone,
            y,
            m,
            d,
            Math.floor(startMinute / 60),
            startMinute % 60,
            int(0, 59),
            int(0, 999),
          );
          const found = Array.from({ length: int(1, 3) }, () => int(1, patientCount));
          const byName = random() < 0.5;
          search(
            tenant,
            at,
            user,
            byName
              ? `family=${encodeURIComponent(pick(families))}&_count=10`
              : `identifier=${encodeURIComponent(`${mrnSystem}|${mrnOf(tenant, found[0]!)}`)}`,
            byName ? found.map((n) => patientId(tenant, n)) : [patientId(tenant, found[0]!)],
          );
          const viewed = byName ? found.slice(0, int(1, found.length)) : [found[0]!];
          for (const n of viewed) {
            for (let v = int(1, 2); v > 0; v -= 1) {
              at = new Date(at.getTime() + int(10, 120) * 1000);
              const fail = random();
              view(
                tenant,
                at,
                patientId(tenant, n),
                user,
                fail < 0.02 ? 503 : fail < 0.03 ? 403 : fail < 0.035 ? 401 : 200,
              );
            }
          }
        }
      }
      // the clerk: many patients every working day, spread over 10 hours
      const clerk = userId(tenant, 'clerk');
      const isBusy = offset === plantDay.clerkBusy && tenant === east;
      const patientsToday = isBusy ? 170 : int(100, 130);
      const first = int(1, patientCount);
      for (let i = 0; i < patientsToday; i += 1) {
        const minute = 8 * 60 + Math.floor((i * 600) / patientsToday);
        const at = zonedInstant(
          tenant.timeZone,
          y,
          m,
          d,
          Math.floor(minute / 60),
          minute % 60,
          int(0, 59),
          int(0, 999),
        );
        add({
          tenant,
          at,
          eventType: 'PatientView',
          interaction: 'read',
          resourceType: 'Patient',
          patient: patientId(tenant, `c${(first + i) % 1000}`),
          user: clerk,
          client: 'registration-desk',
        });
      }
    }
  }

  // ---- planted cases ----------------------------------------------------------------------------
  const afterHoursEventIds: string[] = [];
  const inHoursBoundaryEventIds: string[] = [];
  {
    const tue = dayDate(3);
    const sat = dayDate(6);
    afterHoursEventIds.push(
      view(east, zonedInstant(east.timeZone, tue.y, tue.m, tue.d, 22, 30), patientId(east, 11), userId(east, 1))
        .event_id,
    );
    afterHoursEventIds.push(
      view(berlin, zonedInstant(berlin.timeZone, sat.y, sat.m, sat.d, 10, 0), patientId(berlin, 12), userId(berlin, 1))
        .event_id,
    );
    afterHoursEventIds.push(
      view(east, zonedInstant(east.timeZone, tue.y, tue.m, tue.d, 6, 59, 59, 999), patientId(east, 13), userId(east, 2))
        .event_id,
    );
    afterHoursEventIds.push(
      view(east, zonedInstant(east.timeZone, tue.y, tue.m, tue.d, 19, 0, 0, 0), patientId(east, 14), userId(east, 2))
        .event_id,
    );
    inHoursBoundaryEventIds.push(
      view(east, zonedInstant(east.timeZone, tue.y, tue.m, tue.d, 7, 0, 0, 0), patientId(east, 15), userId(east, 2))
        .event_id,
    );
    inHoursBoundaryEventIds.push(
      view(
        east,
        zonedInstant(east.timeZone, tue.y, tue.m, tue.d, 18, 59, 59, 999),
        patientId(east, 16),
        userId(east, 2),
      ).event_id,
    );
    // 20:00 UTC: after hours for the UTC-default tenant, 15:00 in New York (in hours)
    afterHoursEventIds.push(
      view(utc, new Date(Date.UTC(tue.y, tue.m - 1, tue.d, 20, 0)), patientId(utc, 17), userId(utc, 1)).event_id,
    );
    inHoursBoundaryEventIds.push(
      view(east, new Date(Date.UTC(tue.y, tue.m - 1, tue.d, 20, 0)), patientId(east, 18), userId(east, 1)).event_id,
    );
  }

  const volumeHour: DatasetPlants['volumeHour'] = [];
  const volumeDay: DatasetPlants['volumeDay'] = [];
  {
    const day = dayDate(plantDay.snoop);
    const hourStart = zonedInstant(east.timeZone, day.y, day.m, day.d, 14, 0);
    for (let i = 0; i < 45; i += 1) {
      view(east, new Date(hourStart.getTime() + i * 70_000), patientId(east, `s${i}`), userId(east, 3));
    }
    volumeHour.push({ tenant_id: east.id, user_id: userId(east, 3), bucket: hourStart.toISOString(), patients: 45 });
    const bday = dayDate(plantDay.berlinDay);
    for (let i = 0; i < 170; i += 1) {
      const minute = 8 * 60 + Math.floor((i * 540) / 170);
      view(
        berlin,
        zonedInstant(berlin.timeZone, bday.y, bday.m, bday.d, Math.floor(minute / 60), minute % 60, 5),
        patientId(berlin, `d${i}`),
        userId(berlin, 2),
      );
    }
    volumeDay.push({
      tenant_id: berlin.id,
      user_id: userId(berlin, 2),
      bucket: new Date(Date.UTC(bday.y, bday.m - 1, bday.d)).toISOString(),
      patients: 170,
    });
  }
  const busy = dayDate(plantDay.clerkBusy);
  const volumeNotFlagged = [
    {
      tenant_id: east.id,
      user_id: userId(east, 'clerk'),
      bucket: new Date(Date.UTC(busy.y, busy.m - 1, busy.d)).toISOString(),
      patients: 170,
    },
  ];

  // VIP: east's vip1 (east only), shared-vip (any tenant), berlin's vip3 (added, then removed)
  const vipAdd: VipChange[] = [
    {
      tenantId: east.id,
      patientId: 'p-east-vip1',
      reason: 'board member',
      changedBy: 'privacy-officer',
      at: new Date(end.getTime() - 40 * DAY),
    },
    {
      tenantId: '',
      patientId: 'p-shared-vip',
      reason: 'public figure',
      changedBy: 'privacy-officer',
      at: new Date(end.getTime() - 40 * DAY),
    },
    {
      tenantId: berlin.id,
      patientId: 'p-berlin-vip3',
      reason: 'employee',
      changedBy: 'privacy-officer',
      at: new Date(end.getTime() - 40 * DAY),
    },
  ];
  const vipRemove: VipChange[] = [
    {
      tenantId: berlin.id,
      patientId: 'p-berlin-vip3',
      changedBy: 'privacy-officer',
      at: new Date(end.getTime() - 20 * DAY),
    },
  ];
  const vipEventIds: string[] = [];
  const vipNotReportedEventIds: string[] = [];
  {
    const day = dayDate(10);
    const at = (t: DatasetTenant, h: number, mi: number): Date => zonedInstant(t.timeZone, day.y, day.m, day.d, h, mi);
    vipEventIds.push(view(east, at(east, 9, 5), 'p-east-vip1', userId(east, 1)).event_id);
    vipEventIds.push(view(east, at(east, 9, 7), 'p-east-vip1', userId(east, 1)).event_id);
    vipEventIds.push(view(east, at(east, 13, 40), 'p-east-vip1', userId(east, 5)).event_id);
    vipEventIds.push(view(utc, at(utc, 11, 0), 'p-shared-vip', userId(utc, 2)).event_id);
    vipEventIds.push(view(berlin, at(berlin, 11, 0), 'p-shared-vip', userId(berlin, 3)).event_id);
    vipNotReportedEventIds.push(view(berlin, at(berlin, 10, 0), 'p-berlin-vip3', userId(berlin, 4)).event_id);
    vipNotReportedEventIds.push(view(berlin, at(berlin, 10, 5), 'p-berlin-vip3', userId(berlin, 4)).event_id);
    vipNotReportedEventIds.push(view(utc, at(utc, 12, 0), 'p-east-vip1', userId(utc, 3)).event_id);
  }

  // name probing: 25 name searches in 9 minutes with one view; 12 searches with 8 views; 20 identifier searches
  const nameProbing: DatasetPlants['nameProbing'] = [];
  {
    const day = dayDate(plantDay.probe);
    const start = Date.UTC(day.y, day.m - 1, day.d, 10, 0, 0);
    const names = ['given=ann', 'family:contains=smi', 'name=jo', 'family=lee&given=al', 'name:exact=Kim'];
    const probed: string[] = [];
    for (let i = 0; i < 25; i += 1) {
      const found = Array.from({ length: int(0, 1) }, () => patientId(utc, `q${int(1, 500)}`));
      probed.push(...found);
      search(utc, new Date(start + i * 21_000), userId(utc, 4), names[i % names.length]!, found);
    }
    // one of the patients the probe found is opened (a view that follows the user's own name search)
    view(utc, new Date(start + 8 * MIN), probed[0] ?? patientId(utc, 'q7'), userId(utc, 4));
    nameProbing.push({
      tenant_id: utc.id,
      principal: userId(utc, 4),
      window_start: new Date(start).toISOString(),
      name_searches: 25,
      viewed_patients: 1,
    });
    for (let i = 0; i < 12; i += 1) {
      const p = patientId(utc, `r${i}`);
      search(utc, new Date(start + 20 * MIN + i * 40_000), userId(utc, 5), `family=${families[i % families.length]}`, [
        p,
      ]);
      if (i < 8) view(utc, new Date(start + 20 * MIN + i * 40_000 + 10_000), p, userId(utc, 5));
    }
    const eastStart = zonedInstant(east.timeZone, day.y, day.m, day.d, 10, 0).getTime();
    for (let i = 0; i < 20; i += 1) {
      const n = int(1, patientCount);
      search(
        east,
        new Date(eastStart + i * 20_000),
        userId(east, 4),
        `identifier=${encodeURIComponent(`${mrnSystem}|${mrnOf(east, n)}`)}`,
        [patientId(east, n)],
      );
    }
  }

  // exports (east: small in hours, all-patients, off-hours Sunday 03:00; berlin: large result count)
  const exports: DatasetPlants['exports'] = [];
  {
    const wed = dayDate(plantDay.exports);
    const sun = dayDate(12);
    const groupExport = (
      tenant: DatasetTenant,
      at: Date,
      patients: string[],
      resultCount: number,
      user: string,
    ): string => {
      const traceId = hex(32);
      for (const patient of patients) {
        add({
          tenant,
          at,
          eventType: 'ExportInitiation',
          interaction: 'operation',
          resourceType: 'Group',
          patient,
          user,
          client: 'ehr-sync',
          query: '_type=Patient,Observation',
          traceId,
          status: 202,
          resultCount,
        });
      }
      return traceId;
    };
    exports.push({
      trace_id: groupExport(
        east,
        zonedInstant(east.timeZone, wed.y, wed.m, wed.d, 10, 0),
        [1, 2, 3, 4, 5].map((n) => patientId(east, n)),
        5,
        userId(east, 6),
      ),
      tenant_id: east.id,
      large: false,
      off_hours: false,
      all_patients: false,
      patients: 5,
    });
    exports.push({
      trace_id: groupExport(east, zonedInstant(east.timeZone, wed.y, wed.m, wed.d, 11, 0), ['*'], 0, userId(east, 6)),
      tenant_id: east.id,
      large: true,
      off_hours: false,
      all_patients: true,
      patients: 0,
    });
    exports.push({
      trace_id: groupExport(
        east,
        zonedInstant(east.timeZone, sun.y, sun.m, sun.d, 3, 0),
        [7, 8, 9].map((n) => patientId(east, n)),
        3,
        userId(east, 6),
      ),
      tenant_id: east.id,
      large: false,
      off_hours: true,
      all_patients: false,
      patients: 3,
    });
    exports.push({
      trace_id: groupExport(
        berlin,
        zonedInstant(berlin.timeZone, wed.y, wed.m, wed.d, 15, 0),
        Array.from({ length: 20 }, (_, i) => patientId(berlin, i + 1)),
        1500,
        userId(berlin, 6),
      ),
      tenant_id: berlin.id,
      large: true,
      off_hours: false,
      all_patients: false,
      patients: 20,
    });
  }

  // failures: a rogue client denied 12 times
  const rogueClient = { tenant_id: utc.id, client_id: 'rogue-app', denied: 12 };
  {
    const day = dayDate(4);
    for (let i = 0; i < 12; i += 1) {
      add({
        tenant: utc,
        at: new Date(Date.UTC(day.y, day.m - 1, day.d, 12, i)),
        eventType: 'PatientSearch',
        interaction: 'search-type',
        resourceType: 'Patient',
        patient: '',
        client: 'rogue-app',
        query: `identifier=${1000 + i}`,
        status: 403,
        resultCount: 0,
      });
    }
  }

  // tenant isolation: two breaches
  const isolationEventIds: string[] = [];
  {
    const day = dayDate(7);
    isolationEventIds.push(
      add({
        tenant: east,
        at: zonedInstant(east.timeZone, day.y, day.m, day.d, 10, 0),
        eventType: 'PatientView',
        interaction: 'read',
        resourceType: 'Patient',
        patient: patientId(berlin, 40),
        user: userId(east, 2),
        routed: berlin.id,
      }).event_id,
    );
    isolationEventIds.push(
      add({
        tenant: utc,
        at: new Date(Date.UTC(day.y, day.m - 1, day.d, 12, 0)),
        eventType: 'ConditionsView',
        interaction: 'search-type',
        resourceType: 'Condition',
        patient: patientId(east, 41),
        user: userId(utc, 1),
        routed: east.id,
        query: `patient=${patientId(east, 41)}`,
      }).event_id,
    );
  }

  // the access-report patient: searched by MRN and viewed by two users, plus the all-patients export above
  const accessN = 7;
  {
    const day = dayDate(6 + 4);
    const at = zonedInstant(east.timeZone, day.y, day.m, day.d, 9, 30);
    search(east, at, userId(east, 5), `identifier=${encodeURIComponent(`${mrnSystem}|${mrnOf(east, accessN)}`)}`, [
      patientId(east, accessN),
    ]);
    view(east, new Date(at.getTime() + 30_000), patientId(east, accessN), userId(east, 5));
    view(east, new Date(at.getTime() + 3_600_000), patientId(east, accessN), userId(east, 2));
  }

  signAuditChain(records, key);
  // at-least-once delivery: every 50th record, and every planted record, is delivered twice
  const planted = new Set([...afterHoursEventIds, ...vipEventIds, ...isolationEventIds]);
  const exportTraces = new Set(exports.map((e) => e.trace_id));
  const duplicates = records
    .filter((record, i) => i % 50 === 0 || planted.has(record.event_id) || exportTraces.has(record.trace_id))
    .map((record) => ({ ...record }));

  return {
    records,
    duplicates,
    key,
    workHours: {
      tenants: {
        [east.id]: { timeZone: east.timeZone, workHours: [7, 19], workDays: [1, 2, 3, 4, 5] },
        [berlin.id]: { timeZone: berlin.timeZone, workHours: [7, 19], workDays: [1, 2, 3, 4, 5] },
      },
    },
    plants: {
      reportFrom,
      reportTo: end,
      afterHoursEventIds,
      inHoursBoundaryEventIds,
      volumeHour,
      volumeDay,
      volumeNotFlagged,
      vipAdd,
      vipRemove,
      vipEventIds,
      vipNotReportedEventIds,
      nameProbing,
      nameProbingNot: [userId(utc, 5), userId(east, 4)],
      exports,
      rogueClient,
      isolationEventIds,
      accessPatient: {
        tenant_id: east.id,
        patient_id: patientId(east, accessN),
        mrn: mrnOf(east, accessN),
        mrn_system: mrnSystem,
      },
      activityUser: { tenant_id: east.id, user_id: userId(east, 5) },
    },
  };
}
