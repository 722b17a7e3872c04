/** Config-file fields of client authentication: verificationCache, authThrottle, scryptConcurrency, scryptQueue. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayError, loadGatewayConfig } from '../src/index.ts';
import { tempDir } from './helpers.ts';

const dir = tempDir('config-auth');
afterAll(() => dir.remove());

const load = (name: string, config: unknown) => {
  const file = join(dir.path, name);
  writeFileSync(file, JSON.stringify(config));
  return loadGatewayConfig(file);
};

describe('config file: client authentication limits', () => {
  it('reads the cache, throttle and scrypt limits, and false for off', () => {
    const on = load('on.json', {
      verificationCache: { ttlSeconds: 60, maxEntries: 100 },
      authThrottle: { maxFailuresPerClient: 5, maxFailuresPerAddress: 0, windowSeconds: 30, maxTracked: 1000 },
      scryptConcurrency: 2,
      scryptQueue: 8,
    });
    expect(on).toMatchObject({
      verificationCache: { ttlSeconds: 60, maxEntries: 100 },
      authThrottle: { maxFailuresPerClient: 5, maxFailuresPerAddress: 0, windowSeconds: 30, maxTracked: 1000 },
      scryptConcurrency: 2,
      scryptQueue: 8,
    });
    const off = load('off.json', { verificationCache: false, authThrottle: false });
    expect(off.verificationCache).toBe(false);
    expect(off.authThrottle).toBe(false);
  });

  it('refuses unknown keys, negative numbers and other types with FW_GATEWAY_CONFIG_INVALID', () => {
    const bad = [
      { verificationCache: { ttl: 5 } },
      { verificationCache: true },
      { authThrottle: { windowSeconds: -1 } },
      { authThrottle: { maxFailuresPerClient: '10' } },
      { scryptQueue: -1 },
      { scryptConcurrency: 1.5 },
    ];
    for (const [i, config] of bad.entries()) {
      let error: unknown;
      try {
        load(`bad-${i}.json`, config);
      } catch (e) {
        error = e;
      }
      expect(error instanceof GatewayError ? error.code : error).toBe('FW_GATEWAY_CONFIG_INVALID');
    }
  });
});
