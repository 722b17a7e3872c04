/**
 * `volume`: users who touch many more distinct patients than usual. Unusual volume is how mass snooping and
 * data theft show up in an access log.
 *
 * - `granularity: 'hour'` (default): a **sliding** window of `windowMinutes` (default 60) opened at each of
 *   the user's accesses: no clock edge can split a burst. Overlapping flagged windows are one episode (its first
 *   flagged window's start as `bucket`, the peak window's counts).
 * - `granularity: 'day'`: the tenant's **local calendar day** (its time zone from the stored settings).
 *
 * A window is flagged when its distinct patients exceed `max(floor, k × baseline)`. The baseline is the mean
 * distinct patients of the user's *active* local hours (or days) in the `baselineDays` before the window's
 * hour (day), scaled by windowMinutes / 60 for other window lengths; a user with no history is held to the
 * floor alone.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../errors.ts';
import { AUDIT_EVENTS, PRINCIPAL_SQL, principalOf, selectRows } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { base, col, positive, TIME_FILTER } from '../reports.ts';
import { chDateTime, isoFromClickHouse } from '../time-range.ts';
import type { Report, ReportOptions } from '../types.ts';
import { localParts, resolveWorkHours, type WorkHoursConfig, workHoursFor } from '../work-hours.ts';

export const VOLUME_DEFAULTS = {
  granularity: 'hour',
  windowMinutes: 60,
  floorHour: 30,
  floorDay: 150,
  k: 3,
  baselineDays: 30,
} as const;

export interface VolumeReportOptions extends ReportOptions {
  /** Sliding window (`hour`, of windowMinutes) or the tenant's local calendar day. Default `hour`. */
  granularity?: 'hour' | 'day';
  /** Sliding window length for `hour`. Default 60. */
  windowMinutes?: number;
  /** Minimum distinct patients in a window before anything is flagged. Default 30 (hour) / 150 (day). */
  floor?: number;
  /** Multiple of the user's own baseline. Default 3. */
  k?: number;
  /** Baseline window before each window, in days. Default 30. */
  baselineDays?: number;
  /** Time zone (the fallback's, or the tenant's when `tenant` is set); default UTC. */
  workHours?: WorkHoursConfig;
}

export interface VolumeRow {
  /** Start of the (first flagged) window, UTC. */
  bucket: string;
  window_end: string;
  /** `bucket` in the tenant's local time. */
  local_start: string;
  time_zone: string;
  tenant_id: string;
  user_id: string;
  patients: number;
  baseline: number;
  baseline_buckets: number;
  threshold: number;
}

/** Accesses to one patient, by anyone: a user, or the client when the trail has no user (userIdentity: none). */
const ACCESS_FILTER = "patient_id NOT IN ('', {all:String})";

/** Per-bucket distinct patients and the baseline before each bucket (buckets in the tenant's time zone). */
function bucketsSql(bucket: string, tenantAnd: string, frameSeconds: number): string {
  return `buckets AS (
      SELECT tenant_id, principal AS user_id, bucket, uniqExact(patient_id) AS patients
      FROM (
        SELECT tenant_id, ${PRINCIPAL_SQL} AS principal, ${bucket} AS bucket, patient_id
        FROM ${AUDIT_EVENTS}
        WHERE event_time >= {baselineFrom:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}${tenantAnd} AND ${ACCESS_FILTER}
      )
      GROUP BY tenant_id, principal, bucket
    ),
    baselines AS (
      SELECT tenant_id, user_id, bucket, patients, count() OVER w AS baseline_buckets, avg(patients) OVER w AS baseline_mean
      FROM buckets
      WINDOW w AS (PARTITION BY tenant_id, user_id ORDER BY toUInt32(bucket) RANGE BETWEEN ${frameSeconds} PRECEDING AND 1 PRECEDING)
    )`;
}

const THRESHOLD =
  'if(baseline_buckets = 0, {floor:Float64}, greatest({floor:Float64}, {k:Float64} * baseline_mean * {scale:Float64}))';

function daySql(tenantAnd: string, frameSeconds: number): string {
  return `WITH ${bucketsSql('toStartOfDay(event_time, {tz:String})', tenantAnd, frameSeconds)}
    SELECT tenant_id, user_id, toString(toTimeZone(bucket, 'UTC')) AS anchor, toString(toTimeZone(bucket, 'UTC')) AS last,
      patients, baseline_buckets, baseline_mean, ${THRESHOLD} AS threshold
    FROM baselines
    WHERE bucket >= {from:DateTime64(3, 'UTC')} AND patients > threshold
    ORDER BY tenant_id, user_id, anchor`;
}

