/** Hand-built audit records for the detection tests: every field valid, unique ids, one request per trace. */
import type { AuditEventType, AuditRecord, FhirInteraction } from '@fhirwatch/contract';
import { outcomeForStatus } from '@fhirwatch/contract';
import { uuidV7 } from './records.ts';

let counter = 0;

export interface RecordSpec {
  at: Date | string | number;
  tenant?: string;
  user?: string;
  client?: string;
  eventType?: AuditEventType;
  interaction?: FhirInteraction;
  resourceType?: string;
  patient?: string;
  query?: string;
  status?: number;
  traceId?: string;
  resultCount?: number;
}

export const TENANT = '0e3c5f3a-0009-4c8e-9a10-000000000009';

export function record(spec: RecordSpec): AuditRecord {
  counter += 1;
  const ms = new Date(spec.at).getTime();
  const status = spec.status ?? 200;
  const eventType = spec.eventType ?? 'PatientView';
  return {
    event_id: uuidV7(ms, counter),
    event_time: new Date(ms).toISOString(),
    recorded_by: 'gw-test',
    seq: counter,
    prev_hash: '',
    hash: 'b'.repeat(64),
    tenant_id: spec.tenant ?? TENANT,
    routed_tenant_id: spec.tenant ?? TENANT,
    client_id: spec.client ?? 'teams-patients-app',
    user_id: spec.user ?? '',
    user_name: spec.user ? `Dr ${spec.user}` : '',
    source_ip: '10.1.0.7',
    user_agent: 'Mozilla/5.0 Teams/24335 PatientsApp/2.1',
    event_type: eventType,
    fhir_interaction: spec.interaction ?? (eventType === 'PatientView' ? 'read' : 'search-type'),
    resource_type: spec.resourceType ?? 'Patient',
    fhir_version: 'STU3',
    query: spec.query ?? '',
    patient_id: spec.patient ?? '',
    batch_id: '',
    entry_index: -1,
    trace_id: spec.traceId ?? counter.toString(16).padStart(32, '0'),
    outcome: outcomeForStatus(status),
    http_status: status,
    duration_ms: 42,
    result_count: spec.resultCount ?? (spec.patient ? 1 : 0),
  };
}

/** A patient search request: one record per returned patient (one with no patient when none), one trace. */
export function search(
  at: Date | number,
  user: string,
  query: string,
  patients: string[],
  tenant?: string,
): AuditRecord[] {
  counter += 1;
  const traceId = `5e${counter.toString(16).padStart(30, '0')}`;
  const list = patients.length === 0 ? [''] : patients;
  return list.map((patient) =>
    record({ at, user, tenant, eventType: 'PatientSearch', query, patient, traceId, resultCount: patients.length }),
  );
}

export function view(at: Date | number, user: string, patient: string, tenant?: string): AuditRecord {
  return record({ at, user, tenant, eventType: 'PatientView', patient });
}
