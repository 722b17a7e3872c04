/** Gateway → mock EHR (DSTU2 and STU3 tenants) on 127.0.0.1 for the load-test tests, started with the packages' own APIs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FhirVersion } from '@fhirwatch/contract';
import { createGateway, type Gateway } from '@fhirwatch/gateway';
import { type MockEhrOptions, type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import type { LoadTarget } from '../src/index.ts';

export const TENANTS: Record<FhirVersion, string> = {
  DSTU2: '3a1f0c9e-5b2d-4e8f-9a7c-6d5e4f3a2b1c',
  STU3: '9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
};

export interface LoadStack {
  gateway: Gateway;
  ehr: Record<FhirVersion, MockEhrServer>;
  target(version: FhirVersion): LoadTarget;
  close(): Promise<void>;
}

export async function startLoadStack(ehrOptions: Partial<MockEhrOptions> = {}, patients = 60): Promise<LoadStack> {
  const dir = mkdtempSync(join(tmpdir(), 'fw-loadtests-'));
  const ehr: Record<FhirVersion, MockEhrServer> = {
    DSTU2: await startMockEhr({ fhirVersion: 'DSTU2', patients, seed: 5, ...ehrOptions }),
    STU3: await startMockEhr({ fhirVersion: 'STU3', patients, seed: 6, basePath: '/fhir', ...ehrOptions }),
  };
  const gateway = await createGateway({
    dataDir: dir,
    rateLimit: false,
    tenants: {
      [TENANTS.DSTU2]: { baseUrl: ehr.DSTU2.url, fhirVersion: 'DSTU2' },
      [TENANTS.STU3]: { baseUrl: ehr.STU3.url, fhirVersion: 'STU3' },
    },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANTS.DSTU2, TENANTS.STU3], name: 'loadtest' });
  return {
    gateway,
    ehr,
    target: (version) => ({
      baseUrl: `${gateway.url}/${TENANTS[version]}`,
      fhirVersion: version,
      tenantId: TENANTS[version],
      clientId: client.clientId,
      clientSecret: client.clientSecret,
    }),
    async close() {
      await gateway.close();
      await ehr.DSTU2.close();
      await ehr.STU3.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
