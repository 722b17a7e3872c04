/**
 * Limits on client authentication at `POST /token`, in memory, per gateway process:
 * - `FailureThrottle`: after `maxFailures` failed authentications of one key (a client id, or a source
 *   address) within a fixed window, that key is refused until the window ends (429 + Retry-After).
 * - `ConcurrencyLimit`: at most `concurrency` scrypt verifications at once and `queue` waiting; past
 *   that, the request is refused at once (503) instead of queueing CPU work without bound.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from './errors.ts';

export interface FailureThrottleOptions {
  /** Failures of one key allowed per window; 0 turns this key kind off. */
  maxFailures: number;
  windowMs: number;
  /** Keys tracked at most; past that, expired windows are dropped, then the oldest. */
  maxKeys: number;
}

interface Window {
  start: number;
  failures: number;
}

export class FailureThrottle {
  readonly #options: FailureThrottleOptions;
  readonly #windows = new Map<string, Window>();

  constructor(options: FailureThrottleOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#windows.size;
  }

  /** 0 when `key` may try now, else the whole seconds (≥ 1) until its window ends. */
  retryAfter(key: string, now = Date.now()): number {
    if (this.#options.maxFailures <= 0) return 0;
    const window = this.#windows.get(key);
    if (window === undefined) return 0;
    const end = window.start + this.#options.windowMs;
    if (end <= now) {
      this.#windows.delete(key);
      return 0;
    }
    return window.failures >= this.#options.maxFailures ? Math.max(1, Math.ceil((end - now) / 1000)) : 0;
  }

  recordFailure(key: string, now = Date.now()): void {
    if (this.#options.maxFailures <= 0) return;
    const window = this.#windows.get(key);
    if (window !== undefined && window.start + this.#options.windowMs > now) {
      window.failures += 1;
      return;
    }
    this.#windows.delete(key);
    if (this.#windows.size >= this.#options.maxKeys) this.#evict(now);
    this.#windows.set(key, { start: now, failures: 1 });
  }

  #evict(now: number): void {
    for (const [key, window] of this.#windows) {
      if (window.start + this.#options.windowMs <= now) this.#windows.delete(key);
    }
    // Still full: drop the oldest windows (Map order is insertion order).
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < this.#options.maxKeys) break;
      this.#windows.delete(key);
    }
  }
}

/** A counting semaphore with a bounded wait queue. */
export class ConcurrencyLimit {
  readonly concurrency: number;
  readonly queue: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(concurrency: number, queue: number) {
    this.concurrency = Math.max(1, Math.floor(concurrency));
    this.queue = Math.max(0, Math.floor(queue));
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Run `work` when a slot is free; throws FW_GATEWAY_AUTH_BUSY at once when the queue is full. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrency) {
      if (this.#waiting.length >= this.queue) {
        throw new GatewayError('FW_GATEWAY_AUTH_BUSY', 'too many client authentications in progress');
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running += 1;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next waiter (running stays the same), else free it.
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#running -= 1;
    }
  }
}

/** Failed-authentication throttle of `POST /token` (public options: `AuthThrottleOptions`). */
export interface AuthThrottleSettings {
  /** Failures per client id per window. Default 10; 0 = no per-client limit. */
  maxFailuresPerClient: number;
  /** Failures per source address per window. Default 30; 0 = no per-address limit. */
  maxFailuresPerAddress: number;
  /** Window length. Default 60 s. */
  windowSeconds: number;
  /** Client ids and addresses tracked at most, each. Default 10000. */
  maxTracked: number;
}

export const AUTH_THROTTLE_DEFAULTS: AuthThrottleSettings = {
  maxFailuresPerClient: 10,
  maxFailuresPerAddress: 30,
  windowSeconds: 60,
  maxTracked: 10_000,
};

/** Client ids are UUIDs; a long made-up one is kept as a 64-character hash so memory stays bounded. */
const clientKey = (clientId: string): string =>
  clientId.length <= 64 ? clientId : createHash('sha256').update(clientId, 'utf8').digest('hex');

/** Per client id and per source address; a request is refused when either is over its limit. */
export class AuthThrottle {
  readonly #clients: FailureThrottle;
  readonly #addresses: FailureThrottle;

  constructor(options: Partial<AuthThrottleSettings> = {}) {
    const settings = { ...AUTH_THROTTLE_DEFAULTS, ...options };
    const windowMs = settings.windowSeconds * 1000;
    this.#clients = new FailureThrottle({
      maxFailures: settings.maxFailuresPerClient,
      windowMs,
      maxKeys: settings.maxTracked,
    });
    this.#addresses = new FailureThrottle({
      maxFailures: settings.maxFailuresPerAddress,
      windowMs,
      maxKeys: settings.maxTracked,
    });
  }

  /** Keys tracked now (client ids + addresses): stays bounded by 2 × maxTracked. */
  get size(): number {
    return this.#clients.size + this.#addresses.size;
  }

  /** 0 when the attempt may go on, else seconds for `Retry-After`. */
  retryAfter(clientId: string, address: string, now = Date.now()): number {
    return Math.max(this.#clients.retryAfter(clientKey(clientId), now), this.#addresses.retryAfter(address, now));
  }

  recordFailure(clientId: string, address: string, now = Date.now()): void {
    this.#clients.recordFailure(clientKey(clientId), now);
    this.#addresses.recordFailure(address, now);
  }
}
