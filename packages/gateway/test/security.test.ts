/**
 * Tenant isolation and token checks, verified at the provider side: each provider sits behind a relay
 * that records what reaches it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { type CryptoKey, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type IssuedSecret, SIGNING_KEY_FILE } from '../src/index.ts';
import {
  getToken,
  outcomeCode,
  type Relay,
  raw,
  startRelay,
  TENANT_A,
  TENANT_B,
  TENANT_C,
  tempDir,
} from './helpers.ts';

const ADMIN = `admin-${randomUUID()}`;
const data = tempDir('security');
let ehrA: MockEhrServer;
let ehrB: MockEhrServer;
let relayA: Relay;
let relayB: Relay;
let gateway: Gateway;
let clientA: IssuedSecret;
let clientB: IssuedSecret;
let tokenA: string;

beforeAll(async () => {
  ehrA = await startMockEhr({ fhirVersion: 'STU3', patients: 30, seed: 101 });
  ehrB = await startMockEhr({ fhirVersion: 'STU3', patients: 30, seed: 202 });
  relayA = await startRelay(ehrA.url);
  relayB = await startRelay(ehrB.url);
  gateway = await createGateway({
    dataDir: data.path,
    adminToken: ADMIN,
    tenants: {
      [TENANT_A]: { baseUrl: relayA.url, fhirVersion: 'STU3' },
      [TENANT_B]: { baseUrl: relayB.url, fhirVersion: 'STU3' },
    },
  });
  clientA = await gateway.registry.createClient({ tenants: [TENANT_A] });
  clientB = await gateway.registry.createClient({ tenants: [TENANT_B] });
  tokenA = await getToken(gateway.url, clientA.clientId, clientA.clientSecret, TENANT_A);
});
afterAll(async () => {
  await gateway?.close();
  await relayA?.close();
  await relayB?.close();
  await ehrA?.close();
  await ehrB?.close();
  data.remove();
});

const get = (path: string, token?: string) =>
  raw(gateway.url, { path, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

describe('tenant isolation', () => {
  it("a token for tenant A never reaches tenant B's provider", async () => {
    const before = relayB.connections;
    const idOfB = ehrB.population.patients[0]?.id as string;
    const idOfA = ehrA.population.patients[0]?.id as string;

    // Shared base: routed by the token, so B's patient is simply not found at A's provider.
    const read = await get(`/Patient/${idOfB}`, tokenA);
    expect(read.status).toBe(404);
    expect(relayA.received()).toContain(`GET /Patient/${idOfB} `);
    // Tenant-scoped base of B with A's token: refused before any provider is called.
    const scoped = await get(`/${TENANT_B}/Patient/${idOfB}`, tokenA);
    expect(scoped.status).toBe(403);
    expect(outcomeCode(scoped.json())).toBe('FW_GATEWAY_TENANT_MISMATCH');
    // A batch naming B's patients still goes to A only.
    const batch = await raw(gateway.url, {
      method: 'POST',
      path: '/',
      headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(listRefreshBundle('STU3', [idOfB])),
    });
    expect(batch.status).toBe(200);
    const ok = await get(`/Patient/${idOfA}`, tokenA);
    expect(ok.status).toBe(200);

    expect(relayB.connections).toBe(before);
    expect(relayB.received()).not.toContain(idOfB);
  });

  it('B is reachable with its own token (the relay does see traffic when it should)', async () => {
    const tokenB = await getToken(gateway.url, clientB.clientId, clientB.clientSecret, TENANT_B);
    const idOfB = ehrB.population.patients[0]?.id as string;
    expect((await get(`/${TENANT_B}/Patient/${idOfB}`, tokenB)).status).toBe(200);
    expect(relayB.received()).toContain(`GET /Patient/${idOfB} `);
  });

  it('never forwards the caller credentials to the provider', () => {
    expect(relayA.received().toLowerCase()).not.toContain('authorization:');
    expect(relayA.received()).not.toContain(tokenA);
  });

  it('refuses a token once its client is no longer bound to the tenant (403)', async () => {
    const moving = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const token = await getToken(gateway.url, moving.clientId, moving.clientSecret, TENANT_A);
    expect((await get('/Patient?_count=1', token)).status).toBe(200);
    gateway.registry.setClientTenants(moving.clientId, [TENANT_B]);
    const res = await get('/Patient?_count=1', token);
    expect(res.status).toBe(403);
    expect(outcomeCode(res.json())).toBe('FW_GATEWAY_TENANT_NOT_BOUND');
  });

  it('refuses an unknown tenant (404), e.g. after the admin API removed it', async () => {
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const put = await raw(gateway.url, {
      method: 'PUT',
      path: `/admin/tenants/${TENANT_C}`,
      headers: admin,
      body: JSON.stringify({ baseUrl: relayA.url, fhirVersion: 'STU3', timeoutMs: 5000 }),
    });
    expect(put.status).toBe(200);
    const client = await gateway.registry.createClient({ tenants: [TENANT_C] });
    const token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_C);
    expect((await get('/Patient?_count=1', token)).status).toBe(200);
    const del = await raw(gateway.url, { method: 'DELETE', path: `/admin/tenants/${TENANT_C}`, headers: admin });
    expect(del.status).toBe(204);
    const res = await get('/Patient?_count=1', token);
    expect(res.status).toBe(404);
    expect(outcomeCode(res.json())).toBe('FW_GATEWAY_TENANT_UNKNOWN');
    const meta = await get(`/${TENANT_C}/metadata`);
    expect(meta.status).toBe(404);
  });
});

describe('access tokens', () => {
  async function forge(
    claims: Record<string, unknown>,
    options: { key?: CryptoKey | Uint8Array; alg?: string; exp?: number; aud?: string; iss?: string } = {},
  ): Promise<string> {
    const jwk = JSON.parse(readFileSync(join(data.path, SIGNING_KEY_FILE), 'utf8')) as JWK;
    const key = options.key ?? ((await importJWK(jwk, 'EdDSA')) as CryptoKey);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tid: TENANT_A, sid: clientA.secretId, ...claims })
      .setProtectedHeader({ alg: options.alg ?? 'EdDSA', kid: jwk.kid as string, typ: 'at+jwt' })
      .setIssuer(options.iss ?? gateway.issuer)
      .setAudience(options.aud ?? gateway.issuer)
      .setSubject(clientA.clientId)
      .setIssuedAt(now - 7200)
      .setJti(randomUUID())
      .setExpirationTime(options.exp ?? now + 600)
      .sign(key);
  }

  const expect401 = async (token: string, code = 'FW_GATEWAY_TOKEN_INVALID') => {
    const res = await get('/Patient?_count=1', token);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Bearer');
    expect(outcomeCode(res.json())).toBe(code);
  };

  it('accepts a token signed with its key and valid claims (the forging helper is sound)', async () => {
    expect((await get('/Patient?_count=1', await forge({}))).status).toBe(200);
  });

  it('refuses expired, tampered, wrongly signed, alg:none and HS256 tokens, and wrong iss/aud', async () => {
    await expect401(await forge({}, { exp: Math.floor(Date.now() / 1000) - 120 }));
    const [h, p, s] = tokenA.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    const tampered = Buffer.from(JSON.stringify({ ...payload, tid: TENANT_B })).toString('base64url');
    await expect401(`${h}.${tampered}.${s}`);
    await expect401(`${h}.${p}.${s.slice(0, -4)}AAAA`);
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await expect401(await forge({}, { key: other.privateKey }));
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
    await expect401(`${none}.${p}.`);
    await expect401(`${none}.${p}`);
    await expect401(await forge({}, { key: new TextEncoder().encode('x'.repeat(32)), alg: 'HS256' }));
    await expect401(await forge({}, { aud: 'https://other.example' }));
    await expect401(await forge({}, { iss: 'https://other.example' }));
    await expect401('not-a-jwt');
    await expect401('', 'FW_GATEWAY_TOKEN_MISSING');
  });

  it('revoking the secret a token was issued with revokes the token; the secret gets no new token', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
    expect((await get('/Patient?_count=1', token)).status).toBe(200);
    gateway.registry.revokeSecret(client.clientId, client.secretId);
    await expect401(token, 'FW_GATEWAY_TOKEN_REVOKED');
    await expect(getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A)).rejects.toThrow(/401/);
  });

  it('a deleted client loses its tokens', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
    gateway.registry.deleteClient(client.clientId);
    await expect401(token, 'FW_GATEWAY_TOKEN_REVOKED');
  });

  it('metadata needs no token; every FHIR route does', async () => {
    for (const path of ['/metadata', `/${TENANT_A}/metadata`, '/.well-known/smart-configuration']) {
      expect((await get(path)).status).toBe(200);
    }
    const before = relayA.connections;
    const routes: [string, string, string | undefined, string | undefined][] = [
      ['GET', '/Patient?family=x', undefined, undefined],
      ['GET', '/Patient/1', undefined, undefined],
      ['GET', `/${TENANT_A}/Patient/1`, undefined, undefined],
      ['GET', '/Observation?patient=1&category=vital-signs', undefined, undefined],
      ['GET', '/Location/1', undefined, undefined],
      ['GET', '/Patient/$export', undefined, undefined],
      ['GET', '/', undefined, undefined],
      ['POST', '/Patient/_search', 'application/x-www-form-urlencoded', 'family=x'],
      ['POST', '/', 'application/fhir+json', JSON.stringify(listRefreshBundle('STU3', ['1']))],
    ];
    for (const [method, path, type, body] of routes) {
      for (const authorization of [undefined, 'Basic abc', 'Bearer']) {
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        if (authorization !== undefined) headers.authorization = authorization;
        const res = await raw(gateway.url, { method, path, headers, body });
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
    expect(relayA.connections).toBe(before);
  });
});
