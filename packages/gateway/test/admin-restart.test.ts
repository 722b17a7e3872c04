/** The admin API (own credential) and a registry that survives a gateway restart. */
import { randomUUID } from 'node:crypto';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index.ts';
import { getToken, outcomeCode, raw, TENANT_A, TENANT_B, tempDir } from './helpers.ts';

const ADMIN = `admin-${randomUUID()}`;
const ISSUER = 'https://gateway.test.invalid';
const data = tempDir('admin');
let ehrA: MockEhrServer;
let ehrB: MockEhrServer;
let gateway: Gateway;

const start = () =>
  createGateway({
    dataDir: data.path,
    adminToken: ADMIN,
    issuer: ISSUER,
    tenants: { [TENANT_A]: { baseUrl: ehrA.url, fhirVersion: 'STU3' } },
  });

beforeAll(async () => {
  ehrA = await startMockEhr({ fhirVersion: 'STU3', patients: 10, seed: 1 });
  ehrB = await startMockEhr({ fhirVersion: 'DSTU2', patients: 10, seed: 2 });
  gateway = await start();
});
afterAll(async () => {
  await gateway?.close();
  await ehrA?.close();
  await ehrB?.close();
  data.remove();
});

const admin = (method: string, path: string, body?: unknown, token = ADMIN) =>
  raw(gateway.url, {
    method,
    path,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('admin API', () => {
  it('needs its own credential', async () => {
    for (const token of ['', 'wrong', `${ADMIN}x`, ADMIN.slice(0, -1)]) {
      const res = await admin('GET', '/admin/clients', undefined, token);
      expect(res.status).toBe(401);
      expect(outcomeCode(res.json())).toBe('FW_GATEWAY_ADMIN_UNAUTHORIZED');
    }
    // An OAuth access token is not an admin credential.
    const created = await admin('POST', '/admin/clients', { tenants: [TENANT_A] });
    const { clientId, clientSecret } = created.json() as { clientId: string; clientSecret: string };
    const accessToken = await getToken(gateway.url, clientId, clientSecret, TENANT_A);
    expect((await admin('GET', '/admin/clients', undefined, accessToken)).status).toBe(401);
  });

  it('creates, lists, rotates, revokes and deletes clients; the secret is shown once', async () => {
    const created = await admin('POST', '/admin/clients', { tenants: [TENANT_A], name: 'teams' });
    expect(created.status).toBe(201);
    const issued = created.json() as { clientId: string; clientSecret: string; secretId: string; tenants: string[] };
    expect(issued.tenants).toEqual([TENANT_A]);
    const list = await admin('GET', '/admin/clients');
    expect(list.status).toBe(200);
    expect(list.text).toContain(issued.clientId);
    expect(list.text).not.toContain(issued.clientSecret);
    const one = await admin('GET', `/admin/clients/${issued.clientId}`);
    expect(one.json()).toMatchObject({ clientId: issued.clientId, name: 'teams', tenants: [TENANT_A] });
    expect(one.text).not.toContain(issued.clientSecret);

    const rotated = await admin('POST', `/admin/clients/${issued.clientId}/secrets`, { graceSeconds: 600 });
    expect(rotated.status).toBe(201);
    const fresh = rotated.json() as { clientSecret: string; secretId: string };
    await getToken(gateway.url, issued.clientId, issued.clientSecret, TENANT_A);
    await getToken(gateway.url, issued.clientId, fresh.clientSecret, TENANT_A);
    const revoked = await admin('DELETE', `/admin/clients/${issued.clientId}/secrets/${issued.secretId}`);
    expect(revoked.status).toBe(204);
    await expect(getToken(gateway.url, issued.clientId, issued.clientSecret, TENANT_A)).rejects.toThrow(/401/);
    expect((await admin('DELETE', `/admin/clients/${issued.clientId}/secrets/${randomUUID()}`)).status).toBe(404);

    expect((await admin('DELETE', `/admin/clients/${issued.clientId}`)).status).toBe(204);
    expect((await admin('GET', `/admin/clients/${issued.clientId}`)).status).toBe(404);
    await expect(getToken(gateway.url, issued.clientId, fresh.clientSecret, TENANT_A)).rejects.toThrow(/401/);
  });

  it('rejects bad admin input with 4xx OperationOutcomes', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/admin/clients', { tenants: ['not-a-guid'] }, 400, 'FW_GATEWAY_TENANT_INVALID'],
      ['POST', '/admin/clients', { tenants: [] }, 400, 'FW_GATEWAY_TENANT_INVALID'],
      ['POST', '/admin/clients', { name: 'x' }, 400, 'FW_GATEWAY_INVALID_REQUEST'],
      ['POST', '/admin/clients', [1, 2], 400, 'FW_GATEWAY_INVALID_REQUEST'],
      [
        'PUT',
        `/admin/tenants/${TENANT_B}`,
        { baseUrl: 'ftp://x', fhirVersion: 'STU3' },
        400,
        'FW_GATEWAY_TENANT_INVALID',
      ],
      ['PUT', `/admin/tenants/${TENANT_B}`, { baseUrl: ehrB.url, fhirVersion: 'R4' }, 400, 'FW_GATEWAY_TENANT_INVALID'],
      ['PUT', '/admin/tenants/nope', { baseUrl: ehrB.url, fhirVersion: 'STU3' }, 400, 'FW_GATEWAY_TENANT_INVALID'],
      ['DELETE', `/admin/tenants/${TENANT_B}`, undefined, 404, 'FW_GATEWAY_TENANT_UNKNOWN'],
      ['GET', '/admin/nothing', undefined, 404, 'FW_GATEWAY_UNKNOWN_ROUTE'],
      ['PATCH', '/admin/clients', undefined, 405, 'FW_GATEWAY_METHOD_NOT_ALLOWED'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await admin(method, path, body);
      expect({ method, path, status: res.status, code: outcomeCode(res.json()) }).toEqual({
        method,
        path,
        status,
        code,
      });
    }
    const malformed = await raw(gateway.url, {
      method: 'POST',
      path: '/admin/clients',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{"tenants": [',
    });
    expect(malformed.status).toBe(400);
    expect(outcomeCode(malformed.json())).toBe('FW_GATEWAY_MALFORMED_JSON');
  });

  it('is absent (404) when no admin credential is configured', async () => {
    const dir = tempDir('no-admin');
    const plain = await createGateway({ dataDir: dir.path });
    try {
      const res = await raw(plain.url, { path: '/admin/clients', headers: { authorization: 'Bearer anything' } });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
      dir.remove();
    }
  });
});

describe('restart', () => {
  it('keeps clients, secrets, revocations, tenants added through the admin API and the signing key', async () => {
    const kept = (await admin('POST', '/admin/clients', { tenants: [TENANT_A, TENANT_B] })).json() as {
      clientId: string;
      clientSecret: string;
      secretId: string;
    };
    const dropped = (await admin('POST', `/admin/clients/${kept.clientId}/secrets`)).json() as {
      clientSecret: string;
      secretId: string;
    };
    expect((await admin('DELETE', `/admin/clients/${kept.clientId}/secrets/${dropped.secretId}`)).status).toBe(204);
    const put = await admin('PUT', `/admin/tenants/${TENANT_B}`, { baseUrl: ehrB.url, fhirVersion: 'DSTU2' });
    expect(put.status).toBe(200);
    const tokenBefore = await getToken(gateway.url, kept.clientId, kept.clientSecret, TENANT_A);

    await gateway.close();
    gateway = await start();

    expect(gateway.tenants()[TENANT_B]).toEqual({ baseUrl: ehrB.url, fhirVersion: 'DSTU2', timeoutMs: 10_000 });
    const id = ehrA.population.patients[0]?.id as string;
    const withOldToken = await raw(gateway.url, {
      path: `/Patient/${id}`,
      headers: { authorization: `Bearer ${tokenBefore}` },
    });
    expect(withOldToken.status).toBe(200);
    const tokenB = await getToken(gateway.url, kept.clientId, kept.clientSecret, TENANT_B);
    const idB = ehrB.population.patients[0]?.id as string;
    const viaB = await raw(gateway.url, { path: `/Patient/${idB}`, headers: { authorization: `Bearer ${tokenB}` } });
    expect(viaB.status).toBe(200);
    expect(viaB.headers['content-type']).toMatch(/^application\/json\+fhir/);
    await expect(getToken(gateway.url, kept.clientId, dropped.clientSecret, TENANT_A)).rejects.toThrow(/401/);
  });
});
