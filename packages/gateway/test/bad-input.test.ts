/**
 * The malformed-input corpus: every answer is a clear 4xx OperationOutcome (RFC 6749 JSON on /token),
 * never a 5xx, and the gateway keeps serving afterwards.
 */
import { connect } from 'node:net';
import { listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index.ts';
import { getToken, outcomeCode, raw, TENANT_A, tempDir } from './helpers.ts';

const data = tempDir('bad-input');
let ehr: MockEhrServer;
let gateway: Gateway;
let token: string;
let patientId: string;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 20, seed: 5 });
  gateway = await createGateway({
    dataDir: data.path,
    tenants: { [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
    rateLimit: false,
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
  token = await getToken(gateway.url, client.clientId, client.clientSecret, TENANT_A);
  patientId = ehr.population.patients[0]?.id as string;
});
afterAll(async () => {
  await gateway?.close();
  await ehr?.close();
  data.remove();
});

const json = 'application/fhir+json';
const bundle = (value: unknown): string => JSON.stringify(value);
const batchWith = (url: string): string =>
  bundle({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url } }] });

type Case = [
  name: string,
  method: string,
  path: string,
  type: string | undefined,
  body: string | Buffer | undefined,
  status: number,
  code: string,
];

const corpus = (): Case[] => [
  ['truncated JSON', 'POST', '/', json, '{"resourceType":"Bundle",', 400, 'FW_GATEWAY_MALFORMED_JSON'],
  ['not JSON at all', 'POST', '/', json, 'resourceType=Bundle', 400, 'FW_GATEWAY_MALFORMED_JSON'],
  ['empty body', 'POST', '/', json, '', 400, 'FW_GATEWAY_MALFORMED_JSON'],
  ['JSON null', 'POST', '/', json, 'null', 400, 'FW_GATEWAY_NOT_A_BATCH'],
  ['JSON array', 'POST', '/', json, '[]', 400, 'FW_GATEWAY_NOT_A_BATCH'],
  ['a Patient at the base', 'POST', '/', json, bundle({ resourceType: 'Patient' }), 400, 'FW_GATEWAY_NOT_A_BATCH'],
  [
    'transaction Bundle',
    'POST',
    '/',
    json,
    bundle({ resourceType: 'Bundle', type: 'transaction', entry: [] }),
    400,
    'FW_GATEWAY_NOT_A_BATCH',
  ],
  [
    'searchset Bundle',
    'POST',
    '/',
    json,
    bundle({ resourceType: 'Bundle', type: 'searchset' }),
    400,
    'FW_GATEWAY_NOT_A_BATCH',
  ],
  [
    'entry is not an array',
    'POST',
    '/',
    json,
    bundle({ resourceType: 'Bundle', type: 'batch', entry: {} }),
    400,
    'FW_GATEWAY_NOT_A_BATCH',
  ],
  [
    'entry without request',
    'POST',
    '/',
    json,
    bundle({ resourceType: 'Bundle', type: 'batch', entry: [{}] }),
    400,
    'FW_GATEWAY_NOT_A_BATCH',
  ],
  ['entry escaping with ..', 'POST', '/', json, batchWith('../admin/clients'), 403, 'FW_GATEWAY_PATH_ESCAPE'],
  [
    'entry with an absolute URL',
    'POST',
    '/',
    json,
    batchWith('http://evil.example/Patient'),
    403,
    'FW_GATEWAY_PATH_ESCAPE',
  ],
  ['entry with //host', 'POST', '/', json, batchWith('//evil.example/Patient'), 403, 'FW_GATEWAY_PATH_ESCAPE'],
  ['entry with encoded dots', 'POST', '/', json, batchWith('Patient/%2e%2e/%2e%2e/x'), 403, 'FW_GATEWAY_PATH_ESCAPE'],
  ['entry with bad encoding', 'POST', '/', json, batchWith('Patient?name=%G1'), 400, 'FW_GATEWAY_BAD_ENCODING'],
  [
    'batch as text/plain',
    'POST',
    '/',
    'text/plain',
    bundle(listRefreshBundle('STU3', ['1'])),
    415,
    'FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'batch without content type',
    'POST',
    '/',
    undefined,
    bundle(listRefreshBundle('STU3', ['1'])),
    415,
    'FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'huge batch (2 MiB)',
    'POST',
    '/',
    json,
    `{"resourceType":"Bundle","type":"batch","pad":"${'x'.repeat(2 * 1024 * 1024)}"}`,
    413,
    'FW_GATEWAY_BODY_TOO_LARGE',
  ],
  ['_search as JSON', 'POST', '/Patient/_search', json, '{"family":"x"}', 415, 'FW_GATEWAY_UNSUPPORTED_MEDIA_TYPE'],
  [
    '_search malformed form',
    'POST',
    '/Patient/_search',
    'application/x-www-form-urlencoded',
    'family=%ZZ&_count=1',
    400,
    'FW_GATEWAY_MALFORMED_FORM',
  ],
  [
    '_search huge form',
    'POST',
    '/Patient/_search',
    'application/x-www-form-urlencoded',
    `family=${'a'.repeat(1_100_000)}`,
    413,
    'FW_GATEWAY_BODY_TOO_LARGE',
  ],
  ['unknown route', 'GET', '/foo/bar/baz/qux/quux', undefined, undefined, 404, 'FW_GATEWAY_UNKNOWN_ROUTE'],
  ['lower-case type', 'GET', '/patient/1', undefined, undefined, 404, 'FW_GATEWAY_UNKNOWN_ROUTE'],
  ['id with a space', 'GET', '/Patient/a%20b', undefined, undefined, 404, 'FW_GATEWAY_UNKNOWN_ROUTE'],
  ['bad percent-encoding in path', 'GET', '/Patient/%E0%A4%A', undefined, undefined, 400, 'FW_GATEWAY_BAD_ENCODING'],
  ['bad percent-encoding in query', 'GET', '/Patient?name=%', undefined, undefined, 400, 'FW_GATEWAY_BAD_ENCODING'],
  ['dot-dot path', 'GET', '/Patient/../admin/clients', undefined, undefined, 403, 'FW_GATEWAY_PATH_ESCAPE'],
  ['encoded dot-dot path', 'GET', '/%2e%2e/%2E%2E/etc/passwd', undefined, undefined, 403, 'FW_GATEWAY_PATH_ESCAPE'],
  ['encoded slash', 'GET', '/Patient/1%2F..%2F..%2Fx', undefined, undefined, 403, 'FW_GATEWAY_PATH_ESCAPE'],
  ['network-path', 'GET', '//evil.example/Patient', undefined, undefined, 403, 'FW_GATEWAY_PATH_ESCAPE'],
  ['absolute-form target', 'GET', 'http://evil.example/Patient', undefined, undefined, 403, 'FW_GATEWAY_PATH_ESCAPE'],
  ['DELETE', 'DELETE', '/Patient/1', undefined, undefined, 405, 'FW_GATEWAY_METHOD_NOT_ALLOWED'],
  ['PUT at the base', 'PUT', '/', json, '{}', 405, 'FW_GATEWAY_METHOD_NOT_ALLOWED'],
  ['create', 'POST', '/Patient', json, bundle({ resourceType: 'Patient' }), 405, 'FW_GATEWAY_METHOD_NOT_ALLOWED'],
];

