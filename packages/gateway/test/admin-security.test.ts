/**
 * The gateway's admin API attacked over real HTTP on 127.0.0.1: every route of ADMIN_ROUTES with no token, a
 * wrong token and a client's OAuth access token (401), `..` and percent-escaped paths, prototype names as ids
 * (404, the gateway keeps serving) and oversize bodies (413). The admin credential is checked before any route.
 */
import { randomUUID } from 'node:crypto';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../src/admin.ts';
import { createGateway, type Gateway } from '../src/index.ts';
import { getToken, raw, TENANT_A, tempDir } from './helpers.ts';

const ADMIN = `admin-${randomUUID()}`;
const data = tempDir('admin-security');
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
let ehr: MockEhrServer;
let gateway: Gateway;
let accessToken: string;

const concrete = (path: string): string =>
  path.replace('{id}', 'no-such-client').replace('{secretId}', 'no-such-secret').replace('{tenant}', TENANT_A);
const hasBody = (method: string): boolean => method === 'POST' || method === 'PUT';

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 5, seed: 7 });
  gateway = await createGateway({
    dataDir: data.path,
    adminToken: ADMIN,
    tenants: { [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
  accessToken = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
});

afterAll(async () => {
  await gateway?.close();
  await ehr?.close();
  data.remove();
});

describe('admin API', () => {
  it('no token, a wrong token or a client access token: 401 on every admin route, nothing changed', async () => {
    const before = gateway.registry.listClients().length;
    for (const route of ADMIN_ROUTES) {
      for (const method of route.methods) {
        for (const authorization of [undefined, 'Bearer wrong', `Bearer ${accessToken}`, ADMIN]) {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (authorization !== undefined) headers.authorization = authorization;
          const answer = await raw(gateway.url, {
            method,
            path: concrete(route.path),
            headers,
            ...(hasBody(method) ? { body: JSON.stringify({ tenants: [TENANT_A] }) } : {}),
          });
          expect({ method, path: route.path, authorization, status: answer.status }).toEqual({
            method,
            path: route.path,
            authorization,
            status: 401,
          });
        }
      }
    }
    expect(gateway.registry.listClients().length).toBe(before);
  });

  it('prototype names as client ids, secret ids and tenants: 4xx, never a crash', async () => {
    for (const name of PROTOTYPE_NAMES) {
      for (const route of ADMIN_ROUTES) {
        if (!route.path.includes('{')) continue;
        const path = route.path.replace('{id}', name).replace('{secretId}', name).replace('{tenant}', name);
        for (const method of route.methods) {
          const answer = await raw(gateway.url, {
            method,
            path,
            headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
            ...(hasBody(method) ? { body: JSON.stringify({ tenants: [TENANT_A] }) } : {}),
          });
          expect({ method, path, clientError: answer.status >= 400 && answer.status < 500 }).toEqual({
            method,
            path,
            clientError: true,
          });
        }
      }
    }
    const alive = await raw(gateway.url, { path: '/admin/clients', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(alive.status).toBe(200);
  });

  it('`..` and percent-escaped paths never reach an admin route without the credential', async () => {
    for (const path of ['/metadata/../admin/clients', '/%2e%2e/admin/clients', '/admin/%2e%2e/admin/clients']) {
      const answer = await raw(gateway.url, { path });
      expect({ path, status: answer.status, ok: answer.status >= 400 && answer.status < 500 }).toMatchObject({
        path,
        ok: true,
      });
      expect(answer.text).not.toContain('clientId');
    }
  });

  it('oversize bodies: 413 on every admin route that takes one', async () => {
    const big = Buffer.alloc(200 * 1024, 0x20);
    for (const route of ADMIN_ROUTES) {
      for (const method of route.methods) {
        if (!hasBody(method)) continue;
        const answer = await raw(gateway.url, {
          method,
          path: concrete(route.path),
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: big,
        });
        expect({ method, path: route.path, status: answer.status }).toEqual({ method, path: route.path, status: 413 });
      }
    }
  });
});
