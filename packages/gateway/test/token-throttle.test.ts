/**
 * Throttling of failed client authentication on `POST /token` (per client id, per source address)
 * and the bound on concurrent scrypt work: real gateway, real HTTP on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthThrottle,
  ConcurrencyLimit,
  createGateway,
  FailureThrottle,
  type Gateway,
  GatewayError,
} from '../src/index.ts';
import { TENANT_A, tempDir, tokenRequest } from './helpers.ts';

const tenants = { [TENANT_A]: { baseUrl: 'http://127.0.0.1:9/a', fhirVersion: 'STU3' as const } };

const ask = (g: Gateway, id: string, secret: string) =>
  tokenRequest(g.url, { grant_type: 'client_credentials', client_id: id, client_secret: secret, scope: TENANT_A });

async function answer(g: Gateway, id: string, secret: string) {
  const res = await ask(g, id, secret);
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    cacheControl: res.headers.get('cache-control'),
    body: (await res.json()) as { error: string; error_description?: string },
  };
}

describe('failed-authentication throttle (per client id)', () => {
  const data = tempDir('throttle-client');
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await createGateway({
      dataDir: data.path,
      tenants,
      // 5 s: long enough that 3 scrypt failures on a loaded machine still fall in one window.
      authThrottle: { maxFailuresPerClient: 3, maxFailuresPerAddress: 0, windowSeconds: 5 },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    data.remove();
  });

  it('answers 429 temporarily_unavailable + Retry-After after N failures, without scrypt, and recovers after the window', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    for (let i = 0; i < 3; i += 1) {
      const failed = await answer(gateway, client.clientId, `wrong-${i}`);
      expect(failed.status).toBe(401);
      expect(failed.body.error).toBe('invalid_client');
    }
    const before = gateway.registry.stats().scryptRuns;
    const throttled = await answer(gateway, client.clientId, 'wrong-again');
    expect(throttled.status).toBe(429);
    expect(throttled.body.error).toBe('temporarily_unavailable');
    expect(throttled.cacheControl).toBe('no-store');
    const retryAfter = Number(throttled.retryAfter);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 5).toBe(true);
    // The right secret, not cached yet, waits too: the throttle sits before scrypt.
    expect((await answer(gateway, client.clientId, client.clientSecret)).status).toBe(429);
    expect(gateway.registry.stats().scryptRuns).toBe(before);
    // Another client id is not affected.
    const other = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await answer(gateway, other.clientId, other.clientSecret)).status).toBe(200);
    // After Retry-After (the rest of the 5 s window) the client is let through again.
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 100));
    expect((await answer(gateway, client.clientId, client.clientSecret)).status).toBe(200);
  });

  it('does not lock out a client whose right secret is cached while someone fails against its id', async () => {
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await answer(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    for (let i = 0; i < 3; i += 1) expect((await answer(gateway, client.clientId, `bad-${i}`)).status).toBe(401);
    expect((await answer(gateway, client.clientId, 'bad-again')).status).toBe(429);
    const before = gateway.registry.stats().scryptRuns;
    expect((await answer(gateway, client.clientId, client.clientSecret)).status).toBe(200);
    expect(gateway.registry.stats().scryptRuns).toBe(before);
  });
});

describe('failed-authentication throttle (per source address)', () => {
  const data = tempDir('throttle-address');
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await createGateway({
      dataDir: data.path,
      tenants,
      authThrottle: { maxFailuresPerClient: 0, maxFailuresPerAddress: 3, windowSeconds: 60 },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    data.remove();
  });

  it('counts failures of every client id from one address', async () => {
    for (let i = 0; i < 3; i += 1) expect((await answer(gateway, `unknown-${i}`, 'x')).status).toBe(401);
    const throttled = await answer(gateway, 'unknown-3', 'x');
    expect(throttled.status).toBe(429);
    expect(throttled.body.error).toBe('temporarily_unavailable');
    expect(Number(throttled.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(throttled.retryAfter)).toBeLessThanOrEqual(60);
  });
});

describe('concurrent scrypt bound', () => {
  const data = tempDir('scrypt-busy');
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await createGateway({
      dataDir: data.path,
      tenants,
      authThrottle: false,
      scryptConcurrency: 1,
      scryptQueue: 0,
    });
  });
  afterAll(async () => {
    await gateway?.close();
    data.remove();
  });

  it('refuses at once with 503 temporarily_unavailable + Retry-After when the scrypt queue is full', async () => {
    // 8 unknown clients at once: one runs scrypt (~0.1 s), none may wait, so the others are refused.
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => answer(gateway, `flood-${i}`, 'x')));
    const busy = answers.filter((a) => a.status === 503);
    expect(answers.every((a) => a.status === 401 || a.status === 503)).toBe(true);
    expect(busy.length).toBeGreaterThan(0);
    for (const a of busy) {
      expect(a.body.error).toBe('temporarily_unavailable');
      expect(a.retryAfter).toBe('1');
    }
    expect(gateway.registry.stats().busyRejections).toBe(busy.length);
    // And it keeps serving.
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    expect((await answer(gateway, client.clientId, client.clientSecret)).status).toBe(200);
  });
});

describe('throttle parts', () => {
  it('FailureThrottle: blocks after maxFailures in a window, for the rest of the window, and forgets after it', () => {
    const throttle = new FailureThrottle({ maxFailures: 2, windowMs: 10_000, maxKeys: 100 });
    throttle.recordFailure('k', 0);
    expect(throttle.retryAfter('k', 1)).toBe(0);
    throttle.recordFailure('k', 1000);
    expect(throttle.retryAfter('k', 1000)).toBe(9);
    expect(throttle.retryAfter('k', 9_500)).toBe(1);
    expect(throttle.retryAfter('k', 10_000)).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it('FailureThrottle: memory stays bounded by maxKeys under a flood of distinct keys', () => {
    const throttle = new FailureThrottle({ maxFailures: 5, windowMs: 60_000, maxKeys: 50 });
    for (let i = 0; i < 10_000; i += 1) throttle.recordFailure(`key-${i}`, i);
    expect(throttle.size).toBeLessThanOrEqual(50);
    const both = new AuthThrottle({ maxTracked: 20 });
    for (let i = 0; i < 1000; i += 1) both.recordFailure(`${'c'.repeat(5000)}${i}`, `10.0.${i >> 8}.${i & 255}`, i);
    expect(both.size).toBeLessThanOrEqual(40);
  });

  it('ConcurrencyLimit: runs at most N, queues at most Q, refuses the rest with FW_GATEWAY_AUTH_BUSY', async () => {
    const limit = new ConcurrencyLimit(1, 1);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const order: string[] = [];
    const first = limit.run(async () => {
      order.push('first');
      await gate;
    });
    const second = limit.run(async () => {
      order.push('second');
    });
    expect(limit.running).toBe(1);
    expect(limit.waiting).toBe(1);
    const third = limit.run(async () => {
      order.push('third');
    });
    await expect(third).rejects.toSatisfy((e) => e instanceof GatewayError && e.code === 'FW_GATEWAY_AUTH_BUSY');
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(limit.running).toBe(0);
  });
});
