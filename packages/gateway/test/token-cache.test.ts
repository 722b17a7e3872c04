/**
 * Verification cache of `POST /token`: a right secret skips scrypt the second time (counted by the
 * registry's own stats), the cache holds only HMAC fingerprints, and every change of a secret's
 * state (revoke, rotate, delete, grace end, a change made by another process) counts at once.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type IssuedSecret, openClientRegistry, REGISTRY_FILE } from '../src/index.ts';
import { TENANT_A, tempDir, tokenRequest } from './helpers.ts';

const tenants = { [TENANT_A]: { baseUrl: 'http://127.0.0.1:9/a', fhirVersion: 'STU3' as const } };

const data = tempDir('token-cache');
const uncachedData = tempDir('token-nocache');
let gateway: Gateway;
let uncached: Gateway;

beforeAll(async () => {
  // The throttle is off here: some tests send wrong secrets on purpose (token-throttle.test.ts covers it).
  gateway = await createGateway({ dataDir: data.path, tenants, authThrottle: false });
  uncached = await createGateway({
    dataDir: uncachedData.path,
    tenants,
    authThrottle: false,
    verificationCache: false,
  });
});
afterAll(async () => {
  await gateway?.close();
  await uncached?.close();
  data.remove();
  uncachedData.remove();
});

const ask = (g: Gateway, id: string, secret: string) =>
  tokenRequest(g.url, { grant_type: 'client_credentials', client_id: id, client_secret: secret, scope: TENANT_A });

/** Status of one token request and the scrypt runs it caused. */
async function attempt(g: Gateway, id: string, secret: string): Promise<{ status: number; scrypt: number }> {
  const before = g.registry.stats().scryptRuns;
  const res = await ask(g, id, secret);
  await res.arrayBuffer();
  return { status: res.status, scrypt: g.registry.stats().scryptRuns - before };
}

const entriesOf = (g: Gateway, clientId: string) =>
  g.registry.inspectVerificationCache().filter((e) => e.clientId === clientId);