function slidingSql(tenantAnd: string, frameSeconds: number, frameMs: number): string {
  return `WITH ${bucketsSql('toStartOfHour(event_time, {tz:String})', tenantAnd, frameSeconds)}
    SELECT a.tenant_id AS tenant_id, a.user_id AS user_id, toString(a.t) AS anchor, toString(a.last) AS last, a.patients AS patients,
      b.baseline_buckets AS baseline_buckets, b.baseline_mean AS baseline_mean, ${THRESHOLD.replaceAll('baseline_', 'b.baseline_')} AS threshold
    FROM (
      SELECT tenant_id, user_id, t, uniqExact(patient_id) OVER w AS patients, max(t) OVER w AS last
      FROM (
        SELECT tenant_id, principal AS user_id, event_time AS t, patient_id
        FROM (
          SELECT tenant_id, ${PRINCIPAL_SQL} AS principal, event_time, patient_id FROM ${AUDIT_EVENTS}
          WHERE ${TIME_FILTER}${tenantAnd} AND ${ACCESS_FILTER}
        )
        WHERE (tenant_id, principal) IN (
            SELECT tenant_id, user_id FROM buckets WHERE bucket >= toStartOfHour({from:DateTime64(3, 'UTC')}) AND patients > {candidate:Float64}
          )
      )
      WINDOW w AS (PARTITION BY tenant_id, user_id ORDER BY toUnixTimestamp64Milli(t) RANGE BETWEEN CURRENT ROW AND ${frameMs} FOLLOWING)
    ) AS a
    INNER JOIN baselines AS b
      ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id AND toStartOfHour(a.t, {tz:String}) = b.bucket
    WHERE a.patients > threshold
    ORDER BY tenant_id, user_id, a.t`;
}

export async function volumeReport(
  client: ClickHouseClient,
  options: VolumeReportOptions = {},
): Promise<Report<VolumeRow>> {
  const { range, params, tenantAnd } = base(options);
  const granularity = options.granularity ?? VOLUME_DEFAULTS.granularity;
  if (granularity !== 'hour' && granularity !== 'day') {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'granularity must be hour or day');
  }
  const windowMinutes = positive(options.windowMinutes ?? VOLUME_DEFAULTS.windowMinutes, 'windowMinutes', true);
  if (windowMinutes < 1 || windowMinutes > 24 * 60) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'windowMinutes must be 1 … 1440');
  }
  const floor = positive(
    options.floor ?? (granularity === 'hour' ? VOLUME_DEFAULTS.floorHour : VOLUME_DEFAULTS.floorDay),
    'floor',
  );
  const k = positive(options.k ?? VOLUME_DEFAULTS.k, 'k');
  const baselineDays = positive(options.baselineDays ?? VOLUME_DEFAULTS.baselineDays, 'baselineDays', true);
  const timeZone = workHoursFor(resolveWorkHours(options.workHours), options.tenant ?? '').timeZone;
  const windowMs = granularity === 'hour' ? windowMinutes * 60_000 : 86_400_000;
  Object.assign(params, {
    floor,
    k,
    tz: timeZone,
    all: ALL_PATIENTS,
    scale: granularity === 'hour' ? windowMinutes / 60 : 1,
    // a window of W minutes spans at most ceil(W / 60) + 1 local hours: one of them holds > floor / that many
    candidate: floor / (Math.ceil(windowMinutes / 60) + 1),
    baselineFrom: chDateTime(new Date(range.from.getTime() - baselineDays * 86_400_000 - 86_400_000)),
  });
  // Window frame offsets must be literals: validated integers, not text from the caller.
  const frameSeconds = baselineDays * 86_400;
  const sql =
    granularity === 'hour' ? slidingSql(tenantAnd, frameSeconds, windowMs - 1) : daySql(tenantAnd, frameSeconds);
  const anchors = await selectRows<Record<string, unknown>>(client, sql, params);
  type Episode = VolumeRow & { lastAnchor: number };
  const episodes: Episode[] = [];
  let current: Episode | undefined;
  for (const anchor of anchors) {
    const at = Date.parse(isoFromClickHouse(String(anchor.anchor)));
    const tenant = String(anchor.tenant_id);
    const user = String(anchor.user_id);
    const patients = Number(anchor.patients);
    const baselineBuckets = Number(anchor.baseline_buckets);
    const row = {
      patients,
      baseline_buckets: baselineBuckets,
      baseline: baselineBuckets === 0 ? 0 : Math.round(Number(anchor.baseline_mean) * 100) / 100,
      threshold: Math.round(Number(anchor.threshold) * 100) / 100,
    };
    if (
      granularity === 'hour' &&
      current !== undefined &&
      current.tenant_id === tenant &&
      current.user_id === user &&
      at < current.lastAnchor + windowMs
    ) {
      if (patients > current.patients) Object.assign(current, row);
      current.lastAnchor = at;
      current.window_end = new Date(at + windowMs).toISOString();
      continue;
    }
    const end = granularity === 'day' ? localDayEnd(at, timeZone) : at + windowMs;
    current = {
      bucket: new Date(at).toISOString(),
      window_end: new Date(end).toISOString(),
      local_start: localParts(new Date(at), timeZone).text,
      time_zone: timeZone,
      tenant_id: tenant,
      user_id: user,
      ...row,
      lastAnchor: at,
    };
    episodes.push(current);
  }
  const rows = episodes
    .map(({ lastAnchor: _l, ...row }) => row)
    .sort((a, b) =>
      a.bucket === b.bucket
        ? `${a.tenant_id}/${a.user_id}` < `${b.tenant_id}/${b.user_id}`
          ? -1
          : 1
        : a.bucket < b.bucket
          ? -1
          : 1,
    );
  return {
    name: 'volume',
    title:
      granularity === 'hour'
        ? `Users above their distinct-patient volume in a sliding ${windowMinutes}-minute window`
        : 'Users above their distinct-patient volume per local day',
    range,
    tenant: options.tenant,
    parameters: {
      granularity,
      ...(granularity === 'hour' ? { windowMinutes } : {}),
      floor,
      k,
      baselineDays,
      timeZone,
    },
    columns: VOLUME_COLUMNS,
    rows,
  };
}

