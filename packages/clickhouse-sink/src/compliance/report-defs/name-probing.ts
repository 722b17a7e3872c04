/**
 * `name-probing`: one user (or, without a user, one client) running many **name** searches and viewing few of
 * the patients, within a sliding window. Looking people up by name without opening a chart is how a curious
 * employee finds a neighbour or a celebrity; a clinician who searches by name opens the chart of the patient
 * they were looking for.
 *
 * Sliding, not bucketed: every name search starts a window of `windowMinutes` (default 60) over that
 * principal's activity; a window is flagged when it holds ≥ `minSearches` name-search requests and the distinct
 * patients successfully opened in it **that those name searches returned** (a view following the principal's
 * own name search of that patient within the window length) are ≤ `maxViewRatio` × those searches. Charts opened
 * for other reasons (the user's list, a page) do not hide a probe among ordinary work. A burst is caught whether it is
 * compact, spread over the whole window or straddles any clock boundary (there are no boundaries). Overlapping
 * flagged windows of one principal are reported as one episode: its first flagged window's start, the peak
 * window's counts, and the first and last search of the episode.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../errors.ts';
import { AUDIT_EVENTS, PRINCIPAL_SQL, selectRows } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { base, col, positive, TIME_FILTER } from '../reports.ts';
import { isoFromClickHouse } from '../time-range.ts';
import type { Report, ReportOptions } from '../types.ts';

export const NAME_PROBING_DEFAULTS = { windowMinutes: 60, minSearches: 10, maxViewRatio: 0.2 } as const;

export interface NameProbingReportOptions extends ReportOptions {
  /** Sliding window length in minutes. Default 60. */
  windowMinutes?: number;
  /** Minimum name-search requests in a window. Default 10. */
  minSearches?: number;
  /** Flag when distinct patients viewed ≤ ratio × name searches. Default 0.2. */
  maxViewRatio?: number;
}

export interface NameProbingRow {
  tenant_id: string;
  principal: string;
  /** Start of the episode's first flagged window (= its first name search). */
  window_start: string;
  /** End of the episode's last flagged window. */
  window_end: string;
  /** Name-search requests in the episode's peak window. */
  name_searches: number;
  /** Distinct patients opened in that window that the principal's name searches had returned. */
  viewed_patients: number;
  first_search: string;
  last_search: string;
}

/** Name-search parameters (any modifier: `family:contains`, `name:exact` …). */
const NAME_PARAMETERS = ['name', 'family', 'given', 'phonetic'] as const;

/** Per record: the principal, whether it is a name search, and the request it belongs to. */
const CLASSIFIED = `SELECT tenant_id, event_time, patient_id, outcome,
      ${PRINCIPAL_SQL} AS principal,
      event_type = 'PatientSearch' AS is_search,
      is_search AND arrayExists(
        name -> splitByChar(':', name)[1] IN ('${NAME_PARAMETERS.join("', '")}'),
        extractURLParameterNames(concat('?', replaceRegexpOne(query, '^\\\\?', '')))
      ) AS is_name_search,
      if(trace_id = '', toString(event_id), concat(trace_id, '/', batch_id, '/', toString(entry_index))) AS request_key
    FROM ${AUDIT_EVENTS}
    WHERE ${TIME_FILTER}`;

/** The statement, with the window length in ms − 1 as `{frame}` (a literal: ClickHouse takes no parameter there). */
function nameProbingSql(tenantAnd: string, frame: number): string {
  const classified = `${CLASSIFIED}${tenantAnd}`;
  return `SELECT tenant_id, principal, toString(t) AS anchor, searches, viewed, toString(last_search) AS last_search
  FROM (
    SELECT tenant_id, principal, t, kind,
      uniqExactIf(key, kind = 1) OVER w AS searches,
      uniqExactIf(key, kind = 2) OVER w AS viewed,
      maxIf(t, kind = 1) OVER w AS last_search
    FROM (
      SELECT tenant_id, principal, min(event_time) AS t, 1 AS kind, request_key AS key
      FROM (${classified}) WHERE is_name_search
      GROUP BY tenant_id, principal, request_key
      UNION ALL
      SELECT v.tenant_id AS tenant_id, v.principal AS principal, v.t AS t, 2 AS kind, v.key AS key
      FROM (
        SELECT tenant_id, principal, event_time AS t, patient_id AS key
        FROM (${classified}) WHERE NOT is_search AND outcome = 0 AND patient_id NOT IN ('', {all:String})
      ) AS v
      INNER JOIN (
        SELECT tenant_id, principal, patient_id AS key, groupArray(event_time) AS found_at
        FROM (${classified}) WHERE is_name_search AND outcome = 0 AND patient_id NOT IN ('', {all:String})
        GROUP BY tenant_id, principal, key
      ) AS f ON v.tenant_id = f.tenant_id AND v.principal = f.principal AND v.key = f.key
      WHERE arrayExists(x -> x <= v.t AND x >= v.t - toIntervalMillisecond(${frame}), f.found_at)
    )
    WHERE (tenant_id, principal) IN (
      SELECT tenant_id, principal FROM (${classified}) WHERE is_name_search
      GROUP BY tenant_id, principal HAVING uniqExact(request_key) >= {minSearches:UInt32}
    )
    WINDOW w AS (PARTITION BY tenant_id, principal ORDER BY toUnixTimestamp64Milli(t) RANGE BETWEEN CURRENT ROW AND ${frame} FOLLOWING)
  )
  WHERE kind = 1 AND searches >= {minSearches:UInt32} AND viewed <= {maxViewRatio:Float64} * searches
  ORDER BY tenant_id, principal, t`;
}

