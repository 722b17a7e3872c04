/** Deterministic AuditRecord and request-record generators for tests and benches (valid per the contract). */
import * as crypto from 'node:crypto';
import {
  AUDIT_EVENT_TYPES,
  type AuditRecord,
  type AuditRequestEntry,
  type AuditRequestRecord,
  auditRequestCanonical,
  type ChainState,
  chainHasher,
  signChain,
} from '@fhirwatch/contract';

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

export interface GenerateRequestsOptions {
  count: number;
  /** First event time (ms since epoch, default 2026-11-01T00:00:00Z). */
  start?: number;
  patients?: number;
  users?: number;
  /** Offset added to the request index (distinct ids across calls; seq = offset + index + 1). */
  offset?: number;
  recordedBy?: string;
  /** Patients per list-refresh batch (default 5: 5 × 7 entries + 5 PatientListView rows = 40 rows). */
  batchPatients?: number;
  /** Chain the requests with this key (contract signChain, from the chain start or `chainFrom`). */
  key?: string;
  chainFrom?: ChainState;
}

const LIST_ENTRIES: readonly [AuditRequestEntry['event_type'], string, string][] = [
  ['PatientView', 'read', 'Patient'],
  ['VitalSignsView', 'search-type', 'Observation'],
  ['ConditionsView', 'search-type', 'Condition'],
  ['EncountersView', 'search-type', 'Encounter'],
  ['AllergiesView', 'search-type', 'AllergyIntolerance'],
  ['MedicationsView', 'search-type', 'MedicationRequest'],
  ['CoverageView', 'search-type', 'Coverage'],
];

/**
 * Deterministic request records: 3 of 4 are list-refresh batches (per patient 7 entries, plus one
 * PatientListView entry with every patient), 1 of 4 a PatientSearch returning 3 patients. Returns the
 * requests and the end chain state.
 */
export function generateRequests(options: GenerateRequestsOptions): {
  requests: AuditRequestRecord[];
  rows: number;
  end: ChainState;
} {
  const start = options.start ?? Date.UTC(2026, 10, 1);
  const patients = options.patients ?? 1000;
  const users = options.users ?? 50;
  const offset = options.offset ?? 0;
  const batchPatients = options.batchPatients ?? 5;
  const requests: AuditRequestRecord[] = [];
  let rows = 0;
  for (let k = 0; k < options.count; k++) {
    const i = k + offset;
    const ms = start + i * 7;
    const version = i % 2 === 0 ? 'STU3' : 'DSTU2';
    const entries: AuditRequestEntry[] = [];
    const batch = i % 4 !== 3;
    if (batch) {
      const ids = Array.from({ length: batchPatients }, (_, p) => `p${(i * batchPatients + p) % patients}`);
      ids.forEach((id, p) => {
        LIST_ENTRIES.forEach(([type, interaction, resource], e) => {
          entries.push({
            event_type: type,
            fhir_interaction: interaction as AuditRequestEntry['fhir_interaction'],
            resource_type: version === 'DSTU2' && resource === 'MedicationRequest' ? 'MedicationOrder' : resource,
            query: interaction === 'read' ? '' : `patient=${id}&_count=50`,
            entry_index: p * LIST_ENTRIES.length + e,
            http_status: 200,
            outcome: 0,
            result_count: (i + e) % 5,
            patient_ids: [id],
          });
        });
      });
      entries.push({
        event_type: 'PatientListView',
        fhir_interaction: 'batch',
        resource_type: 'Bundle',
        query: '',
        entry_index: -1,
        http_status: 200,
        outcome: 0,
        result_count: ids.length,
        patient_ids: ids,
      });
    } else {
      entries.push({
        event_type: 'PatientSearch',
        fhir_interaction: 'search-type',
        resource_type: 'Patient',
        query: `family:contains=smi${i % 10}`,
        entry_index: -1,
        http_status: 200,
        outcome: 0,
        result_count: i % 7 === 0 ? null : 3,
        patient_ids: [`p${i % patients}`, `p${(i + 1) % patients}`, `p${(i + 2) % patients}`],
      });
    }
    for (const e of entries) rows += e.patient_ids.length;
    requests.push({
      v: 2,
      event_id: uuidV7(ms, i),
      event_time: new Date(ms).toISOString(),
      recorded_by: options.recordedBy ?? 'gw-1',
      seq: i + 1,
      prev_hash: i === 0 ? '' : 'a'.repeat(64),
      hash: 'b'.repeat(64),
      tenant_id: `00000000-0000-4000-8000-00000000000${i % 3}`,
      tenant_claimed: false,
      routed_tenant_id: `00000000-0000-4000-8000-00000000000${i % 3}`,
      client_id: `client-${i % 4}`,
      user_id: `user-${i % users}`,
      user_name: `User ${i % users}`,
      source_ip: `10.0.${i % 256}.${(i >> 8) % 256}`,
      user_agent: 'PatientsApp/1.0',
      fhir_version: version,
      batch_id: batch ? uuidV7(ms, i + 1_000_000_000) : '',
      trace_id: (i + 1).toString(16).padStart(32, '0'),
      http_status: 200,
      duration_ms: 10 + (i % 100) / 8,
      entries,
    });
  }
  let end: ChainState = options.chainFrom ?? { seq: offset, hash: '' };
  if (options.key !== undefined) {
    end = signChain(chainHasher(crypto, options.key), requests, auditRequestCanonical, options.chainFrom);
  }
  return { requests, rows, end };
}
