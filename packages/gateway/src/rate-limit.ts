/** Per-client token bucket (in memory, per gateway process). */
import type { RateLimitOptions } from './types.ts';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#capacity = options.capacity;
    this.#perMs = options.refillPerSecond / 1000;
  }

  /** 0 when the request may go now, else the seconds to wait (≥ 1, for `Retry-After`). */
  take(key: string, now = performance.now()): number {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#capacity, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000));
  }
}
