/**
 * The real stack for end-to-end tests: two mock EHRs (DSTU2 and STU3), the reference gateway started
 * as partners run it (`startInstrumentedGateway`: the otel middleware wrapping it exactly as a
 * partner would wrap theirs), one registered client per tenant.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FhirVersion } from '@fhirwatch/contract';
import {
  type AuditConfig,
  type Gateway,
  type InstrumentedGatewayOptions,
  parseGatewayConfig,
  startInstrumentedGateway,
} from '@fhirwatch/gateway';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import type { FhirAudit } from '@fhirwatch/otel-middleware';

export const TENANT_DSTU2 = '0f5f6b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
export const TENANT_STU3 = '7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d';
/** A tenant whose provider is down (nothing listens on its port): upstream failures. */
export const TENANT_DOWN = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';
export const HMAC_KEY = 'e2e-hmac-key';

export interface Stack {
  gateway: Gateway;
  audit: FhirAudit;
  ehr: Record<FhirVersion, MockEhrServer>;
  tenant: Record<FhirVersion, string>;
  token: Record<FhirVersion, string>;
  /** Token for TENANT_DOWN (DSTU2). */
  downToken: string;
  dir: string;
  /** `${gateway}/${tenant}` */
  base(version: FhirVersion): string;
  close(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fw-e2e-${prefix}-`));
}

export async function fetchToken(
  gatewayUrl: string,
  clientId: string,
  secret: string,
  tenant: string,
): Promise<string> {
  const res = await fetch(`${gatewayUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: secret,
      scope: `tenant:${tenant}`,
    }).toString(),
  });
  if (res.status !== 200) throw new Error(`token request failed with ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Audit settings of the stack: config-file keys (`audit.*`), plus the PHI-free error callback. */
export type StackAuditOptions = Partial<Omit<AuditConfig, 'userIdentity'>> & {
  userIdentity?: string;
  onError?: InstrumentedGatewayOptions['onAuditError'];
};

export async function startStack(auditOptions: StackAuditOptions = {}, patients = 60): Promise<Stack> {
  const dir = tempDir('stack');
  const dstu2 = await startMockEhr({ fhirVersion: 'DSTU2', patients, seed: 11 });
  const stu3 = await startMockEhr({ fhirVersion: 'STU3', patients, seed: 22, basePath: '/fhir' });
  const { onError, ...audit } = auditOptions;
  const config = parseGatewayConfig({
    dataDir: join(dir, 'gateway'),
    rateLimit: false,
    defaultFhirVersion: 'STU3',
    tenants: {
      [TENANT_DSTU2]: { baseUrl: dstu2.url, fhirVersion: 'DSTU2' },
      [TENANT_STU3]: { baseUrl: stu3.url, fhirVersion: 'STU3' },
      [TENANT_DOWN]: { baseUrl: 'http://127.0.0.1:9', fhirVersion: 'DSTU2', timeoutMs: 5000 },
    },
    audit: { spoolDir: join(dir, 'spool'), recordedBy: 'e2e-gateway', ...audit },
  });
  const instrumented = await startInstrumentedGateway(config, {
    hmacKey: HMAC_KEY,
    ...(onError === undefined ? {} : { onAuditError: onError }),
  });
  const gateway = instrumented.gateway;
  const fhirAudit = instrumented.audit as FhirAudit;
  const token = { DSTU2: '', STU3: '' } as Record<FhirVersion, string>;
  for (const [version, tenant] of [
    ['DSTU2', TENANT_DSTU2],
    ['STU3', TENANT_STU3],
  ] as const) {
    const client = await gateway.registry.createClient({ tenants: [tenant], name: `patients-app-${version}` });
    token[version] = await fetchToken(gateway.url, client.clientId, client.clientSecret, tenant);
  }
  const down = await gateway.registry.createClient({ tenants: [TENANT_DOWN], name: 'patients-app-down' });
  const downToken = await fetchToken(gateway.url, down.clientId, down.clientSecret, TENANT_DOWN);
  return {
    gateway,
    audit: fhirAudit,
    downToken,
    ehr: { DSTU2: dstu2, STU3: stu3 },
    tenant: { DSTU2: TENANT_DSTU2, STU3: TENANT_STU3 },
    token,
    dir,
    base: (version) => `${gateway.url}/${version === 'DSTU2' ? TENANT_DSTU2 : TENANT_STU3}`,
    async close() {
      await instrumented.close();
      await dstu2.close();
      await stu3.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
