import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type IssuedSecret } from '../src/index.ts';
import { TENANT_A, TENANT_B, TENANT_C, tempDir, tokenRequest } from './helpers.ts';

// Providers are never called here: the token endpoint only needs the tenant map.
const tenants = {
  [TENANT_A]: { baseUrl: 'http://127.0.0.1:9/a', fhirVersion: 'STU3' as const },
  [TENANT_B]: { baseUrl: 'http://127.0.0.1:9/b', fhirVersion: 'DSTU2' as const },
};

const data = tempDir('token');
let gateway: Gateway;
let client: IssuedSecret;
let twoTenants: IssuedSecret;

beforeAll(async () => {
  gateway = await createGateway({ dataDir: data.path, tenants });
  client = await gateway.registry.createClient({ tenants: [TENANT_A], name: 'teams-patients-app' });
  twoTenants = await gateway.registry.createClient({ tenants: [TENANT_A, TENANT_B] });
});
afterAll(async () => {
  await gateway?.close();
  data.remove();
});

const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

function claimsOf(token: string): Record<string, unknown> {
  const [, payload] = token.split('.');
  return JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('POST /token (client credentials)', () => {
  it('issues a signed JWT naming client and tenant, with client_secret_post', async () => {
    const res = await tokenRequest(gateway.url, {
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: TENANT_A,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    const header = JSON.parse(Buffer.from(body.access_token.split('.')[0] as string, 'base64url').toString('utf8'));
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    const claims = claimsOf(body.access_token);
    expect(claims).toMatchObject({ iss: gateway.issuer, aud: gateway.issuer, sub: client.clientId, tid: TENANT_A });
    expect(typeof claims.jti).toBe('string');
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
  });

  it('accepts HTTP Basic with form-urlencoded id and secret, and the scope forms tenant:<guid> and <guid>/.default', async () => {
    for (const scope of [`tenant:${TENANT_B}`, `${TENANT_B.toUpperCase()}/.default`, `openid ${TENANT_B}`]) {
      const res = await tokenRequest(
        gateway.url,
        { grant_type: 'client_credentials', scope },
        { authorization: basic(twoTenants.clientId, twoTenants.clientSecret) },
      );
      expect(res.status).toBe(200);
      expect(claimsOf(((await res.json()) as { access_token: string }).access_token).tid).toBe(TENANT_B);
    }
  });

  it('defaults to the only tenant of a client when the scope names none', async () => {
    const res = await tokenRequest(gateway.url, {
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
    });
    expect(res.status).toBe(200);
    expect(claimsOf(((await res.json()) as { access_token: string }).access_token).tid).toBe(TENANT_A);
  });

  it('answers RFC 6749 §5.2 errors with the right status', async () => {
    const good = { client_id: client.clientId, client_secret: client.clientSecret };
    const cases: [Record<string, string>, Record<string, string>, number, string][] = [
      [{ ...good }, {}, 400, 'invalid_request'],
      [{ ...good, grant_type: 'password' }, {}, 400, 'unsupported_grant_type'],
      [{ ...good, grant_type: 'authorization_code' }, {}, 400, 'unsupported_grant_type'],
      [
        { grant_type: 'client_credentials', client_id: client.clientId, client_secret: 'wrong' },
        {},
        401,
        'invalid_client',
      ],
      [
        { grant_type: 'client_credentials', client_id: 'nobody', client_secret: client.clientSecret },
        {},
        401,
        'invalid_client',
      ],
      [{ grant_type: 'client_credentials' }, {}, 401, 'invalid_client'],
      [{ ...good, grant_type: 'client_credentials', scope: TENANT_B }, {}, 400, 'invalid_scope'],
      [{ ...good, grant_type: 'client_credentials', scope: 'tenant:not-a-guid' }, {}, 400, 'invalid_scope'],
      [{ ...good, grant_type: 'client_credentials', scope: `${TENANT_A} ${TENANT_B}` }, {}, 400, 'invalid_scope'],
      [
        { ...good, grant_type: 'client_credentials' },
        { authorization: basic(client.clientId, client.clientSecret) },
        400,
        'invalid_request',
      ],
    ];
    for (const [params, headers, status, error] of cases) {
      const res = await tokenRequest(gateway.url, params, headers);
      expect({ params: Object.keys(params), status: res.status }).toEqual({ params: Object.keys(params), status });
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(((await res.json()) as { error: string }).error).toBe(error);
    }
    // A client bound to two tenants must name one.
    const ambiguous = await tokenRequest(gateway.url, {
      grant_type: 'client_credentials',
      client_id: twoTenants.clientId,
      client_secret: twoTenants.clientSecret,
    });
    expect(ambiguous.status).toBe(400);
    expect(((await ambiguous.json()) as { error: string }).error).toBe('invalid_scope');
  });

  it('sends WWW-Authenticate with invalid_client only when Basic was used', async () => {
    const viaBasic = await tokenRequest(
      gateway.url,
      { grant_type: 'client_credentials', scope: TENANT_A },
      { authorization: basic(client.clientId, 'wrong-secret') },
    );
    expect(viaBasic.status).toBe(401);
    expect(viaBasic.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const viaBody = await tokenRequest(gateway.url, {
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: 'wrong-secret',
    });
    expect(viaBody.status).toBe(401);
    expect(viaBody.headers.get('www-authenticate')).toBeNull();
  });

  it('rejects repeated parameters, malformed forms, wrong content types and other methods as invalid_request', async () => {
    const post = (body: string, type = 'application/x-www-form-urlencoded') =>
      fetch(`${gateway.url}/token`, { method: 'POST', headers: { 'content-type': type }, body });
    const bodies: [string, string | undefined][] = [
      [`grant_type=client_credentials&grant_type=client_credentials&client_id=${client.clientId}`, undefined],
      ['grant_type=client_credentials&client_id=%ZZ', undefined],
      ['grant_type=%E0%A4%A', undefined],
      ['', undefined],
      ['{"grant_type":"client_credentials"}', 'application/json'],
      ['grant_type=client_credentials', 'text/plain'],
    ];
    for (const [body, type] of bodies) {
      const res = await post(body, type);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
    }
    const get = await fetch(`${gateway.url}/token`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('refuses a body above 16 KiB with 413 and an OAuth error', async () => {
    const res = await tokenRequest(gateway.url, { grant_type: 'client_credentials', pad: 'x'.repeat(20_000) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('refuses a tenant without a provider as invalid_scope', async () => {
    const orphan = await gateway.registry.createClient({ tenants: [TENANT_C] });
    const res = await tokenRequest(gateway.url, {
      grant_type: 'client_credentials',
      client_id: orphan.clientId,
      client_secret: orphan.clientSecret,
      scope: `tenant:${TENANT_C}`,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_scope');
  });
});

describe('secret rotation and revocation', () => {
  const ask = (id: string, secret: string) =>
    tokenRequest(gateway.url, {
      grant_type: 'client_credentials',
      client_id: id,
      client_secret: secret,
      scope: TENANT_A,
    });

  it('keeps the old and the new secret working until the old one is revoked', async () => {
    const created = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const rotated = await gateway.registry.rotateSecret(created.clientId);
    expect(rotated.clientSecret).not.toBe(created.clientSecret);
    expect((await ask(created.clientId, created.clientSecret)).status).toBe(200);
    expect((await ask(created.clientId, rotated.clientSecret)).status).toBe(200);
    gateway.registry.revokeSecret(created.clientId, created.secretId);
    const revoked = await ask(created.clientId, created.clientSecret);
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { error: string }).error).toBe('invalid_client');
    expect((await ask(created.clientId, rotated.clientSecret)).status).toBe(200);
  });

  it('ends the old secret with the grace period (0 s: at once)', async () => {
    const created = await gateway.registry.createClient({ tenants: [TENANT_A] });
    const rotated = await gateway.registry.rotateSecret(created.clientId, { graceSeconds: 0 });
    expect((await ask(created.clientId, created.clientSecret)).status).toBe(401);
    expect((await ask(created.clientId, rotated.clientSecret)).status).toBe(200);
    const info = gateway.registry.getClient(created.clientId);
    expect(info.secrets.map((s) => s.active)).toEqual([false, true]);
  });

  it('keeps the old secret during a grace period that has not ended', async () => {
    const created = await gateway.registry.createClient({ tenants: [TENANT_A] });
    await gateway.registry.rotateSecret(created.clientId, { graceSeconds: 3600 });
    expect((await ask(created.clientId, created.clientSecret)).status).toBe(200);
    const old = gateway.registry.getClient(created.clientId).secrets.find((s) => s.secretId === created.secretId);
    expect(old?.expiresAt).not.toBeNull();
  });

  it('a deleted client gets no token', async () => {
    const created = await gateway.registry.createClient({ tenants: [TENANT_A] });
    gateway.registry.deleteClient(created.clientId);
    expect((await ask(created.clientId, created.clientSecret)).status).toBe(401);
  });
});
