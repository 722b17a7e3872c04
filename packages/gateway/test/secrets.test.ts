import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_PARAMS, digestsEqual, hashSecret, SECRET_DIGEST_BYTES, verifySecret } from '../src/index.ts';

describe('secret digests', () => {
  it('maps secrets of every length to one fixed-length digest, so comparison never exits on length', async () => {
    const salt = Buffer.alloc(16, 7);
    const stored = await hashSecret('the-right-secret-value-of-43-characters-xx', salt);
    for (const candidate of ['', 'x', 'the-right-secret', 'y'.repeat(43), 'z'.repeat(16 * 1024), '\u{1F600}é']) {
      const digest = await hashSecret(candidate, salt);
      expect(digest.length).toBe(SECRET_DIGEST_BYTES);
      // timingSafeEqual throws on a length mismatch: reaching `false` proves both sides were 32 bytes.
      expect(digestsEqual(digest, stored)).toBe(false);
      expect(await verifySecret(candidate, { salt, digest: stored, params: DEFAULT_SCRYPT_PARAMS })).toBe(false);
    }
    expect(
      await verifySecret('the-right-secret-value-of-43-characters-xx', {
        salt,
        digest: stored,
        params: DEFAULT_SCRYPT_PARAMS,
      }),
    ).toBe(true);
  });

  it('salts: the same secret under two salts gives two digests', async () => {
    const a = await hashSecret('same', Buffer.alloc(16, 1));
    const b = await hashSecret('same', Buffer.alloc(16, 2));
    expect(a.equals(b)).toBe(false);
  });

  it('treats a stored digest of the wrong size as no match rather than throwing', () => {
    expect(digestsEqual(Buffer.alloc(32), Buffer.alloc(31))).toBe(false);
  });
});
