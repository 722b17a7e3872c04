/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) so the population is a pure function of the
 * seed: no Math.random anywhere. Each patient gets its own streams (demographics, clinical data), so
 * patient N can be generated on its own, in any order, and still come out byte-identical.
 */

/** splitmix32 step: spreads a 32-bit state into a well-mixed 32-bit value. */
export function mix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** True with probability p. */
  chance(p: number): boolean;
  /** Standard normal (Box-Muller). */
  normal(): number;
}

/** A generator for (seed, stream, index): independent streams for independent parts of the data. */
export function createRng(seed: number, stream = 0, index = 0): Rng {
  let a = mix32(seed >>> 0);
  let b = mix32(a ^ mix32(stream >>> 0));
  let c = mix32(b ^ mix32((index >>> 0) + 0x632be5ab));
  let d = 1;
  const next32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next32();
  const next = (): number => next32() / 4294967296;
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    chance: (p) => next() < p,
    normal: () => {
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}

/**
 * A bijection on [0, 2^32): distinct indexes give distinct ids without a collision check
 * (multiply by an odd constant and xor-shift are both invertible mod 2^32).
 */
export function permute32(value: number, key: number): number {
  let x = (value ^ key) >>> 0;
  x = Math.imul(x, 0x2c1b3c6d) >>> 0;
  x = (x ^ (x >>> 12)) >>> 0;
  x = Math.imul(x, 0x297a2d39) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  return x;
}