export async function nameProbingReport(
  client: ClickHouseClient,
  options: NameProbingReportOptions = {},
): Promise<Report<NameProbingRow>> {
  const { range, params, tenantAnd } = base(options);
  const windowMinutes = positive(options.windowMinutes ?? NAME_PROBING_DEFAULTS.windowMinutes, 'windowMinutes', true);
  if (windowMinutes < 1 || windowMinutes > 7 * 24 * 60) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'windowMinutes must be 1 … 10080');
  }
  params.minSearches = positive(options.minSearches ?? NAME_PROBING_DEFAULTS.minSearches, 'minSearches', true);
  params.maxViewRatio = positive(options.maxViewRatio ?? NAME_PROBING_DEFAULTS.maxViewRatio, 'maxViewRatio');
  params.all = ALL_PATIENTS;
  const windowMs = windowMinutes * 60_000;
  const anchors = await selectRows<Record<string, unknown>>(client, nameProbingSql(tenantAnd, windowMs - 1), params);
  const rows: (NameProbingRow & { lastAnchor: number })[] = [];
  let episode: (NameProbingRow & { lastAnchor: number }) | undefined;
  for (const anchor of anchors) {
    const at = Date.parse(isoFromClickHouse(String(anchor.anchor)));
    const tenant = String(anchor.tenant_id);
    const principal = String(anchor.principal);
    const searches = Number(anchor.searches);
    const viewed = Number(anchor.viewed);
    const lastSearch = isoFromClickHouse(String(anchor.last_search));
    if (
      episode !== undefined &&
      episode.tenant_id === tenant &&
      episode.principal === principal &&
      at < episode.lastAnchor + windowMs
    ) {
      if (searches > episode.name_searches) {
        episode.name_searches = searches;
        episode.viewed_patients = viewed;
      }
      episode.lastAnchor = at;
      episode.window_end = new Date(at + windowMs).toISOString();
      if (lastSearch > episode.last_search) episode.last_search = lastSearch;
      continue;
    }
    episode = {
      tenant_id: tenant,
      principal,
      window_start: new Date(at).toISOString(),
      window_end: new Date(at + windowMs).toISOString(),
      name_searches: searches,
      viewed_patients: viewed,
      first_search: new Date(at).toISOString(),
      last_search: lastSearch,
      lastAnchor: at,
    };
    rows.push(episode);
  }
  const out = rows
    .map(({ lastAnchor: _a, ...row }) => ({ ...row }))
    .sort((a, b) =>
      a.window_start === b.window_start
        ? `${a.tenant_id}/${a.principal}` < `${b.tenant_id}/${b.principal}`
          ? -1
          : 1
        : a.window_start < b.window_start
          ? -1
          : 1,
    );
  return {
    name: 'name-probing',
    title: 'Bursts of name searches with few follow-up views',
    range,
    tenant: options.tenant,
    parameters: { windowMinutes, minSearches: params.minSearches, maxViewRatio: params.maxViewRatio },
    columns: NAME_PROBING_COLUMNS,
    rows: out,
  };
}

const NAME_PROBING_COLUMNS = [
  col('window_start'),
  col('window_end'),
  col('tenant_id'),
  col('principal'),
  col('name_searches'),
  col('viewed_patients'),
  col('first_search'),
  col('last_search'),
];

export const nameProbingReportDef: ReportDef<NameProbingRow> = {
  name: 'name-probing',
  title: 'Bursts of name searches with few follow-up views',
  summary: 'one user running many name searches and viewing few patients within a sliding window',
  recordLevel: false,
  tenantSettings: true,
  options: [
    {
      name: 'windowMinutes',
      flag: 'window-minutes',
      type: 'integer',
      default: NAME_PROBING_DEFAULTS.windowMinutes,
      help: 'sliding window length in minutes',
      tenantSetting: true,
    },
    {
      name: 'minSearches',
      flag: 'min-searches',
      type: 'integer',
      default: NAME_PROBING_DEFAULTS.minSearches,
      help: 'minimum name-search requests in a window',
      tenantSetting: true,
    },
    {
      name: 'maxViewRatio',
      flag: 'max-view-ratio',
      type: 'number',
      default: NAME_PROBING_DEFAULTS.maxViewRatio,
      help: 'flag when distinct patients viewed ≤ ratio × name searches',
      tenantSetting: true,
    },
  ],
  columns: NAME_PROBING_COLUMNS,
  orderBy: ['window_start', 'tenant_id', 'principal'],
  sql: nameProbingSql(' AND tenant_id = {tenant:String}', NAME_PROBING_DEFAULTS.windowMinutes * 60_000 - 1),
  flags: (row) => [row.principal],
  run: (client, options) => nameProbingReport(client, options),
};
