/**
 * The compliance reports behind `GET /api/audit/<command>`: the same library calls and options as
 * `fhirwatch audit <command>` (packages/cli/src/commands/audit.ts), options read from the query string.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../queries/errors.ts';
import { resolveMrnFromStore } from '../queries/patient-resolve.ts';
import {
  accessReport,
  activityReport,
  afterHoursReport,
  exportsReport,
  failuresReport,
  nameProbingReport,
  summaryReport,
  tenantIsolationReport,
  vipReport,
  volumeReport,
} from '../queries/reports.ts';
import type { NameProbingReportOptions, Report, VolumeReportOptions } from '../queries/types.ts';
import { verifyAuditChain, verifyReport } from '../queries/verify.ts';
import { flag, list, number, scope, single, workHours } from './params.ts';

type Runner = (client: ClickHouseClient, query: URLSearchParams) => Promise<Report<object>>;

/** `GET /api/audit/report/<name>`: the monitoring reports (each flags suspicious patterns: its rows are hits). */
export const MONITORING_REPORTS: Readonly<Record<string, { title: string; run: Runner }>> = {
  'after-hours': {
    title: 'Accesses outside working hours',
    run: (client, q) => afterHoursReport(client, { ...scope(q), workHours: workHours(q) }),
  },
  volume: {
    title: 'Unusual volume of distinct patients per user',
    run: (client, q) => {
      const granularity = single(q, 'granularity') ?? 'hour';
      if (granularity !== 'hour' && granularity !== 'day') {
        throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, "parameter 'granularity' must be hour or day");
      }
      const options: VolumeReportOptions = { ...scope(q), granularity };
      const floor = number(q, 'floor', false);
      const k = number(q, 'k', false);
      const baselineDays = number(q, 'baseline-days', true);
      if (floor !== undefined) options.floor = floor;
      if (k !== undefined) options.k = k;
      if (baselineDays !== undefined) options.baselineDays = baselineDays;
      return volumeReport(client, options);
    },
  },
  vip: { title: 'Accesses to VIP patients', run: (client, q) => vipReport(client, scope(q)) },
  'name-probing': {
    title: 'Name searches without matching views',
    run: (client, q) => {
      const options: NameProbingReportOptions = scope(q);
      const windowMinutes = number(q, 'window-minutes', true);
      const minSearches = number(q, 'min-searches', true);
      const maxViewRatio = number(q, 'max-view-ratio', false);
      if (windowMinutes !== undefined) options.windowMinutes = windowMinutes;
      if (minSearches !== undefined) options.minSearches = minSearches;
      if (maxViewRatio !== undefined) options.maxViewRatio = maxViewRatio;
      return nameProbingReport(client, options);
    },
  },
  exports: {
    title: 'Bulk exports (large, all-patient, off-hours)',
    run: (client, q) => {
      const largePatients = number(q, 'large-patients', true);
      return exportsReport(client, {
        ...scope(q),
        workHours: workHours(q),
        ...(largePatients === undefined ? {} : { largePatients }),
      });
    },
  },
  failures: {
    title: 'Failed and denied accesses',
    run: (client, q) => {
      const minEvents = number(q, 'min-events', true);
      return failuresReport(client, { ...scope(q), ...(minEvents === undefined ? {} : { minEvents }) });
    },
  },
  'tenant-isolation': {
    title: 'Tenant isolation violations',
    run: (client, q) => tenantIsolationReport(client, scope(q)),
  },
};

/** Patient ids from `patient` (repeatable) and `patient-mrn` (resolved through the store's identifier searches). */
export async function patientIdsOf(client: ClickHouseClient, q: URLSearchParams): Promise<string[]> {
  const ids = list(q, 'patient');
  const mrn = single(q, 'patient-mrn');
  if (mrn !== undefined && mrn !== '') {
    const resolved = await resolveMrnFromStore(client, { mrn, ...scope(q) });
    if (resolved.length === 0 && ids.length === 0) {
      throw new AuditQueryError(
        AUDIT_QUERY_ERROR_CODES.patientUnresolved,
        'the MRN resolved to no patient: no identifier search in the range returned one (try a wider range)',
      );
    }
    ids.push(...resolved.map((p) => p.patient_id));
  }
  return [...new Set(ids)];
}

export async function runAccess(client: ClickHouseClient, q: URLSearchParams): Promise<Report<object>> {
  const patientIds = await patientIdsOf(client, q);
  if (patientIds.length === 0) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'access needs patient=<id> or patient-mrn=<mrn>');
  }
  return accessReport(client, {
    patientIds,
    includeAllPatientExports: !flag(q, 'no-all-patient-exports'),
    ...scope(q),
  });
}

export function runActivity(client: ClickHouseClient, q: URLSearchParams): Promise<Report<object>> {
  const userId = single(q, 'user');
  if (userId === undefined || userId === '') {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'activity needs user=<id>');
  }
  return activityReport(client, { userId, ...scope(q) });
}

export function runSummary(client: ClickHouseClient, q: URLSearchParams): Promise<Report<object>> {
  return summaryReport(client, scope(q));
}

export async function runVerify(
  client: ClickHouseClient,
  q: URLSearchParams,
  key: Uint8Array,
): Promise<Report<object>> {
  const writers = list(q, 'writer');
  const result = await verifyAuditChain(client, {
    key,
    ...(writers.length > 0 ? { recordedBy: writers } : {}),
    allowTruncatedStart: flag(q, 'allow-truncated-start'),
  });
  return verifyReport(result);
}