/** The next local midnight after a local midnight (23, 24 or 25 hours later). */
function localDayEnd(start: number, timeZone: string): number {
  let t = start + 20 * 3_600_000;
  const day = localParts(new Date(start), timeZone).text.slice(0, 10);
  while (localParts(new Date(t), timeZone).text.slice(0, 10) === day) t += 3_600_000;
  // back to the exact minute the local date changed
  while (localParts(new Date(t - 60_000), timeZone).text.slice(0, 10) !== day) t -= 60_000;
  return t;
}

const VOLUME_COLUMNS = [
  col('bucket'),
  col('window_end'),
  col('local_start'),
  col('time_zone'),
  col('tenant_id'),
  col('user_id'),
  col('patients'),
  col('baseline'),
  col('baseline_buckets'),
  col('threshold'),
];

export const volumeReportDef: ReportDef<VolumeRow> = {
  name: 'volume',
  title: 'Users above their distinct-patient volume',
  summary: 'users whose distinct patients in a sliding window (or local day) exceed max(floor, k × their baseline)',
  recordLevel: false,
  tenantSettings: true,
  options: [
    {
      name: 'granularity',
      flag: 'granularity',
      type: 'enum',
      values: ['hour', 'day'],
      default: VOLUME_DEFAULTS.granularity,
      help: "hour: sliding window of --window-minutes; day: the tenant's local calendar day",
      tenantSetting: true,
    },
    {
      name: 'windowMinutes',
      flag: 'window-minutes',
      type: 'integer',
      default: VOLUME_DEFAULTS.windowMinutes,
      help: 'sliding window length in minutes (hour granularity)',
      tenantSetting: true,
    },
    {
      name: 'floor',
      flag: 'floor',
      type: 'number',
      help: `minimum distinct patients before anything is flagged (default ${VOLUME_DEFAULTS.floorHour} per window, ${VOLUME_DEFAULTS.floorDay} per day)`,
      tenantSetting: true,
    },
    {
      name: 'k',
      flag: 'k',
      type: 'number',
      default: VOLUME_DEFAULTS.k,
      help: 'multiple of the user’s own baseline',
      tenantSetting: true,
    },
    {
      name: 'baselineDays',
      flag: 'baseline-days',
      type: 'integer',
      default: VOLUME_DEFAULTS.baselineDays,
      help: 'baseline look-back in days',
      tenantSetting: true,
    },
  ],
  columns: VOLUME_COLUMNS,
  orderBy: ['bucket', 'tenant_id', 'user_id'],
  sql: slidingSql(
    ' AND tenant_id = {tenant:String}',
    VOLUME_DEFAULTS.baselineDays * 86_400,
    VOLUME_DEFAULTS.windowMinutes * 60_000 - 1,
  ),
  flags: (row) => [principalOf(row)],
  run: (client, options) => volumeReport(client, options),
};
