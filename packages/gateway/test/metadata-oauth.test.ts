/** The gateway's /metadata passes the contract's field checker: OAuth URIs with token and authorize. */
import { checkResourceFields, type FhirVersion, OAUTH_URIS_EXTENSION_URL } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index.ts';
import { TENANT_A, TENANT_B, tempDir } from './helpers.ts';

const data = tempDir('metadata-oauth');
let gateway: Gateway;

beforeAll(async () => {
  gateway = await createGateway({
    dataDir: data.path,
    defaultFhirVersion: 'STU3',
    tenants: {
      [TENANT_A]: { baseUrl: 'http://127.0.0.1:9/a', fhirVersion: 'STU3' },
      [TENANT_B]: { baseUrl: 'http://127.0.0.1:9/b', fhirVersion: 'DSTU2' },
    },
  });
});
afterAll(async () => {
  await gateway?.close();
  data.remove();
});

describe('metadata OAuth URIs', () => {
  it.each([
    ['', 'STU3'],
    [`/${TENANT_A}`, 'STU3'],
    [`/${TENANT_B}`, 'DSTU2'],
  ] as [string, FhirVersion][])('%s/metadata (%s) passes the field checker', async (prefix, version) => {
    const body = (await (await fetch(`${gateway.url}${prefix}/metadata`)).json()) as {
      rest: { security: { extension: { url: string; extension: { url: string; valueUri: string }[] }[] } }[];
    };
    const report = checkResourceFields(body, version);
    expect(report.required.filter((c) => !c.present)).toEqual([]);
    expect(report.ok).toBe(true);
    const oauth = body.rest[0]!.security.extension.find((e) => e.url === OAUTH_URIS_EXTENSION_URL)!;
    expect(Object.fromEntries(oauth.extension.map((e) => [e.url, e.valueUri]))).toEqual({
      token: `${gateway.url}/token`,
      authorize: `${gateway.url}/authorize`,
    });
  });

  it('the authorize URI answers unsupported_response_type (client credentials only)', async () => {
    for (const init of [{}, { method: 'POST', body: 'response_type=code' }]) {
      const res = await fetch(`${gateway.url}/authorize?response_type=code&client_id=x`, init);
      expect(res.status).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toMatchObject({ error: 'unsupported_response_type' });
    }
    const smart = (await (await fetch(`${gateway.url}/.well-known/smart-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(smart.authorization_endpoint).toBe(`${gateway.url}/authorize`);
  });
});
