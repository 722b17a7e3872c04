/**
 * telemetrygen on first use: built with the machine's Go into the cache (shared with the sink's test, so a run
 * builds it once), reused afterwards; without Go the error names what to install and leaves no half entry.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { GO_MISSING, TELEMETRYGEN_BUILD_TIMEOUT_MS, TELEMETRYGEN_VERSION, telemetrygen } from '../src/telemetrygen.ts';

const run = promisify(execFile);
const saved = { cache: process.env.FHIRWATCH_CACHE, telemetrygen: process.env.TELEMETRYGEN };
afterEach(() => {
  for (const [key, value] of [
    ['FHIRWATCH_CACHE', saved.cache],
    ['TELEMETRYGEN', saved.telemetrygen],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe('telemetrygen', () => {
  it(
    'is built on first use into the cache and reused afterwards',
    async () => {
      delete process.env.TELEMETRYGEN;
      const binary = await telemetrygen();
      expect(binary).toContain(`telemetrygen-${TELEMETRYGEN_VERSION}`);
      const built = statSync(binary).mtimeMs;
      expect(await telemetrygen()).toBe(binary);
      expect(statSync(binary).mtimeMs).toBe(built);
      const { stdout, stderr } = await run(binary, ['--help']);
      expect(stdout + stderr).toMatch(/traces|metrics|logs/);
    },
    TELEMETRYGEN_BUILD_TIMEOUT_MS + 60_000,
  );

  it('without Go: an error naming what to install, and nothing left in the cache', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'fw-testkit-nogo-'));
    try {
      process.env.FHIRWATCH_CACHE = cache;
      delete process.env.TELEMETRYGEN;
      await expect(telemetrygen({ go: null })).rejects.toThrow(GO_MISSING);
      expect(GO_MISSING).toMatch(/Fix: install Go >= 1\.26/);
      expect(readdirSync(cache)).toEqual([]);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('$TELEMETRYGEN names the binary to use, and a wrong one is an error', async () => {
    process.env.TELEMETRYGEN = '/bin/true';
    expect(await telemetrygen()).toBe('/bin/true');
    process.env.TELEMETRYGEN = join(tmpdir(), 'no-such-telemetrygen');
    expect(existsSync(process.env.TELEMETRYGEN)).toBe(false);
    await expect(telemetrygen()).rejects.toThrow('is not an executable file');
  });
});