describe('verification cache', () => {
  it('a second request with the same secret succeeds without running scrypt', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const first = await attempt(gateway, client.clientId, client.clientSecret);
    expect(first).toEqual({ status: 200, scrypt: 1 });
    const hits = gateway.registry.stats().cacheHits;
    const second = await attempt(gateway, client.clientId, client.clientSecret);
    expect(second).toEqual({ status: 200, scrypt: 0 });
    expect(gateway.registry.stats().cacheHits).toBe(hits + 1);
    // HTTP Basic uses the same entry.
    const before = gateway.registry.stats().scryptRuns;
    const basic = await tokenRequest(
      gateway.url,
      { grant_type: 'client_credentials', scope: TENANT_A },
      { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
    );
    expect(basic.status).toBe(200);
    expect(gateway.registry.stats().scryptRuns).toBe(before);
  });

  it('without the cache every request runs scrypt', async () => {
    const client = await uncached.registry.createClient({ tenants: [TENANT_A] });
    expect(await attempt(uncached, client.clientId, client.clientSecret)).toEqual({ status: 200, scrypt: 1 });
    expect(await attempt(uncached, client.clientId, client.clientSecret)).toEqual({ status: 200, scrypt: 1 });
    expect(uncached.registry.inspectVerificationCache()).toEqual([]);
    expect(uncached.registry.stats().cacheHits).toBe(0);
  });

  it('a wrong secret after a cached right one still fails, runs scrypt, and is not cached', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    const cached = entriesOf(gateway, client.clientId);
    expect(cached).toHaveLength(1);
    for (const wrong of ['wrong', client.clientSecret.slice(0, -1), `${client.clientSecret}x`, '']) {
      const result = await attempt(gateway, client.clientId, wrong);
      expect(result.status).toBe(401);
      expect(result.scrypt).toBe(1);
    }
    // The same right secret under another client id is no match either.
    const other = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, other.clientId, client.clientSecret)).status).toBe(401);
    expect(entriesOf(gateway, client.clientId)).toEqual(cached);
    expect(entriesOf(gateway, other.clientId)).toEqual([]);
    expect((await attempt(gateway, client.clientId, client.clientSecret)).scrypt).toBe(0);
  });

  it('never holds the secret: entries are 32-byte keyed fingerprints, not the secret, its hash or its digest', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    const [entry] = entriesOf(gateway, client.clientId);
    expect(entry).toBeDefined();
    if (entry === undefined) return;
    expect(Object.keys(entry).sort()).toEqual(['clientId', 'expiresAt', 'fingerprint', 'secretId']);
    expect(entry.secretId).toBe(client.secretId);
    expect(entry.fingerprint.length).toBe(32);
    const secretBytes = Buffer.from(client.clientSecret, 'utf8');
    const rawSecret = Buffer.from(client.clientSecret, 'base64url');
    const stored = new DatabaseSync(join(data.path, REGISTRY_FILE), { readOnly: true });
    const row = stored.prepare('SELECT digest FROM client_secrets WHERE secret_id = ?').get(client.secretId) as {
      digest: Uint8Array;
    };
    stored.close();
    const forbidden = [
      rawSecret,
      createHash('sha256').update(secretBytes).digest(),
      createHash('sha256').update(rawSecret).digest(),
      Buffer.from(row.digest),
    ];
    for (const value of forbidden) expect(entry.fingerprint.equals(value)).toBe(false);
    expect(entry.fingerprint.includes(secretBytes.subarray(0, 8))).toBe(false);
    expect(entry.fingerprint.includes(rawSecret.subarray(0, 8))).toBe(false);
    // Nothing in the whole structure spells the secret, in any usual encoding.
    const dump = JSON.stringify(gateway.registry.inspectVerificationCache(), (_k, v) =>
      v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') + Buffer.from(v.data).toString('base64url') : v,
    );
    for (const form of [client.clientSecret, rawSecret.toString('hex'), rawSecret.toString('base64')]) {
      expect(dump).not.toContain(form);
    }
  });

  it('revoke invalidates at once', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    expect(entriesOf(gateway, client.clientId)).toHaveLength(1);
    gateway.registry.revokeSecret(client.clientId, client.secretId);
    expect(entriesOf(gateway, client.clientId)).toEqual([]);
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(401);
  });

  it('rotate drops the entries; the old secret keeps working (through scrypt once) until revoked', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    const rotated = await gateway.registry.rotateSecret(client.clientId);
    expect(entriesOf(gateway, client.clientId)).toEqual([]);
    // Two active secrets now: a cache miss compares against both.
    expect(await attempt(gateway, client.clientId, client.clientSecret)).toEqual({ status: 200, scrypt: 2 });
    expect(await attempt(gateway, client.clientId, client.clientSecret)).toEqual({ status: 200, scrypt: 0 });
    expect(await attempt(gateway, client.clientId, rotated.clientSecret)).toEqual({ status: 200, scrypt: 2 });
    expect(await attempt(gateway, client.clientId, rotated.clientSecret)).toEqual({ status: 200, scrypt: 0 });
    expect(
      entriesOf(gateway, client.clientId)
        .map((e) => e.secretId)
        .sort(),
    ).toEqual([client.secretId, rotated.secretId].sort());
    gateway.registry.revokeSecret(client.clientId, client.secretId);
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(401);
    expect(await attempt(gateway, client.clientId, rotated.clientSecret)).toEqual({ status: 200, scrypt: 0 });
  });

  it('a rotation with grace 0 ends a cached old secret at once', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    await gateway.registry.rotateSecret(client.clientId, { graceSeconds: 0 });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(401);
  });

  it('a cached secret stops at the end of its grace period, and at the TTL', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const rotated = await gateway.registry.rotateSecret(client.clientId, { graceSeconds: 120 });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    expect((await attempt(gateway, client.clientId, rotated.clientSecret)).status).toBe(200);
    const graceEnd = Date.parse(
      gateway.registry.getClient(client.clientId).secrets.find((s) => s.secretId === client.secretId)?.expiresAt ?? '',
    );
    const old = entriesOf(gateway, client.clientId).find((e) => e.secretId === client.secretId);
    expect(old?.expiresAt).toBeLessThanOrEqual(graceEnd);
    // Asked as of a later time (the registry takes `now`): past the grace end the old secret is out.
    expect(gateway.registry.authenticateCached(client.clientId, client.clientSecret, graceEnd - 1000)?.secretId).toBe(
      client.secretId,
    );
    expect(gateway.registry.authenticateCached(client.clientId, client.clientSecret, graceEnd + 1)).toBeUndefined();
    expect(gateway.registry.authenticateCached(client.clientId, rotated.clientSecret, graceEnd + 1)?.secretId).toBe(
      rotated.secretId,
    );
    // Default TTL 300 s: past it the new secret needs scrypt again.
    expect(
      gateway.registry.authenticateCached(client.clientId, rotated.clientSecret, Date.now() + 301_000),
    ).toBeUndefined();
  });

  it('delete invalidates', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    gateway.registry.deleteClient(client.clientId);
    expect(entriesOf(gateway, client.clientId)).toEqual([]);
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(401);
  });

  it('a revocation made by another process (the CLI) counts at once: state is read from the registry', async () => {
    const client: IssuedSecret = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    expect((await attempt(gateway, client.clientId, client.clientSecret)).scrypt).toBe(0);
    const cli = openClientRegistry({ dataDir: data.path });
    try {
      cli.revokeSecret(client.clientId, client.secretId);
    } finally {
      cli.close();
    }
    // This process's cache still has the entry; it must not matter.
    expect(entriesOf(gateway, client.clientId)).toHaveLength(1);
    expect((await attempt(gateway, client.clientId, client.clientSecret)).status).toBe(401);
  });

  it('honours ttlSeconds and the size bound (least recently used goes first)', async () => {
    const small = tempDir('token-cache-small');
    const g = await createGateway({
      dataDir: small.path,
      tenants,
      authThrottle: false,
      verificationCache: { ttlSeconds: 30, maxEntries: 2 },
    });
    try {
      const [a, b, c] = [
        await g.registry.createClient({ tenants: [TENANT_A] }),
        await g.registry.createClient({ tenants: [TENANT_A] }),
        await g.registry.createClient({ tenants: [TENANT_A] }),
      ] as [IssuedSecret, IssuedSecret, IssuedSecret];
      const started = Date.now();
      expect((await attempt(g, a.clientId, a.clientSecret)).status).toBe(200);
      expect((await attempt(g, b.clientId, b.clientSecret)).status).toBe(200);
      expect((await attempt(g, a.clientId, a.clientSecret)).scrypt).toBe(0); // a is now the most recent
      expect((await attempt(g, c.clientId, c.clientSecret)).status).toBe(200);
      const entries = g.registry.inspectVerificationCache();
      expect(entries.map((e) => e.clientId)).toEqual([a.clientId, c.clientId]);
      for (const e of entries) {
        expect(e.expiresAt).toBeGreaterThan(started);
        expect(e.expiresAt).toBeLessThanOrEqual(Date.now() + 30_000);
      }
      expect((await attempt(g, b.clientId, b.clientSecret)).scrypt).toBe(1);
      expect(g.registry.authenticateCached(c.clientId, c.clientSecret, Date.now() + 31_000)).toBeUndefined();
    } finally {
      await g.close();
      small.remove();
    }
  });
});