describe('malformed input', () => {
  it('answers every case of the corpus with the expected 4xx OperationOutcome', async () => {
    for (const [name, method, path, type, body, status, code] of corpus()) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (type !== undefined) headers['content-type'] = type;
      const res = await raw(gateway.url, { method, path, headers, body });
      expect({ name, status: res.status, code: outcomeCode(res.json()) }).toEqual({ name, status, code });
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    }
  });

  it('answers unparsable HTTP with a 400 OperationOutcome and keeps serving', async () => {
    const url = new URL(gateway.url);
    for (const garbage of [
      'GARBAGE\r\n\r\n',
      'GET /Patient HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      '\x00\x01\x02\r\n\r\n',
    ]) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => socket.write(garbage));
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('FW_GATEWAY_MALFORMED_HTTP');
    }
    const ok = await raw(gateway.url, { path: `/Patient/${patientId}`, headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
  });

  it('refuses a body declared far above the limit at once with 413', async () => {
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const url = new URL(gateway.url);
      const socket = connect(Number(url.port), url.hostname, () =>
        socket.write(
          `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/fhir+json\r\nContent-Length: 999999999999\r\n\r\n{`,
        ),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.includes('}]}')) {
          socket.destroy();
          resolve({ status: Number(text.slice(9, 12)), text });
        }
      });
      socket.on('error', reject);
    });
    expect(res.status).toBe(413);
    expect(res.text).toContain('FW_GATEWAY_BODY_TOO_LARGE');
  });
});
