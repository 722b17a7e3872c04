/** Strict config validation: unknown keys, wrong types and missing fields stop the start, naming the key. */
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  GatewayError,
  loadGatewayConfigFile,
  loadHmacKey,
  mergeConfig,
  parseGatewayConfig,
  startInstrumentedGateway,
} from '../src/index.ts';
import { TENANT_A, TENANT_B, tempDir } from './helpers.ts';

const dir = tempDir('config');
afterAll(() => dir.remove());

const tenant = (fhirVersion: string) => ({ baseUrl: 'http://127.0.0.1:9/fhir', fhirVersion });

function keyOf(raw: unknown): string | undefined {
  try {
    parseGatewayConfig(raw, { baseDir: dir.path, source: 'test.json' });
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('FW_GATEWAY_CONFIG_INVALID');
    expect((error as GatewayError).message).toContain((error as GatewayError).key);
    return (error as GatewayError).key;
  }
  return undefined;
}

describe('parseGatewayConfig', () => {
  it('reads a production config with audit and telemetry, paths relative to the file', () => {
    const config = parseGatewayConfig(
      {
        tenants: { [TENANT_A]: tenant('STU3') },
        dataDir: 'data',
        publicUrl: 'https://gw.example.org/',
        maxBatchEntries: 700,
        audit: {
          sinkUrl: 'http://127.0.0.1:4318/',
          spoolDir: 'spool',
          mode: 'strict',
          onSpoolFailure: 'serve',
          recordedBy: 'gw-1',
          disclosure: 'returned',
          userIdentity: 'claim:upn',
          hmacKeyFile: 'keys/hmac.key',
        },
        telemetry: { otlpEndpoint: 'http://127.0.0.1:4318', serviceName: 'gw' },
      },
      { baseDir: dir.path },
    );
    expect(config.gateway).toMatchObject({
      dataDir: join(dir.path, 'data'),
      publicUrl: 'https://gw.example.org',
      maxBatchEntries: 700,
    });
    expect(config.audit).toEqual({
      sinkUrl: 'http://127.0.0.1:4318',
      spoolDir: join(dir.path, 'spool'),
      mode: 'strict',
      onSpoolFailure: 'serve',
      recordedBy: 'gw-1',
      disclosure: 'returned',
      userIdentity: { source: 'claim', claim: 'upn' },
      hmacKeyFile: join(dir.path, 'keys/hmac.key'),
      drainTimeoutMs: 10_000,
    });
    expect(config.telemetry).toEqual({ otlpEndpoint: 'http://127.0.0.1:4318', serviceName: 'gw' });
  });

  it('audits by default (spool and key under the data dir); "audit": false turns it off', () => {
    const on = parseGatewayConfig({ dataDir: 'd' }, { baseDir: dir.path });
    expect(on.audit).toMatchObject({
      mode: 'batched',
      onSpoolFailure: 'refuse',
      disclosure: 'spec',
      userIdentity: { source: 'none' },
      spoolDir: join(dir.path, 'd', 'audit-spool'),
      hmacKeyFile: join(dir.path, 'd', 'audit-spool', 'hmac.key'),
    });
    expect(on.audit).not.toHaveProperty('sinkUrl');
    expect(on.telemetry).toBe(false);
    expect(parseGatewayConfig({ audit: false }).audit).toBe(false);
  });

  it('names the key of an unknown key, a wrong type or a missing required field', () => {
    expect(keyOf({ tenant: {} })).toBe('tenant');
    expect(keyOf({ audit: { sinkURL: 'http://x' } })).toBe('audit.sinkURL');
    expect(keyOf({ telemetry: { endpoint: 'http://x' } })).toBe('telemetry.endpoint');
    expect(keyOf({ tenants: { [TENANT_A]: { ...tenant('STU3'), timeout: 5 } } })).toBe(`tenants.${TENANT_A}.timeout`);
    expect(keyOf({ port: '8080' })).toBe('port');
    expect(keyOf({ port: 70000 })).toBe('port');
    expect(keyOf({ audit: { mode: 'sync' } })).toBe('audit.mode');
    expect(keyOf({ audit: { onSpoolFailure: 'ignore' } })).toBe('audit.onSpoolFailure');
    expect(keyOf({ audit: { disclosure: 'all' } })).toBe('audit.disclosure');
    expect(keyOf({ audit: { userIdentity: 'jwt' } })).toBe('audit.userIdentity');
    expect(keyOf({ audit: { sinkUrl: 'ftp://x' } })).toBe('audit.sinkUrl');
    expect(keyOf({ audit: { gzip: 'yes' } })).toBe('audit.gzip');
    expect(keyOf({ audit: 'on' })).toBe('audit');
    expect(keyOf({ rateLimit: { capacity: 0, refillPerSecond: 1 } })).toBe('rateLimit.capacity');
    expect(keyOf({ verificationCache: { ttl: 5 } })).toBe('verificationCache.ttl');
    expect(keyOf({ tenants: { [TENANT_A]: { fhirVersion: 'STU3' } } })).toBe(`tenants.${TENANT_A}.baseUrl`);
    expect(keyOf({ tenants: { [TENANT_A]: { baseUrl: 'http://x' } } })).toBe(`tenants.${TENANT_A}.fhirVersion`);
    expect(keyOf({ tenants: { 'not-a-guid': tenant('STU3') } })).toBe('tenants.not-a-guid');
    expect(keyOf([])).toBe('(root)');
  });

  it('refuses tenants of both versions behind the root without defaultFhirVersion, saying why', () => {
    const mixed = { tenants: { [TENANT_A]: tenant('STU3'), [TENANT_B]: tenant('DSTU2') } };
    expect(keyOf(mixed)).toBe('defaultFhirVersion');
    let message = '';
    try {
      parseGatewayConfig(mixed);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/DSTU2 and STU3/);
    expect(message).toMatch(/metadata/);
    expect(parseGatewayConfig({ ...mixed, defaultFhirVersion: 'DSTU2' }).gateway.defaultFhirVersion).toBe('DSTU2');
  });

  it('startInstrumentedGateway refuses a mixed config built without the parser', async () => {
    const config = parseGatewayConfig({ dataDir: join(dir.path, 'mixed'), audit: false });
    config.gateway.tenants = {
      [TENANT_A]: { baseUrl: 'http://127.0.0.1:9', fhirVersion: 'STU3' },
      [TENANT_B]: { baseUrl: 'http://127.0.0.1:9', fhirVersion: 'DSTU2' },
    };
    await expect(startInstrumentedGateway(config)).rejects.toMatchObject({
      code: 'FW_GATEWAY_CONFIG_INVALID',
      key: 'defaultFhirVersion',
    });
  });

  it('flags merge over the file (deeply), the file stays strict', () => {
    const file = join(dir.path, 'gateway.json');
    writeFileSync(file, JSON.stringify({ dataDir: 'data', audit: { mode: 'strict', recordedBy: 'file' } }));
    const config = loadGatewayConfigFile(file, { audit: { recordedBy: 'flag' }, port: 0 });
    expect(config.audit).toMatchObject({ mode: 'strict', recordedBy: 'flag' });
    expect(config.gateway.dataDir).toBe(join(dir.path, 'data'));
    expect(mergeConfig({ audit: false }, { audit: undefined })).toEqual({ audit: false });
    writeFileSync(file, '{ not json');
    expect(() => loadGatewayConfigFile(file)).toThrow(expect.objectContaining({ code: 'FW_GATEWAY_CONFIG_INVALID' }));
  });
});

