/** `activity`: every access by one user (every patient and resource they touched), oldest first. */
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../errors.ts';
import { requestRows } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import {
  base,
  ONE_TENANT,
  RECORD_VIEW_COLUMNS,
  recordsSql,
  selectRecords,
  TIME_FILTER,
  withRecordFields,
} from '../reports.ts';
import { groupRequests } from '../requests.ts';
import type { ActivityReportOptions, Report } from '../types.ts';

const TITLE = 'User activity report';

function activityWhere(tenantAnd: string): string {
  return `user_id = {user:String} AND ${TIME_FILTER}${tenantAnd}`;
}

/** Every access by a user (every patient and resource they touched), oldest first. */
export async function activityReport(
  client: ClickHouseClient,
  options: ActivityReportOptions,
): Promise<Report<AuditRecord>> {
  if (options.userId === '')
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'user id must not be empty');
  const { range, params, tenantAnd } = base(options);
  params.user = options.userId;
  // The requests through audit_requests' narrow by_user projection (tenant_id, user_id, event_time), then those
  // requests by the sort key (migration 11). An earlier version added
  // `tenant_id IN (SELECT DISTINCT tenant_id … same user, same range)` to turn it into a prefix search; that
  // filter cannot remove a row (every matching row's tenant is in that set), and on 10 M rows the plain read
  // was as fast or faster (the subquery is a second read of the projection).
  const records = await selectRecords(client, activityWhere(tenantAnd), params, requestRows(activityWhere(tenantAnd)));
  return {
    name: 'activity',
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: { userId: options.userId },
    columns: RECORD_VIEW_COLUMNS,
    rows: records,
    records,
    requests: groupRequests(records),
  };
}

export const activityReportDef: ReportDef<AuditRecord> = {
  name: 'activity',
  title: TITLE,
  summary: 'every patient and resource a user touched',
  recordLevel: true,
  tenantSettings: false,
  options: [{ name: 'userId', flag: 'user', type: 'string', required: true, help: 'user id (user_id)' }],
  columns: RECORD_VIEW_COLUMNS,
  csvColumns: withRecordFields(RECORD_VIEW_COLUMNS),
  orderBy: ['event_time', 'event_id'],
  sql: recordsSql(activityWhere(ONE_TENANT), requestRows(activityWhere(ONE_TENANT))),
  run: (client, options) => activityReport(client, options as unknown as ActivityReportOptions),
};
