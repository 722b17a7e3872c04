/**
 * Working hours per tenant, used by the after-hours and exports reports. Local time comes from the
 * tenant's IANA time zone (ClickHouse `toTimeZone` in SQL, `Intl` in JS; both read the same tz data).
 */
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';

export interface WorkHours {
  /** IANA time zone, e.g. `America/New_York`. */
  timeZone: string;
  /** [start, end): local hours that count as working time, e.g. [7, 19] = 07:00–18:59. */
  workHours: readonly [number, number];
  /** ISO days of the week that are working days (1 = Monday … 7 = Sunday). */
  workDays: readonly number[];
  /** Local dates (`YYYY-MM-DD`) that are not working days whatever their weekday. */
  holidays?: readonly string[];
}

/** `{ tenants: { <tenant id>: WorkHours } }` plus an optional default for tenants not listed. */
export interface WorkHoursConfig {
  default?: Partial<WorkHours>;
  tenants?: Readonly<Record<string, Partial<WorkHours>>>;
}

/** Default working time: 07:00–19:00 UTC, Monday to Friday. */
export const DEFAULT_WORK_HOURS: WorkHours = {
  timeZone: 'UTC',
  workHours: [7, 19],
  workDays: [1, 2, 3, 4, 5],
  holidays: [],
};

/** Zones already checked. (The first `Intl.DateTimeFormat` loads ICU's zone data: ~100 ms of a short command.) */
const knownZones = new Set<string>(['UTC']);

function checkTimeZone(timeZone: string): void {
  if (knownZones.has(timeZone)) return;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch (cause) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, `unknown time zone '${timeZone}'`, { cause });
  }
  knownZones.add(timeZone);
}

function resolveOne(partial: Partial<WorkHours> | undefined, base: WorkHours): WorkHours {
  const resolved: WorkHours = {
    timeZone: partial?.timeZone ?? base.timeZone,
    workHours: partial?.workHours ?? base.workHours,
    workDays: partial?.workDays ?? base.workDays,
    holidays: partial?.holidays ?? base.holidays ?? [],
  };
  if ((resolved.holidays ?? []).some((day) => !/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(day)))) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'holidays must be dates YYYY-MM-DD');
  }
  checkTimeZone(resolved.timeZone);
  const [start, end] = resolved.workHours;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > 24 || start >= end) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidOption,
      'workHours must be [start, end] with 0 ≤ start < end ≤ 24',
    );
  }
  if (resolved.workDays.some((day) => !Number.isInteger(day) || day < 1 || day > 7)) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidOption,
      'workDays must be ISO days 1 (Monday) … 7 (Sunday)',
    );
  }
  return resolved;
}

/**
 * Working hours as text (`7-19`, the CLI's `--hours` and the query API's `hours`): `[start, end]`, or undefined
 * when the text is not `<start>-<end>`. Bounds are checked where the hours are resolved.
 */
export function parseHourRange(text: string): [number, number] | undefined {
  const match = /^(\d+)-(\d+)$/.exec(text);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * Working days as text (`1-5` or `1,2,3`, ISO days; the CLI's `--days` and the query API's `days`), or undefined
 * when it is neither a range nor a list of whole numbers.
 */
export function parseDayList(text: string): number[] | undefined {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (match) {
    const out: number[] = [];
    for (let i = Number(match[1]); i <= Number(match[2]); i += 1) out.push(i);
    return out;
  }
  const list = text.split(',').map(Number);
  return list.some((n) => !Number.isInteger(n)) ? undefined : list;
}

export interface ResolvedWorkHours {
  readonly fallback: WorkHours;
  readonly tenants: ReadonlyMap<string, WorkHours>;
}

export function resolveWorkHours(config: WorkHoursConfig = {}): ResolvedWorkHours {
  const fallback = resolveOne(config.default, DEFAULT_WORK_HOURS);
  const tenants = new Map<string, WorkHours>();
  for (const [tenant, partial] of Object.entries(config.tenants ?? {}))
    tenants.set(tenant, resolveOne(partial, fallback));
  return { fallback, tenants };
}

export function workHoursFor(resolved: ResolvedWorkHours, tenantId: string): WorkHours {
  return resolved.tenants.get(tenantId) ?? resolved.fallback;
}

const WEEKDAY: Readonly<Record<string, number>> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** Local wall-clock parts of an instant in a time zone. */
export function localParts(instant: Date, timeZone: string): { hour: number; weekday: number; text: string } {
  if (timeZone === 'UTC') {
    const iso = instant.toISOString();
    return {
      hour: instant.getUTCHours(),
      weekday: ((instant.getUTCDay() + 6) % 7) + 1,
      text: `${iso.slice(0, 10)} ${iso.slice(11, 19)}`,
    };
  }
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    weekday: 'short',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(instant);
  const get = (type: string): string => parts.find((part) => part.type === type)?.value ?? '';
  return {
    hour: Number(get('hour')),
    weekday: WEEKDAY[get('weekday')] ?? 0,
    text: `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`,
  };
}

/** True when the instant falls inside the tenant's working time. */
export function isWithinWorkHours(instant: Date, hours: WorkHours): boolean {
  const { hour, weekday, text } = localParts(instant, hours.timeZone);
  return (
    hours.workDays.includes(weekday) &&
    hour >= hours.workHours[0] &&
    hour < hours.workHours[1] &&
    !(hours.holidays ?? []).includes(text.slice(0, 10))
  );
}
