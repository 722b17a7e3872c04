/** Options of the compliance queries: time ranges and per-tenant working hours. */
import { describe, expect, it } from 'vitest';
import { parseDuration, resolveTimeRange } from '../src/compliance/time-range.ts';
import {
  isWithinWorkHours,
  parseDayList,
  parseHourRange,
  resolveWorkHours,
  workHoursFor,
} from '../src/compliance/work-hours.ts';

describe('time range', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  it('--since counts back from now', () => {
    expect(resolveTimeRange({ since: '90d', now })).toEqual({ from: new Date('2026-08-27T12:00:00Z'), to: now });
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
  });
  it('--from/--to take dates or date-times; a bad one is a coded error', () => {
    expect(resolveTimeRange({ from: '2026-01-01', to: '2026-02-01T06:00:00Z' })).toEqual({
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-02-01T06:00:00Z'),
    });
    expect(() => resolveTimeRange({ since: '90 days' })).toThrow(
      expect.objectContaining({ code: 'FW_AUDIT_INVALID_RANGE' }),
    );
    expect(() => resolveTimeRange({ from: '2026-02-01', to: '2026-01-01' })).toThrow(
      expect.objectContaining({ code: 'FW_AUDIT_INVALID_RANGE' }),
    );
  });
});

describe('working time as text (the CLI flags and the query API parameters share these parsers)', () => {
  it('hours are <start>-<end>; days a range or a list of whole numbers; anything else is undefined', () => {
    expect(parseHourRange('7-19')).toEqual([7, 19]);
    expect(parseHourRange('25-99')).toEqual([25, 99]); // bounds are checked where the hours are resolved
    for (const bad of ['7', '7-', '-19', '7:00-19:00', 'a-b', ' 7-19'])
      expect(parseHourRange(bad), bad).toBeUndefined();
    expect(parseDayList('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseDayList('6,7')).toEqual([6, 7]);
    expect(parseDayList('5-1')).toEqual([]);
    for (const bad of ['mon-fri', '1,x', '1.5']) expect(parseDayList(bad), bad).toBeUndefined();
    expect(parseDayList('')).toEqual([0]); // as before: day 0 is refused where the days are resolved
  });
});

describe('working hours', () => {
  const hours = resolveWorkHours({
    tenants: { ny: { timeZone: 'America/New_York' }, night: { workHours: [19, 24], workDays: [6, 7] } },
  });
  it('reads local time in the tenant’s zone, start inclusive, end exclusive', () => {
    const ny = workHoursFor(hours, 'ny');
    expect(isWithinWorkHours(new Date('2026-11-24T12:00:00Z'), ny)).toBe(true); // 07:00 EST Tue
    expect(isWithinWorkHours(new Date('2026-11-24T11:59:59.999Z'), ny)).toBe(false); // 06:59 EST
    expect(isWithinWorkHours(new Date('2026-11-25T00:00:00Z'), ny)).toBe(false); // 19:00 EST
    expect(isWithinWorkHours(new Date('2026-11-28T15:00:00Z'), ny)).toBe(false); // Saturday
  });
  it('falls back to the default for unlisted tenants and inherits missing fields', () => {
    expect(workHoursFor(hours, 'other')).toEqual({
      timeZone: 'UTC',
      workHours: [7, 19],
      workDays: [1, 2, 3, 4, 5],
      holidays: [],
    });
    expect(isWithinWorkHours(new Date('2026-11-28T20:00:00Z'), workHoursFor(hours, 'night'))).toBe(true);
  });
  it('rejects an unknown time zone or bad hours with a coded error', () => {
    expect(() => resolveWorkHours({ default: { timeZone: 'Mars/Olympus' } })).toThrow(
      expect.objectContaining({ code: 'FW_AUDIT_INVALID_OPTION' }),
    );
    expect(() => resolveWorkHours({ default: { workHours: [19, 7] } })).toThrow(
      expect.objectContaining({ code: 'FW_AUDIT_INVALID_OPTION' }),
    );
  });
});
