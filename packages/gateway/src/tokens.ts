/**
 * Access tokens: JWTs signed with an Ed25519 key (EdDSA) that is generated on first start and kept in
 * the data directory (mode 0600). Verification accepts only EdDSA with this key: `alg: none`, other
 * algorithms and other keys fail.
 */
import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { normalizeTenantId } from './tenant-id.ts';

export const SIGNING_KEY_FILE = 'signing-key.jwk.json';
export const TOKEN_ALG = 'EdDSA';
/** RFC 9068 access-token media type, so an ID token or other JWT is not taken for an access token. */
export const TOKEN_TYP = 'at+jwt';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** Load the data directory's signing key, creating it atomically on first use. */
export async function loadSigningKey(dataDir: string): Promise<SigningKey> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, SIGNING_KEY_FILE);
  let jwk: JWK;
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const pair = await generateKeyPair(TOKEN_ALG, { crv: 'Ed25519', extractable: true });
    jwk = { ...(await exportJWK(pair.privateKey)), kid: randomUUID(), alg: TOKEN_ALG, use: 'sig' };
    // Write a temp file then link it into place: two processes starting at once keep one key.
    const temp = `${file}.${process.pid}.${randomUUID()}.tmp`;
    writeFileSync(temp, JSON.stringify(jwk), { mode: 0o600 });
    try {
      linkSync(temp, file);
    } catch (linkError) {
      if ((linkError as NodeJS.ErrnoException).code !== 'EEXIST') throw linkError;
      jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
    } finally {
      unlinkSync(temp);
    }
  }
  const { d: _private, ...publicJwk } = jwk;
  return {
    kid: jwk.kid ?? '',
    privateKey: (await importJWK(jwk, TOKEN_ALG)) as CryptoKey,
    publicKey: (await importJWK(publicJwk, TOKEN_ALG)) as CryptoKey,
    publicJwk: { ...publicJwk, alg: TOKEN_ALG, use: 'sig' },
  };
}

/** What a valid access token says. */
export interface AccessTokenClaims {
  clientId: string;
  tenantId: string;
  /** Secret the client authenticated with (revoking it revokes the token). */
  secretId: string;
  /** Expiry, epoch seconds. */
  exp: number;
  /** Every claim of the verified token (for a configured user claim). */
  payload: Readonly<Record<string, unknown>>;
}

export interface TokenServiceOptions {
  key: SigningKey;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Verified tokens, kept until they expire: verification is the costly part of a proxied request. */
const CACHE_LIMIT = 10_000;

export class TokenService {
  readonly #options: TokenServiceOptions;
  readonly #verified = new Map<string, AccessTokenClaims>();

  constructor(options: TokenServiceOptions) {
    this.#options = options;
  }

  get ttlSeconds(): number {
    return this.#options.ttlSeconds;
  }

  async issue(claims: { clientId: string; tenantId: string; secretId: string; scope: string }): Promise<string> {
    const { key, issuer, audience, ttlSeconds } = this.#options;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tid: claims.tenantId, scope: claims.scope, sid: claims.secretId, client_id: claims.clientId })
      .setProtectedHeader({ alg: TOKEN_ALG, kid: key.kid, typ: TOKEN_TYP })
      .setIssuer(issuer)
      .setSubject(claims.clientId)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  /** Claims of a valid token, or undefined (bad signature, algorithm, issuer, audience, type or time). */
  async verify(token: string): Promise<AccessTokenClaims | undefined> {
    const nowS = Date.now() / 1000;
    const cached = this.#verified.get(token);
    if (cached !== undefined) {
      if (cached.exp > nowS) return cached;
      this.#verified.delete(token);
      return undefined;
    }
    const { key, issuer, audience } = this.#options;
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [TOKEN_ALG],
        issuer,
        audience,
        typ: TOKEN_TYP,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      });
      const tenantId = typeof payload.tid === 'string' ? normalizeTenantId(payload.tid) : undefined;
      if (tenantId === undefined || typeof payload.sid !== 'string' || typeof payload.sub !== 'string')
        return undefined;
      const claims: AccessTokenClaims = {
        clientId: payload.sub,
        tenantId,
        secretId: payload.sid,
        exp: payload.exp as number,
        payload,
      };
      if (this.#verified.size >= CACHE_LIMIT) this.#verified.clear();
      this.#verified.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }
}
