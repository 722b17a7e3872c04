/**
 * What the gateway hands the middleware (setRequestContext / recordUpstream, through wrapHandler) and
 * what it logs: one JSON line per request, route templates only, no PHI.
 */
import type { IncomingMessage } from 'node:http';
import { listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { getRequestContext, type RequestAuditContext } from '@fhirwatch/otel-middleware';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type IssuedSecret, type RequestLogLine } from '../src/index.ts';
import { getToken, raw, TENANT_A, TENANT_B, tempDir } from './helpers.ts';

const data = tempDir('context');
let ehr: MockEhrServer;
let gateway: Gateway;
let client: IssuedSecret;
const seen: { url: string; context: RequestAuditContext | undefined }[] = [];
const lines: string[] = [];

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'DSTU2', patients: 20, seed: 3 });
  gateway = await createGateway({
    dataDir: data.path,
    tenants: {
      [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'DSTU2' },
      [TENANT_B]: { baseUrl: 'http://127.0.0.1:9', fhirVersion: 'STU3' },
    },
    log: (line) => lines.push(line),
    // A wrapper as the middleware would be: it reads the host's context when the response ends.
    wrapHandler: (handler) => (req, res) => {
      res.once('finish', () => seen.push({ url: req.url ?? '', context: getRequestContext(req as IncomingMessage) }));
      handler(req, res);
    },
  });
  client = await gateway.registry.createClient({ tenants: [TENANT_A, TENANT_B] });
});
afterAll(async () => {
  await gateway?.close();
  await ehr?.close();
  data.remove();
});

const last = () => seen[seen.length - 1]?.context;

describe('request context for the middleware', () => {
  it('is set for metadata, token, proxied and refused requests', async () => {
    await raw(gateway.url, { path: `/${TENANT_A}/metadata` });
    expect(last()).toMatchObject({ route: '/metadata', fhirVersion: 'DSTU2' });

    const token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
    expect(last()).toMatchObject({ route: '/token', clientId: client.clientId, tenantId: TENANT_A });

    const id = ehr.population.patients[1]?.id as string;
    const read = await raw(gateway.url, { path: `/Patient/${id}`, headers: { authorization: `Bearer ${token}` } });
    expect(read.status).toBe(200);
    const context = last();
    expect(context).toMatchObject({
      route: '/Patient/{id}',
      tenantId: TENANT_A,
      routedTenantId: TENANT_A,
      clientId: client.clientId,
      fhirVersion: 'DSTU2',
    });
    expect(context?.upstream).toHaveLength(1);
    expect(context?.upstream?.[0]).toMatchObject({
      status: 200,
      serverAddress: '127.0.0.1',
      serverPort: Number(new URL(ehr.url).port),
    });
    expect(context?.upstream?.[0]?.durationS).toBeGreaterThan(0);

    await raw(gateway.url, { path: '/Patient?_count=1' });
    expect(last()).toMatchObject({ route: '/Patient' });
    expect(last()?.tenantId).toBeUndefined();

    const tokenB = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_B);
    const failed = await raw(gateway.url, {
      path: '/Patient?_count=1',
      headers: { authorization: `Bearer ${tokenB}` },
    });
    expect(failed.status).toBe(502);
    expect(last()?.upstream?.[0]).toMatchObject({ status: 0, error: 'unreachable' });
  });
});

describe('request log', () => {
  it('writes one JSON line per request with the route template, status, tenant and client, and no PHI', async () => {
    lines.length = 0;
    const token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
    const patient = ehr.population.patients[4] as unknown as { id: string; name: { family: string | string[] }[] };
    const family = [patient.name[0]?.family].flat()[0] as string;
    const headers = { authorization: `Bearer ${token}` };
    await raw(gateway.url, { path: `/Patient/${patient.id}`, headers });
    await raw(gateway.url, { path: `/Patient?family=${family}&birthdate=1970-01-01`, headers });
    await raw(gateway.url, {
      method: 'POST',
      path: '/Patient/_search',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: `family=${family}`,
    });
    await raw(gateway.url, {
      method: 'POST',
      path: '/',
      headers: { ...headers, 'content-type': 'application/json+fhir' },
      body: JSON.stringify(listRefreshBundle('DSTU2', [patient.id])),
    });
    await raw(gateway.url, { path: `/Patient/${patient.id}/../x`, headers });
    await new Promise((resolve) => setImmediate(resolve));

    expect(lines).toHaveLength(6);
    const parsed = lines.map((line) => JSON.parse(line) as RequestLogLine);
    expect(parsed.map((l) => [l.method, l.route, l.status])).toEqual([
      ['POST', '/token', 200],
      ['GET', '/Patient/{id}', 200],
      ['GET', '/Patient', 200],
      ['POST', '/Patient/_search', 200],
      ['POST', '/', 200],
      ['GET', 'unknown', 403],
    ]);
    for (const line of parsed.slice(0, 5)) {
      expect(line).toMatchObject({ msg: 'request', tenant: TENANT_A, client: client.clientId });
      expect(line.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(parsed[5]?.code).toBe('FW_GATEWAY_PATH_ESCAPE');
    const all = lines.join('\n');
    expect(all).not.toContain(patient.id);
    expect(all).not.toContain(family);
    expect(all).not.toContain('1970-01-01');
    expect(all).not.toContain(token);
  });
});
