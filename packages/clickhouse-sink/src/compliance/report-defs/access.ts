/**
 * `access`: the HIPAA access report, every access to a patient (who, when, what, from where), oldest first, read
 * from the per-patient index alone (migration 14: it holds every record field).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS, type AuditRecord } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../errors.ts';
import { AUDIT_PATIENT_INDEX, selectRows } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import {
  base,
  ONE_TENANT,
  RECORD_VIEW_COLUMNS,
  recordsSql,
  SMALL_READ_SETTINGS,
  selectRecords,
  TIME_FILTER,
  withRecordFields,
} from '../reports.ts';
import { groupRequests } from '../requests.ts';
import type { AccessReportOptions, Report } from '../types.ts';

const TITLE = 'Patient access report';

/** The patient's rows and any all-patient export rows (`*`); `tenantAnd` is a fixed fragment. */
function accessWhere(tenantAnd: string): string {
  return `patient_id IN {patients:Array(String)} AND ${TIME_FILTER}${tenantAnd}`;
}

/**
 * The access report's read (what it runs and what its definition shows): the patients' key ranges of the index,
 * a few granules, on one thread. Parameters: `patients` (the ids and `*`), `from`, `to`, and those of `tenantAnd`.
 */
export function accessReadSql(tenantAnd: string): string {
  return recordsSql(accessWhere(tenantAnd), AUDIT_PATIENT_INDEX, SMALL_READ_SETTINGS);
}

/**
 * HIPAA access report: every access to the patient (who, when, what, from where), oldest first.
 * Bulk exports of all patients (`patient_id = '*'`) in a tenant where the patient appears are included
 * unless `includeAllPatientExports: false`.
 */
export async function accessReport(
  client: ClickHouseClient,
  options: AccessReportOptions,
): Promise<Report<AuditRecord>> {
  if (options.patientIds.length === 0) {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.patientUnresolved, 'no patient id to report on');
  }
  const { range, params, tenantAnd } = base(options);
  params.patients = [...options.patientIds];
  const includeAll = options.includeAllPatientExports ?? true;
  if (includeAll) params.patients = [...options.patientIds, ALL_PATIENTS];
  // One read of the per-patient index (patient first, every record field since migration 14): the patient's rows
  // and any all-patient export rows (`*`), one key range each. An export of all patients concerns this patient only in a tenant the patient belongs to; that
  // is settled afterwards, and only when such rows came back (rare), with one more small query. Measured on
  // 10 M rows: ~25 % faster than first looking up the patient's tenants to turn the read into a prefix search
  // (fewer granules, but a second round trip; per-part overhead dominates), several times faster than a
  // `tenant_id IN (subquery)` in the same query.
  let records = await selectRecords(client, accessWhere(tenantAnd), params, AUDIT_PATIENT_INDEX, SMALL_READ_SETTINGS);
  const exportTenants = new Set(records.filter((r) => r.patient_id === ALL_PATIENTS).map((r) => r.tenant_id));
  const seenTenants = new Set(records.filter((r) => r.patient_id !== ALL_PATIENTS).map((r) => r.tenant_id));
  if ([...exportTenants].some((tenant) => !seenTenants.has(tenant))) {
    const patientTenants = new Set(
      (
        await selectRows<{ tenant_id: string }>(
          client,
          `SELECT DISTINCT tenant_id FROM ${AUDIT_PATIENT_INDEX} WHERE patient_id IN {ids:Array(String)}`,
          { ids: [...options.patientIds] },
        )
      ).map((row) => row.tenant_id),
    );
    records = records.filter((r) => r.patient_id !== ALL_PATIENTS || patientTenants.has(r.tenant_id));
  }
  return {
    name: 'access',
    title: TITLE,
    range,
    tenant: options.tenant,
    parameters: { patientIds: options.patientIds, includeAllPatientExports: includeAll },
    columns: RECORD_VIEW_COLUMNS,
    rows: records,
    records,
    requests: groupRequests(records),
  };
}

export const accessReportDef: ReportDef<AuditRecord> = {
  name: 'access',
  title: TITLE,
  summary: 'who accessed this patient, when, what, from where (HIPAA accounting of disclosures)',
  recordLevel: true,
  tenantSettings: false,
  options: [
    { name: 'patientIds', flag: 'patient', type: 'list', required: true, help: 'FHIR logical id(s) of the patient' },
    {
      name: 'includeAllPatientExports',
      flag: 'all-patient-exports',
      type: 'boolean',
      default: true,
      help: "include bulk exports of all patients ('*') of the patient's tenant",
    },
  ],
  columns: RECORD_VIEW_COLUMNS,
  csvColumns: withRecordFields(RECORD_VIEW_COLUMNS),
  orderBy: ['event_time', 'event_id'],
  sql: accessReadSql(ONE_TENANT),
  run: (client, options) => accessReport(client, options as unknown as AccessReportOptions),
};
