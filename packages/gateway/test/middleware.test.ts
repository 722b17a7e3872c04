/**
 * The gateway instrumented with the real audit middleware, exactly as a partner would wrap theirs
 * (`wrapHandler: audit.wrap`): audit records carry the tenant, routed tenant and client the gateway
 * put in the request context. Records are read back from the middleware's own spool files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AuditRequestRecord, expandRequestRecord, listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { type FhirAudit, fhirAudit, parseSegment, segmentLine } from '@fhirwatch/otel-middleware';
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

/** The request records in the middleware's spool (one line per HTTP request). */
function spooledRequests(): AuditRequestRecord[] {
  const requests: AuditRequestRecord[] = [];
  for (const file of readdirSync(spoolDir)
    .filter((f) => /^seg-\d+\.log$/.test(f))
    .sort()) {
    const contents = parseSegment(readFileSync(join(spoolDir, file)));
    for (let i = 0; i < contents.ranges.length; i++) {
      requests.push(JSON.parse(segmentLine(contents, i)) as AuditRequestRecord);
    }
  }
  return requests;
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
    // issue 10's edge cases: a malformed batch (400) and an unauthenticated request to the tenant's base
    const malformed = await raw(gateway.url, {
      method: 'POST',
      path: `/${TENANT_A}/`,
      headers: { ...headers, 'content-type': 'application/json+fhir' },
      body: '{"resourceType":"Bundle","type":"batch","entry":[',
    });
    expect(malformed.status).toBe(400);
    const anonymous = await raw(gateway.url, { path: `/${TENANT_A}/Patient/${first}` });
    expect(anonymous.status).toBe(401);
    await audit.shutdown();

    const requests = spooledRequests();
    const failed = requests.filter((r) => r.http_status >= 400);
    expect(failed).toHaveLength(2);
    const [bad, unauthenticated] = failed as [AuditRequestRecord, AuditRequestRecord];
    // the malformed batch still yields a record: PatientListView, no patient, outcome 4 (minor failure)
    expect(expandRequestRecord(bad).map((r) => [r.event_type, r.patient_id, r.outcome, r.http_status])).toEqual([
      ['PatientListView', '', 4, 400],
    ]);
    expect(bad.tenant_id).toBe(TENANT_A);
    expect(bad.tenant_claimed).toBe(false);
    // the unauthenticated read names the tenant of the path, as claimed, with that tenant's version
    expect(unauthenticated.tenant_id).toBe(TENANT_A);
    expect(unauthenticated.tenant_claimed).toBe(true);
    expect(unauthenticated.fhir_version).toBe('DSTU2');
    expect(unauthenticated.client_id).toBe('');
    expect(expandRequestRecord(unauthenticated).map((r) => [r.event_type, r.patient_id, r.outcome])).toEqual([
      ['PatientView', first, 4],
    ]);

    const records = requests.filter((r) => r.http_status < 400).flatMap(expandRequestRecord);
    expect(requests.filter((r) => r.http_status < 400).every((r) => !r.tenant_claimed)).toBe(true);
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
