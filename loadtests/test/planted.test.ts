/**
 * The demo's planted patterns against a real gateway and a real mock EHR: what each actor sends, and the VIP
 * patient handed to the caller before it is opened. (That each report flags its pattern is checked end to end,
 * through the audit middleware and the sink, by packages/cli/test/demo-planted.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@fhirwatch/gateway';
import { generatePopulation, type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isDefaultAfterHours,
  PatientsAppError,
  type PatientsAppTarget,
  PLANTED_ACTORS,
  runPlantedPatterns,
} from '../src/index.ts';

const TENANT = '5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d';
const PATIENTS = 70;
const SEED = 5;
/** The EHR's patients in its order, from the seeded population (not through the gateway). */
const patientIds = generatePopulation({ fhirVersion: 'STU3', patients: PATIENTS, seed: SEED }).patients.map(
  (p) => p.id as string,
);
const dataDir = mkdtempSync(join(tmpdir(), 'fhirwatch-planted-'));
let ehr: MockEhrServer;
let gateway: Gateway;
let target: PatientsAppTarget;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: PATIENTS, seed: SEED });
  gateway = await createGateway({
    dataDir,
    rateLimit: false,
    tenants: { [TENANT]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT], name: 'patients-app' });
  target = {
    baseUrl: `${gateway.url}/${TENANT}`,
    tenantId: TENANT,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    fhirVersion: 'STU3',
  };
});
afterAll(async () => {
  await gateway?.close();
  await ehr?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('planted patterns', () => {
  it('sends each pattern once, as its own actor, and names the VIP patient first', async () => {
    const vip: string[] = [];
    const result = await runPlantedPatterns({
      targets: [target],
      patientIds,
      onVipPatient: async (tenantId, patientId) => {
        expect(tenantId).toBe(TENANT);
        vip.push(patientId);
      },
    });
    expect(result.patterns.map((p) => p.name)).toEqual([
      'vip-access',
      'name-probing',
      'volume-spike',
      'failed-access',
      'export',
    ]);
    expect(vip).toHaveLength(1);
    expect(result.vipPatient).toEqual({ tenantId: TENANT, patientId: vip[0] });
    expect(vip[0]).toBe(patientIds.at(-1));
    // the VIP patient exists at the EHR
    const read = await fetch(`${ehr.url}/Patient/${vip[0]}`);
    expect(read.status).toBe(200);
    await read.body?.cancel();
    for (const pattern of result.patterns) {
      expect(pattern.actor).toEqual(PLANTED_ACTORS[pattern.name]);
      expect(pattern.requests).toBeGreaterThan(0);
    }
    const by = Object.fromEntries(result.patterns.map((p) => [p.name, p]));
    expect(by['name-probing']!.requests).toBeGreaterThanOrEqual(10);
    // the first PATIENTS - 1 (never the VIP), each opened: at most 60
    expect(by['volume-spike']!.detail).toBe(`opened ${Math.min(60, PATIENTS - 1)} different patients within a minute`);
    // bounded: about a hundred requests in all (tokens included)
    const total = result.patterns.reduce((sum, p) => sum + p.requests, 0);
    expect(total).toBeLessThan(120);
    // no set-up lookups: only the planted actors' own requests went through the gateway
    expect(result.afterHoursNow).toBe(isDefaultAfterHours(new Date()));
  });

  it('refuses to run without a target', async () => {
    await expect(runPlantedPatterns({ targets: [], patientIds })).rejects.toBeInstanceOf(PatientsAppError);
  });

  it('after-hours follows the default working time (07:00–19:00 UTC, Monday to Friday)', () => {
    expect(isDefaultAfterHours(new Date('2026-11-30T06:59:59Z'))).toBe(true); // Monday
    expect(isDefaultAfterHours(new Date('2026-11-30T07:00:00Z'))).toBe(false);
    expect(isDefaultAfterHours(new Date('2026-11-30T18:59:59Z'))).toBe(false);
    expect(isDefaultAfterHours(new Date('2026-11-30T19:00:00Z'))).toBe(true);
    expect(isDefaultAfterHours(new Date('2026-11-29T12:00:00Z'))).toBe(true); // Sunday
  });
});
