/**
 * Time ranges of the compliance queries: `--since 90d` or `--from/--to`, resolved once into UTC
 * instants and passed to ClickHouse as `DateTime64(3, 'UTC')` query parameters.
 */
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';

export interface TimeRangeInput {
  /** Duration back from `now`: `90d`, `12h`, `30m`, `2w`, `1y` (365 days). Ignored when `from` is set. */
  since?: string;
  /** Inclusive start (ISO 8601 date or date-time; a date means 00:00 UTC). */
  from?: string | Date;
  /** Exclusive end (ISO 8601); default `now`. */
  to?: string | Date;
  /** Reference instant for `since` and the default `to` (tests pin it). */
  now?: Date;
}

export interface TimeRange {
  readonly from: Date;
  readonly to: Date;
}

/** Default look-back of every report. */
export const DEFAULT_SINCE = '90d';

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** Parse `90d` / `12h` / `30m` / `2w` / `1y` / `45s` into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smhdwy])\s*$/.exec(text);
  if (match === null) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidRange,
      `invalid duration '${text}' (expected e.g. 90d, 12h, 30m, 2w, 1y)`,
    );
  }
  return Number(match[1]) * (UNIT_MS[match[2]!] ?? 0);
}

function parseInstant(value: string | Date, name: string): Date {
  const date =
    value instanceof Date ? value : new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(date.getTime())) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidRange, `invalid --${name} (expected an ISO 8601 date)`);
  }
  return date;
}

const DATETIME64_MIN_MS = Date.UTC(1900, 0, 1);
const DATETIME64_MAX_MS = Date.UTC(2299, 11, 31, 23, 59, 59, 999);

export function resolveTimeRange(input: TimeRangeInput = {}): TimeRange {
  const now = input.now ?? new Date();
  const to = input.to === undefined ? now : parseInstant(input.to, 'to');
  const from =
    input.from !== undefined
      ? parseInstant(input.from, 'from')
      : new Date(to.getTime() - parseDuration(input.since ?? DEFAULT_SINCE));
  // DateTime64's range: beyond it (a `since` of 10^11 days) the query could not even be written
  for (const [name, date] of [
    ['from', from],
    ['to', to],
  ] as const) {
    const t = date.getTime();
    if (Number.isNaN(t) || t < DATETIME64_MIN_MS || t > DATETIME64_MAX_MS) {
      throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidRange, `--${name} must be between 1900 and 2299`);
    }
  }
  if (from.getTime() >= to.getTime()) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidRange, '--from must be before --to');
  }
  return { from, to };
}

/** A Date as a ClickHouse `DateTime64(3, 'UTC')` parameter value. */
export function chDateTime(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

/** A ClickHouse `DateTime64(3, 'UTC')` value as read back (`2026-11-25 13:11:30.123`) to ISO 8601 with `Z`. */
export function isoFromClickHouse(value: string): string {
  if (value.endsWith('Z')) return value;
  // the common shape, DateTime64(3) as read back: `YYYY-MM-DD hh:mm:ss.fff` (same answer as the general path)
  if (value.length === 23 && value[10] === ' ' && value[19] === '.') return `${value.slice(0, 10)}T${value.slice(11)}Z`;
  const [date, time = '00:00:00'] = value.split(' ');
  const [hms, fraction = ''] = time.split('.');
  return `${date}T${hms}.${fraction.padEnd(3, '0').slice(0, 3)}Z`;
}
