/**
 * The gateway instrumented with the real audit middleware, exactly as a partner would wrap theirs
 * (`wrapHandler: audit.wrap`): audit records carry the tenant, routed tenant and client the gateway
 * put in the request context. Records are read back from the middleware's own spool files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import { listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { type FhirAudit, fhirAudit, parseSegment } from '@fhirwatch/otel-middleware';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type IssuedSecret } from '../src/index.ts';
import { getToken, raw, TENANT_A, tempDir } from './helpers.ts';

const data = tempDir('middleware');
const spoolDir = join(data.path, 'spool');
let ehr: MockEhrServer;
let audit: FhirAudit;
let gateway: Gateway;
let client: IssuedSecret;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'DSTU2', patients: 20, seed: 8 });
  audit = fhirAudit({ spoolDir, recordedBy: 'gateway-test', mode: 'strict' });
  gateway = await createGateway({
    dataDir: join(data.path, 'gateway'),
    tenants: { [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'DSTU2' } },
    wrapHandler: (handler) => audit.wrap(handler),
  });
  client = await gateway.registry.createClient({ tenants: [TENANT_A] });
});
afterAll(async () => {
  await gateway?.close();
  await audit?.shutdown();
  await ehr?.close();
  data.remove();
});

function spooledRecords(): AuditRecord[] {
  const records: AuditRecord[] = [];
  for (const file of readdirSync(spoolDir)
    .filter((f) => /^seg-\d+\.log$/.test(f))
    .sort()) {
    for (const line of parseSegment(readFileSync(join(spoolDir, file), 'utf8')).lines) {
      records.push(JSON.parse(line) as AuditRecord);
    }
  }
  return records;
}

describe('gateway wrapped by the audit middleware', () => {
  it('audits clinician reads with the tenant and client from the token, and not /metadata or /token', async () => {
    await raw(gateway.url, { path: '/metadata' });
    const token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
    const headers = { authorization: `Bearer ${token}` };
    const [first, second] = ehr.population.patients.map((p) => p.id) as [string, string];
    const read = await raw(gateway.url, { path: `/Patient/${first}`, headers });
    expect(read.status).toBe(200);
    const batch = await raw(gateway.url, {
      method: 'POST',
      path: `/${TENANT_A}/`,
      headers: { ...headers, 'content-type': 'application/json+fhir' },
      body: JSON.stringify(listRefreshBundle('DSTU2', [second])),
    });
    expect(batch.status).toBe(200);
    await audit.shutdown();

    const records = spooledRecords();
    expect(records.every((r) => r.tenant_id === TENANT_A && r.routed_tenant_id === TENANT_A)).toBe(true);
    expect(records.every((r) => r.client_id === client.clientId && r.fhir_version === 'DSTU2')).toBe(true);
    const view = records.filter((r) => r.event_type === 'PatientView' && r.batch_id === '');
    expect(view.map((r) => [r.patient_id, r.http_status])).toEqual([[first, 200]]);
    const listView = records.filter((r) => r.event_type === 'PatientListView');
    expect(listView.map((r) => r.patient_id)).toEqual([second]);
    const perEntry = records.filter((r) => r.batch_id !== '' && r.event_type !== 'PatientListView');
    expect(new Set(perEntry.map((r) => r.entry_index))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6]));
    expect(records.some((r) => r.event_type === 'VitalSignsView' && r.patient_id === second)).toBe(true);
  });
});
