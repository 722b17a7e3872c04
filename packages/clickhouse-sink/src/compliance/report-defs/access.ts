/** `access`: HIPAA access report, every access to a patient (implementation in ../reports.ts). */
import type { AuditRecord } from '@fhirwatch/contract';
import { AUDIT_EVENTS_BY_PATIENT, RECORD_COLUMNS_SQL } from '../records.ts';
import type { ReportDef } from '../registry-types.ts';
import { accessReport, RECORD_VIEW_COLUMNS, TIME_FILTER, withRecordFields } from '../reports.ts';
import type { AccessReportOptions } from '../types.ts';

export const accessReportDef: ReportDef<AuditRecord> = {
  name: 'access',
  title: 'Patient access report',
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
  sql: `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_EVENTS_BY_PATIENT} WHERE patient_id IN {patients:Array(String)} AND ${TIME_FILTER} AND tenant_id = {tenant:String} ORDER BY event_time, event_id`,
  run: (client, options) => accessReport(client, options as unknown as AccessReportOptions),
};
