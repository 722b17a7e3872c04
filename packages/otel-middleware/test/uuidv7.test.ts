import { describe, expect, it } from 'vitest';
import { uuidv7, uuidv7Time } from '../src/uuidv7.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the RFC 9562 layout (version 7, variant 10) and encodes the time', () => {
    const now = Date.UTC(2026, 10, 25, 13, 0, 0, 123);
    const id = uuidv7(now + 10_000_000); // later than any id made so far in this process
    expect(id).toMatch(UUID_V7);
    expect(uuidv7Time(id)).toBe(now + 10_000_000);
  });

  it('is strictly increasing within a millisecond, across counter overflow and a clock step back', () => {
    const t = Date.now() + 20_000_000;
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(uuidv7(t));
    ids.push(uuidv7(t - 5_000)); // clock stepped back
    for (let i = 1; i < ids.length; i++) expect((ids[i] as string) > (ids[i - 1] as string)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(UUID_V7);
  });
});
