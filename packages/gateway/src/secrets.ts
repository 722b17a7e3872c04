/**
 * Client secrets: generated at random, stored only as a salted scrypt digest, compared in constant
 * time. Every secret, whatever its length (0 bytes or 16 KiB), goes through scrypt to a 32-byte
 * digest and one `timingSafeEqual` over two 32-byte buffers: there is no length check that could
 * exit early.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost; stored with each digest so it can be raised later without breaking old secrets. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** 32 MiB, ~0.1 s on a 2020s core: slow for guessing, fine for a token endpoint (SLO p95 500 ms). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 32768, r: 8, p: 1 };

export const SECRET_DIGEST_BYTES = 32;

/** A fresh client secret: 32 random bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function generateSalt(): Buffer {
  return randomBytes(16);
}

/** scrypt(secret, salt) → 32-byte digest, for a secret of any length. */
export function hashSecret(
  secret: string,
  salt: Buffer,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      Buffer.from(secret, 'utf8'),
      salt,
      SECRET_DIGEST_BYTES,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

/** Constant-time equality of two digests of SECRET_DIGEST_BYTES (false for anything else). */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== SECRET_DIGEST_BYTES || b.length !== SECRET_DIGEST_BYTES) return false;
  return timingSafeEqual(a, b);
}

/** Hash `secret` with the stored salt and compare with the stored digest. */
export async function verifySecret(
  secret: string,
  stored: { salt: Buffer; digest: Buffer; params: ScryptParams },
): Promise<boolean> {
  const candidate = await hashSecret(secret, stored.salt, stored.params);
  return digestsEqual(candidate, stored.digest);
}
