/**
 * Positive verification cache of client secrets: after scrypt has accepted a secret, remember an
 * HMAC-SHA256 fingerprint of it under (client id, secret id), so the next request with the same
 * secret skips scrypt (~0.1 s of CPU at the default cost). The HMAC key is random per process and
 * never leaves this object: the cache holds neither the secret nor anything that can be checked
 * offline against guesses. Only successes are stored; an entry never makes a secret valid on its own
 * (the registry still reads the secret's state on every request and consults the cache only for
 * secrets that are active right now).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface VerificationCacheOptions {
  /** How long a verified secret skips scrypt. Default 300 s. */
  ttlSeconds?: number;
  /** Most entries kept; the least recently used goes first. Default 10000. */
  maxEntries?: number;
}

/** One cache entry as `inspect()` shows it (for tests and diagnostics). */
export interface VerificationCacheEntry {
  clientId: string;
  secretId: string;
  /** HMAC-SHA256 (per-process key) of client id, secret id and secret: 32 bytes. */
  fingerprint: Buffer;
  /** Epoch ms after which the entry is ignored. */
  expiresAt: number;
}

interface Entry {
  fingerprint: Buffer;
  expiresAt: number;
}

export const VERIFICATION_CACHE_DEFAULTS = { ttlSeconds: 300, maxEntries: 10_000 } as const;

const entryKey = (clientId: string, secretId: string): string => `${clientId}\u0000${secretId}`;

export class VerificationCache {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly #key = randomBytes(32);
  /** Map order is recency order: a hit moves the entry to the end, eviction takes the first. */
  readonly #entries = new Map<string, Entry>();

  constructor(options: VerificationCacheOptions = {}) {
    this.ttlMs = (options.ttlSeconds ?? VERIFICATION_CACHE_DEFAULTS.ttlSeconds) * 1000;
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? VERIFICATION_CACHE_DEFAULTS.maxEntries));
  }

  get size(): number {
    return this.#entries.size;
  }

  #fingerprint(clientId: string, secretId: string, secret: string): Buffer {
    // Lengths first, so no two (client, secret id, secret) triples share an input.
    return createHmac('sha256', this.#key)
      .update(`${clientId.length}:${clientId}${secretId.length}:${secretId}`)
      .update(secret, 'utf8')
      .digest();
  }

  /** Does `secret` match the fingerprint remembered for this secret id (and is it still fresh)? */
  matches(clientId: string, secretId: string, secret: string, now = Date.now()): boolean {
    const key = entryKey(clientId, secretId);
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return false;
    }
    // Both sides are 32-byte HMAC outputs: timingSafeEqual never sees a length difference.
    if (!timingSafeEqual(this.#fingerprint(clientId, secretId, secret), entry.fingerprint)) return false;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return true;
  }

  /** Remember a secret scrypt has just accepted, until `min(now + ttl, notAfter)`. */
  remember(
    clientId: string,
    secretId: string,
    secret: string,
    now = Date.now(),
    notAfter = Number.POSITIVE_INFINITY,
  ): void {
    const expiresAt = Math.min(now + this.ttlMs, notAfter);
    if (expiresAt <= now) return;
    const key = entryKey(clientId, secretId);
    this.#entries.delete(key);
    this.#entries.set(key, { fingerprint: this.#fingerprint(clientId, secretId, secret), expiresAt });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** Forget one secret, or every secret of a client. */
  forget(clientId: string, secretId?: string): void {
    if (secretId !== undefined) {
      this.#entries.delete(entryKey(clientId, secretId));
      return;
    }
    const prefix = `${clientId}\u0000`;
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Copies of the entries, least recently used first (tests and diagnostics: no secrets in here). */
  inspect(): VerificationCacheEntry[] {
    return [...this.#entries].map(([key, entry]) => {
      const [clientId = '', secretId = ''] = key.split('\u0000');
      return { clientId, secretId, fingerprint: Buffer.from(entry.fingerprint), expiresAt: entry.expiresAt };
    });
  }
}