describe('loadHmacKey', () => {
  it('creates a 0600 hex key once, then reads the same key; refuses a short key', () => {
    const file = join(dir.path, 'keys', 'hmac.key');
    const key = loadHmacKey(file);
    expect(key).toHaveLength(32);
    expect(loadHmacKey(file).equals(key)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const short = join(dir.path, 'short.key');
    writeFileSync(short, 'abcd', { mode: 0o600 });
    expect(() => loadHmacKey(short)).toThrow(expect.objectContaining({ key: 'audit.hmacKeyFile' }));
    expect(() => loadHmacKey(short)).toThrow(/at least 16 bytes/);
  });

  it('refuses a key file readable by group or others, naming the file and the fix', () => {
    const file = join(dir.path, 'open.key');
    writeFileSync(file, 'ab'.repeat(32), { mode: 0o644 });
    chmodSync(file, 0o644);
    expect(() => loadHmacKey(file)).toThrow(
      expect.objectContaining({ code: 'FW_GATEWAY_CONFIG_INVALID', key: 'audit.hmacKeyFile' }),
    );
    expect(() => loadHmacKey(file)).toThrow(`(mode 0644); run \`chmod 600 ${file}\``);
    chmodSync(file, 0o600);
    expect(loadHmacKey(file).toString('hex')).toBe('ab'.repeat(32));
  });
});
