/** Deterministic AuditRecord generator for tests and benches (valid per the contract; HMAC chain not computed). */
import { AUDIT_EVENT_TYPES, type AuditRecord } from '@fhirwatch/contract';

/** A UUIDv7-shaped id from a millisecond time and a counter (deterministic, unique per (ms, n)). */
export function uuidV7(ms: number, n: number): string {
  const time = ms.toString(16).padStart(12, '0');
  const counter = (n % 0x1000).toString(16).padStart(3, '0');
  const random = Math.floor(n / 0x1000)
    .toString(16)
    .padStart(15, '0')
    .slice(-15);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${counter}-8${random.slice(0, 3)}-${random.slice(3)}`;
}

export interface GenerateOptions {
  count: number;
  /** First event time (ms since epoch, default 2026-11-01T00:00:00Z). */
  start?: number;
  tenants?: number;
  patients?: number;
  users?: number;
  /** Offset added to the record index (makes event_ids of another batch distinct). */
  offset?: number;
}

export function generateRecords(options: GenerateOptions): AuditRecord[] {
  const start = options.start ?? Date.UTC(2026, 10, 1);
  const tenants = options.tenants ?? 3;
  const patients = options.patients ?? 1000;
  const users = options.users ?? 50;
  const offset = options.offset ?? 0;
  const records: AuditRecord[] = [];
  for (let k = 0; k < options.count; k++) {
    const i = k + offset;
    const ms = start + i * 7;
    const eventType = AUDIT_EVENT_TYPES[i % AUDIT_EVENT_TYPES.length]!;
    records.push({
      event_id: uuidV7(ms, i),
      event_time: new Date(ms).toISOString(),
      recorded_by: 'gw-1',
      seq: i + 1,
      prev_hash: i === 0 ? '' : 'a'.repeat(64),
      hash: 'b'.repeat(64),
      tenant_id: `00000000-0000-4000-8000-00000000000${i % tenants}`,
      routed_tenant_id: `00000000-0000-4000-8000-00000000000${i % tenants}`,
      client_id: `client-${i % 4}`,
      user_id: `user-${i % users}`,
      user_name: `User ${i % users}`,
      source_ip: `10.0.${i % 256}.${(i >> 8) % 256}`,
      user_agent: 'PatientsApp/1.0',
      event_type: eventType,
      fhir_interaction: eventType === 'PatientView' ? 'read' : 'search-type',
      resource_type: eventType === 'PatientView' || eventType === 'PatientSearch' ? 'Patient' : 'Observation',
      fhir_version: i % 2 === 0 ? 'STU3' : 'DSTU2',
      query: eventType === 'PatientSearch' ? `name=smith${i % 10}` : `patient=p${i % patients}`,
      patient_id: `p${i % patients}`,
      batch_id: '',
      entry_index: -1,
      trace_id: (i + 1).toString(16).padStart(32, '0'),
      outcome: 0,
      http_status: 200,
      duration_ms: (i % 1000) / 7,
      result_count: 1,
    });
  }
  return records;
}
