/**
 * Token `iss`/`aud` never embed the bound port: a restarted gateway, and another gateway process
 * sharing the data directory, accept tokens issued before; with a public URL it is the issuer.
 */
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../src/index.ts';
import { getToken, TENANT_A, tempDir } from './helpers.ts';

const data = tempDir('token-restart');
let ehr: MockEhrServer;
const open: Gateway[] = [];

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 5, seed: 1 });
});
afterAll(async () => {
  await Promise.all(open.map((g) => g.close()));
  await ehr?.close();
  data.remove();
});

async function start(dir: string, extra: { publicUrl?: string } = {}): Promise<Gateway> {
  const gateway = await createGateway({
    dataDir: dir,
    rateLimit: false,
    tenants: { [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
    ...extra,
  });
  open.push(gateway);
  return gateway;
}

/** A FHIR read on the bound address (the public URL of the second case is not served here). */
const read = async (gateway: Gateway, token: string): Promise<number> =>
  (
    await fetch(`http://127.0.0.1:${gateway.address.port}/Patient?_count=1`, {
      headers: { authorization: `Bearer ${token}` },
    })
  ).status;

describe('access tokens across restarts and processes', () => {
  it('a restarted gateway (another port) accepts tokens issued before the restart', async () => {
    const dir = `${data.path}/restart`;
    const first = await start(dir);
    const client = await first.registry.createClient({ tenants: [TENANT_A] });
    const token = await getToken(first.url, client.clientId, client.clientSecret, TENANT_A);
    expect(first.issuer).toMatch(/^urn:fhirwatch:gateway:/);
    expect(first.issuer).not.toContain(String(first.address.port));
    expect(await read(first, token)).toBe(200);
    await first.close();
    const second = await start(dir);
    expect(second.address.port).not.toBe(first.address.port);
    expect(second.issuer).toBe(first.issuer);
    expect(await read(second, token)).toBe(200);
    // A second process on the same data directory at the same time: the same issuer and key.
    const third = await start(dir);
    expect(await read(third, token)).toBe(200);
    const fromThird = await getToken(third.url, client.clientId, client.clientSecret, TENANT_A);
    expect(await read(second, fromThird)).toBe(200);
  });

  it('with a public URL, it is the issuer; another data directory does not accept the token', async () => {
    const dir = `${data.path}/public`;
    const publicUrl = 'https://gw.example.org/fhir';
    const gateway = await start(dir, { publicUrl });
    expect(gateway.issuer).toBe(publicUrl);
    const client = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const token = await getToken(
      `http://127.0.0.1:${gateway.address.port}`,
      client.clientId,
      client.clientSecret,
      TENANT_A,
    );
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as {
      iss: string;
      aud: string;
    };
    expect(claims).toMatchObject({ iss: publicUrl, aud: publicUrl });
    await gateway.close();
    const again = await start(dir, { publicUrl });
    expect(await read(again, token)).toBe(200);
    const other = await start(`${data.path}/other`, { publicUrl });
    expect(await read(other, token)).toBe(401);
  });
});
