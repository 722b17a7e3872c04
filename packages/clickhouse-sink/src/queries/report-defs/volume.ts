/** `volume`: users above their own distinct-patient volume (implementation in ../reports.ts). */

import { AUDIT_EVENTS } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { col, REPORT_DEFAULTS, type VolumeRow, volumeReport } from '../reports.ts';

export const volumeReportDef: ReportDef<VolumeRow> = {
  name: 'volume',
  title: 'Users above their distinct-patient volume',
  summary: 'users whose distinct patients per hour/day exceed max(floor, k × their own baseline)',
  recordLevel: false,
  tenantSettings: true,
  options: [
    {
      name: 'granularity',
      flag: 'granularity',
      type: 'enum',
      values: ['hour', 'day'],
      default: REPORT_DEFAULTS.volume.granularity,
      help: 'window length',
      tenantSetting: true,
    },
    {
      name: 'floor',
      flag: 'floor',
      type: 'number',
      help: `minimum distinct patients before anything is flagged (default ${REPORT_DEFAULTS.volume.floorHour} per hour, ${REPORT_DEFAULTS.volume.floorDay} per day)`,
      tenantSetting: true,
    },
    {
      name: 'k',
      flag: 'k',
      type: 'number',
      default: REPORT_DEFAULTS.volume.k,
      help: 'multiple of the user’s own baseline',
      tenantSetting: true,
    },
    {
      name: 'baselineDays',
      flag: 'baseline-days',
      type: 'integer',
      default: REPORT_DEFAULTS.volume.baselineDays,
      help: 'baseline look-back in days',
      tenantSetting: true,
    },
  ],
  columns: [
    col('bucket'),
    col('tenant_id'),
    col('user_id'),
    col('patients'),
    col('baseline'),
    col('baseline_buckets'),
    col('threshold'),
  ],
  orderBy: ['bucket', 'tenant_id', 'user_id'],
  sql: `SELECT tenant_id, user_id, toStartOfHour(event_time) AS bucket, uniqExact(patient_id) AS patients
  FROM ${AUDIT_EVENTS} WHERE event_time >= {baselineFrom:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}
    AND tenant_id = {tenant:String} AND user_id != '' AND patient_id NOT IN ('', {all:String})
  GROUP BY tenant_id, user_id, bucket`,
  run: (client, options) => volumeReport(client, options),
};
