/**
 * The expansion definition (audit-expansion.ts): one source per per-patient row field, in the row's field
 * order, and `expandRequestRecord` is exactly its interpretation (the audit store's SQL rendering of the same
 * definition is held equal to it in clickhouse-sink's test/expansion.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  AUDIT_EXPANSION,
  AUDIT_RECORD_FIELDS,
  type AuditRequestRecord,
  expandRequestRecord,
  perPatientEventId,
} from '../src/index.ts';

const request: AuditRequestRecord = {
  v: 2,
  event_id: '019a5000-1234-7abc-8def-0123456789ab',
  event_time: '2026-11-25T13:11:30.123Z',
  recorded_by: 'gw-1',
  seq: 7,
  prev_hash: 'a'.repeat(64),
  hash: 'b'.repeat(64),
  tenant_id: 't-1',
  tenant_claimed: false,
  routed_tenant_id: 't-1r',
  client_id: 'c-1',
  user_id: 'u-1',
  user_name: 'Zoë',
  source_ip: '10.0.0.1',
  user_agent: 'PatientsApp/1.0',
  fhir_version: 'STU3',
  batch_id: 'batch-1',
  trace_id: 'f'.repeat(32),
  http_status: 200,
  duration_ms: 12.34567,
  entries: [
    {
      event_type: 'PatientView',
      fhir_interaction: 'read',
      resource_type: 'Patient',
      query: '',
      entry_index: 0,
      http_status: 200,
      outcome: 0,
      result_count: -1,
      patient_ids: ['p1'],
    },
    {
      event_type: 'PatientListView',
      fhir_interaction: 'batch',
      resource_type: 'Bundle',
      query: 'q=1',
      entry_index: -1,
      http_status: 404,
      outcome: 4,
      result_count: 2,
      patient_ids: ['p1', 'p2'],
    },
  ],
};

describe('AUDIT_EXPANSION', () => {
  it('names one source for every per-patient row field, in the row’s field order', () => {
    expect(Object.keys(AUDIT_EXPANSION)).toEqual([...AUDIT_RECORD_FIELDS]);
  });

  it('expandRequestRecord is its interpretation: ids by ordinal, entry fields per entry, rules applied', () => {
    const rows = expandRequestRecord(request);
    expect(rows.map((r) => [r.event_id, r.patient_id, r.event_type, r.http_status, r.result_count])).toEqual([
      [request.event_id, 'p1', 'PatientView', 200, null],
      [perPatientEventId(request.event_id, 1), 'p1', 'PatientListView', 404, 2],
      [perPatientEventId(request.event_id, 2), 'p2', 'PatientListView', 404, 2],
    ]);
    for (const row of rows) {
      expect(row.duration_ms).toBe(12.346);
      expect(row.outcome).toBe(row.event_type === 'PatientView' ? 0 : 4);
      expect(Object.keys(row)).toEqual([...AUDIT_RECORD_FIELDS]);
      expect([row.hash, row.seq, row.user_name, row.routed_tenant_id]).toEqual([request.hash, 7, 'Zoë', 't-1r']);
    }
  });
});
