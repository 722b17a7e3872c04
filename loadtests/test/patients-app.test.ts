/**
 * The Patients-app traffic simulator against a real gateway and real mock EHRs (DSTU2 and STU3 tenants).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@fhirwatch/gateway';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackUrl, PatientsAppClient, type PatientsAppTarget, runPatientsAppTraffic } from '../src/index.ts';

const TENANT_DSTU2 = '0b6f3d2a-4c1e-4f7a-9d2b-1a2b3c4d5e6f';
const TENANT_STU3 = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const dataDir = mkdtempSync(join(tmpdir(), 'fhirwatch-loadtests-'));
let dstu2: MockEhrServer;
let stu3: MockEhrServer;
let gateway: Gateway;
const targets: PatientsAppTarget[] = [];

beforeAll(async () => {
  dstu2 = await startMockEhr({ fhirVersion: 'DSTU2', patients: 40, seed: 3 });
  stu3 = await startMockEhr({ fhirVersion: 'STU3', patients: 40, seed: 4 });
  gateway = await createGateway({
    dataDir,
    rateLimit: false,
    tenants: {
      [TENANT_DSTU2]: { baseUrl: dstu2.url, fhirVersion: 'DSTU2' },
      [TENANT_STU3]: { baseUrl: stu3.url, fhirVersion: 'STU3' },
    },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT_DSTU2, TENANT_STU3], name: 'patients-app' });
  for (const [tenantId, fhirVersion] of [
    [TENANT_DSTU2, 'DSTU2'],
    [TENANT_STU3, 'STU3'],
  ] as const) {
    targets.push({
      baseUrl: `${gateway.url}/${tenantId}`,
      tenantId,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      fhirVersion,
    });
  }
});
afterAll(async () => {
  await gateway?.close();
  await dstu2?.close();
  await stu3?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Patients-app client', () => {
  it('discovers the token URL from metadata, gets a token, searches and refreshes a list', async () => {
    for (const target of targets) {
      const app = new PatientsAppClient(target);
      expect(await app.discover()).toBe(`${gateway.url}/token`);
      const found = await app.searchPatients({ _count: '3' });
      expect(found.total).toBe(40);
      const ids = (found.entry ?? []).map((e) => String(e.resource?.id));
      expect(ids).toHaveLength(3);
      const refreshed = await app.listRefresh(ids);
      expect(refreshed.resourceType).toBe('Bundle');
      expect(refreshed.entry).toHaveLength(3 * 7);
      expect(refreshed.entry?.every((e) => e.response?.status?.startsWith('200'))).toBe(true);
    }
  });

  it('refuses targets that are not loopback', () => {
    expect(isLoopbackUrl('http://127.0.0.1:8080/fhir')).toBe(true);
    expect(isLoopbackUrl('http://[::1]:8080')).toBe(true);
    expect(isLoopbackUrl('http://10.0.0.5/fhir')).toBe(false);
    expect(isLoopbackUrl('https://fhir.example.org')).toBe(false);
    expect(() => new PatientsAppClient({ ...targets[0]!, baseUrl: 'http://192.168.1.10/fhir' })).toThrow(
      expect.objectContaining({ code: 'FW_LOAD_NOT_LOOPBACK' }),
    );
  });
});

describe('runPatientsAppTraffic', () => {
  it('stops at the iteration bound and answers every list refresh entry', async () => {
    const seen: number[] = [];
    const result = await runPatientsAppTraffic({
      targets,
      concurrency: 3,
      durationMs: 60_000,
      maxIterations: 30,
      badTokenRate: 0.2,
      exportRate: 0,
      clinicians: [{ userId: 'dr-a', userName: 'Dr A' }],
      onProgress: (p) => seen.push(p.iterations),
    });
    // Each of 3 loops checks the bound before starting an iteration.
    expect(result.iterations).toBe(30);
    expect(result.byStatus[200]).toBeGreaterThan(30);
    expect(result.byStatus[401]).toBeGreaterThan(0);
    expect(result.byStatus[0] ?? 0).toBe(0);
    expect(result.byStatus[500] ?? 0).toBe(0);
    expect(result.batchEntries).toBeGreaterThan(0);
    expect(result.batchEntryFailures).toBe(0);
    expect(seen.at(-1)).toBe(30);
  });

  it('stops at the time bound', async () => {
    const result = await runPatientsAppTraffic({ targets, concurrency: 2, durationMs: 300, maxIterations: 1_000_000 });
    expect(result.iterations).toBeGreaterThan(0);
    expect(result.iterations).toBeLessThan(1_000_000);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(300);
  });

  it('refuses an unbounded run', async () => {
    await expect(runPatientsAppTraffic({ targets, durationMs: 0 })).rejects.toMatchObject({
      code: 'FW_LOAD_UNBOUNDED',
    });
  });
});
