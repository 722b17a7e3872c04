import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clickhouseCredentials,
  durationFlag,
  numberFlag,
  positiveFlag,
  readHmacKeyFile,
  storeInUseMessage,
  storeSource,
} from '../src/flags.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-cli-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CLI flag module', () => {
  it('numbers: bounds, integers, absent flag', () => {
    expect(numberFlag('port', '8080', { min: 0, max: 65535 })).toBe(8080);
    expect(numberFlag('port', undefined, { min: 0, max: 65535 })).toBeUndefined();
    for (const bad of ['', ' ', '70000', '-1', '1.5', 'x']) {
      expect(() => numberFlag('port', bad, { min: 0, max: 65535 })).toThrow('--port must be an integer in [0, 65535]');
    }
    expect(numberFlag('error-rate', '0.25', { min: 0, max: 1, integer: false })).toBe(0.25);
    expect(() => numberFlag('grace', '-1', { min: 0, integer: false })).toThrow('--grace must be a number ≥ 0');
    expect(positiveFlag('rate', '2.5', false)).toBe(2.5);
    expect(() => positiveFlag('workers', '0')).toThrow('--workers must be a positive integer');
  });

  it('durations: units, bare numbers, bounds', () => {
    const demo = { units: ['ms', 's', 'm'] as const, bareUnit: 's' as const, minMs: 1, maxMs: 600_000 };
    expect(durationFlag('duration', '20s', demo)).toBe(20_000);
    expect(durationFlag('duration', '2m', demo)).toBe(120_000);
    expect(durationFlag('duration', '90', demo)).toBe(90_000);
    expect(durationFlag('duration', '500ms', demo)).toBe(500);
    expect(() => durationFlag('duration', '11m', demo)).toThrow('--duration must be between 1ms and 10m');
    expect(() => durationFlag('duration', '1h', demo)).toThrow(/--duration must be like/);
    expect(() => durationFlag('duration', 'soon', demo)).toThrow(/got 'soon'/);
    expect(durationFlag('duration', '1h', { units: ['s', 'm', 'h'], bareUnit: 's' })).toBe(3_600_000);
  });

  it('store: exactly one source; the ClickHouse URL must be http(s); one set of credential variables', () => {
    expect(storeSource({ store: '/d' })).toEqual({ kind: 'store', path: '/d' });
    expect(() => storeSource({})).toThrow('give exactly one of --store <dir> or --clickhouse-url <url>');
    expect(storeSource({}, { required: false })).toBeUndefined();
    expect(() => storeSource({ store: '/d' }, { others: { 'sink-url': 'http://127.0.0.1:1' } })).toThrow(
      'give exactly one of --store, --clickhouse-url or --sink-url',
    );
    expect(() => storeSource({ 'clickhouse-url': 'ftp://x' })).toThrow('--clickhouse-url must be http(s)');
    expect(() => storeSource({ 'clickhouse-url': 'not a url' })).toThrow('--clickhouse-url must be a URL');
    const env = { FHIRWATCH_CLICKHOUSE_USER: 'new', CLICKHOUSE_USER: 'old', CLICKHOUSE_PASSWORD: 'oldpw' };
    expect(storeSource({ 'clickhouse-url': 'http://127.0.0.1:8123' }, { env })).toEqual({
      kind: 'clickhouse',
      url: 'http://127.0.0.1:8123',
      username: 'new',
      password: 'oldpw',
    });
    expect(clickhouseCredentials({})).toEqual({});
    expect(clickhouseCredentials({ FHIRWATCH_CLICKHOUSE_PASSWORD: 'p', CLICKHOUSE_PASSWORD: 'q' })).toEqual({
      password: 'p',
    });
  });

  it('the store-in-use message names the owner and what to run instead', () => {
    const steps = { unknownOwner: 'stop it', runningSink: (url: string) => `use ${url}` };
    expect(storeInUseMessage('/s', undefined, steps)).toMatch(
      /^the store \/s is in use by another process .*: stop it$/,
    );
    expect(storeInUseMessage('/s', { pid: 42, url: 'http://127.0.0.1:9' }, steps)).toBe(
      'the store /s is owned by a running sink (pid 42); use http://127.0.0.1:9',
    );
  });

  it('key files: hex or passphrase (auto), hex refused when not hex', () => {
    const hex = join(dir, 'hex.key');
    writeFileSync(hex, `${'0f'.repeat(32)}\n`, { mode: 0o600 });
    expect(readHmacKeyFile(hex)).toEqual(Buffer.alloc(32, 0x0f));
    const text = join(dir, 'text.key');
    writeFileSync(text, 'a passphrase\n', { mode: 0o600 });
    expect(readHmacKeyFile(text).toString('utf8')).toBe('a passphrase');
    expect(() => readHmacKeyFile(text, 'hex')).toThrow('the HMAC key is not hex');
    expect(() => readHmacKeyFile(join(dir, 'missing.key'))).toThrow('--hmac-key-file cannot be read');
    const open = join(dir, 'open.key');
    writeFileSync(open, `${'0f'.repeat(32)}\n`, { mode: 0o644 });
    expect(() => readHmacKeyFile(open)).toThrow(/--hmac-key-file: .*chmod 600/);
  });
});
