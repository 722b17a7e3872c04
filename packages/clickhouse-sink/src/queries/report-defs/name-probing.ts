/** `name-probing`: bursts of name searches with few follow-up views (implementation in ../reports.ts). */
import type { ReportDef } from '../registry-types.ts';
import { AUDIT_EVENTS } from '../records.ts';
import { col, type NameProbingRow, nameProbingReport, REPORT_DEFAULTS, TIME_FILTER } from '../reports.ts';

export const nameProbingReportDef: ReportDef<NameProbingRow> = {
  name: 'name-probing',
  title: 'Bursts of name searches with few follow-up views',
  summary: 'one user running many name searches and viewing few patients within a window',
  recordLevel: false,
  tenantSettings: true,
  options: [
    {
      name: 'windowMinutes',
      flag: 'window-minutes',
      type: 'integer',
      default: REPORT_DEFAULTS.nameProbing.windowMinutes,
      help: 'window length in minutes',
      tenantSetting: true,
    },
    {
      name: 'minSearches',
      flag: 'min-searches',
      type: 'integer',
      default: REPORT_DEFAULTS.nameProbing.minSearches,
      help: 'minimum name searches in a window',
      tenantSetting: true,
    },
    {
      name: 'maxViewRatio',
      flag: 'max-view-ratio',
      type: 'number',
      default: REPORT_DEFAULTS.nameProbing.maxViewRatio,
      help: 'flag when distinct patients viewed ≤ ratio × name searches',
      tenantSetting: true,
    },
  ],
  columns: [
    col('window_start'),
    col('tenant_id'),
    col('principal'),
    col('name_searches'),
    col('viewed_patients'),
    col('first_search'),
    col('last_search'),
  ],
  orderBy: ['window_start', 'tenant_id', 'principal'],
  sql: `SELECT tenant_id, principal, toStartOfInterval(event_time, toIntervalMinute({windowMinutes:UInt32})) AS window_start,
    uniqExactIf(request_key, is_name_search) AS name_searches, uniqExactIf(patient_id, NOT is_search AND outcome = 0) AS viewed_patients
  FROM ${AUDIT_EVENTS} WHERE ${TIME_FILTER} AND tenant_id = {tenant:String}
  GROUP BY tenant_id, principal, window_start`,
  run: (client, options) => nameProbingReport(client, options),
};
