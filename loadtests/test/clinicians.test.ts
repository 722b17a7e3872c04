/**
 * Ordinary clinicians paced like people (the demo's background traffic) against a real gateway and real mock EHRs:
 * each clinician does exactly one clinician-hour of the pace, every search finds the patient it looks up, nothing
 * fails; shifts never use an excluded patient and give clinicians of one tenant disjoint lists.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@fhirwatch/gateway';
import { generatePopulation, type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shiftActions } from '../src/clinicians.ts';
import {
  CLINICIAN_HOUR,
  clinicianShifts,
  createRandom,
  PatientsAppError,
  type PatientsAppTarget,
  runClinicianTraffic,
} from '../src/index.ts';

const TENANTS = [
  { id: '0b7f1c2d-3e4a-4b5c-8d6e-7f8091a2b3c4', fhirVersion: 'DSTU2', seed: 3 },
  { id: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f', fhirVersion: 'STU3', seed: 4 },
] as const;
const PATIENTS = 60;
const populations = TENANTS.map((t) =>
  generatePopulation({ fhirVersion: t.fhirVersion, patients: PATIENTS, seed: t.seed }),
);
const dataDir = mkdtempSync(join(tmpdir(), 'fhirwatch-clinicians-'));
const ehrs: MockEhrServer[] = [];
let gateway: Gateway;
let targets: PatientsAppTarget[];

beforeAll(async () => {
  for (const t of TENANTS)
    ehrs.push(await startMockEhr({ fhirVersion: t.fhirVersion, patients: PATIENTS, seed: t.seed }));
  gateway = await createGateway({
    dataDir,
    rateLimit: false,
    tenants: Object.fromEntries(TENANTS.map((t, i) => [t.id, { baseUrl: ehrs[i]!.url, fhirVersion: t.fhirVersion }])),
  });
  const client = await gateway.registry.createClient({ tenants: TENANTS.map((t) => t.id), name: 'patients-app' });
  targets = TENANTS.map((t) => ({
    baseUrl: `${gateway.url}/${t.id}`,
    tenantId: t.id,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    fhirVersion: t.fhirVersion,
  }));
});
afterAll(async () => {
  await gateway?.close();
  await Promise.all(ehrs.map((ehr) => ehr.close()));
  rmSync(dataDir, { recursive: true, force: true });
});

const clinicians = Array.from({ length: 4 }, (_, i) => ({ userId: `c-${i}`, userName: `Clinician ${i}` }));

describe('clinicianShifts', () => {
  it('gives each tenant’s clinicians disjoint lists and never an excluded patient', () => {
    const exclude = populations.map((p) => [p.patients.at(-1)!.id as string]);
    const shifts = clinicianShifts({ clinicians, patients: populations.map((p) => p.patients), exclude });
    expect(shifts.map((s) => s.target)).toEqual([0, 1, 0, 1]);
    for (const [t, excluded] of exclude.entries()) {
      const mine = shifts.filter((s) => s.target === t);
      const used = mine.flatMap((s) => [...s.list, ...s.lookups.map((l) => l.patientId)]);
      expect(new Set(used).size).toBe(used.length);
      expect(used).not.toContain(excluded[0]);
    }
    for (const shift of shifts) {
      expect(shift.list).toHaveLength(5);
      expect(shift.lookups).toHaveLength(CLINICIAN_HOUR.searches);
    }
  });

  it('refuses a tenant with too few patients for a shift', () => {
    expect(() =>
      clinicianShifts({ clinicians, patients: [populations[0]!.patients.slice(0, 3), populations[1]!.patients] }),
    ).toThrow(PatientsAppError);
  });

  it('plans one clinician-hour, starting with a list refresh', () => {
    const [shift] = clinicianShifts({ clinicians, patients: populations.map((p) => p.patients) });
    const actions = shiftActions(shift!, CLINICIAN_HOUR, createRandom(9));
    expect(actions[0]).toEqual({ kind: 'list' });
    const count = (kind: string) => actions.filter((a) => a.kind === kind).length;
    expect(count('list')).toBe(CLINICIAN_HOUR.listRefreshes);
    expect(count('search')).toBe(CLINICIAN_HOUR.searches);
    expect(count('open')).toBe(CLINICIAN_HOUR.chartOpens - CLINICIAN_HOUR.searches);
    for (const action of actions) if (action.kind === 'open') expect(shift!.list).toContain(action.patientId);
  });
});

describe('runClinicianTraffic', () => {
  it('does each clinician’s hour: every search finds its patient, nothing fails', { timeout: 30_000 }, async () => {
    const shifts = clinicianShifts({ clinicians, patients: populations.map((p) => p.patients) });
    const result = await runClinicianTraffic({ targets, shifts, durationMs: 1500 });
    const n = clinicians.length;
    expect(result.listRefreshes).toBe(n * CLINICIAN_HOUR.listRefreshes);
    expect(result.searches).toBe(n * CLINICIAN_HOUR.searches);
    // every search found the patient it looked up, and its chart was opened
    expect(result.chartOpens).toBe(n * CLINICIAN_HOUR.chartOpens);
    expect(result.batchEntries).toBe(n * CLINICIAN_HOUR.listRefreshes * 5 * 7);
    expect(result.batchEntryFailures).toBe(0);
    expect(Object.keys(result.byStatus)).toEqual(['200']);
  });

  it('refuses an unbounded run and a shift without a target', async () => {
    await expect(runClinicianTraffic({ targets, shifts: [], durationMs: 0 })).rejects.toMatchObject({
      code: 'FW_LOAD_UNBOUNDED',
    });
    const [shift] = clinicianShifts({ clinicians, patients: populations.map((p) => p.patients) });
    await expect(
      runClinicianTraffic({ targets, shifts: [{ ...shift!, target: 5 }], durationMs: 100 }),
    ).rejects.toMatchObject({ code: 'FW_LOAD_SHIFT' });
  });
});
