/**
 * From one classified access to its audit records: one per (access, patient), audit-events.md
 * ("One record per disclosed patient", IHE BALP). A batch yields the records of each entry, each
 * classified as if sent alone, plus one PatientListView record per patient the batch touched.
 */
import {
  ALL_PATIENTS,
  type Classification,
  type ClassifiedInteraction,
  type Disclosure,
  disclosedPatients,
  disclosedPatientsInBatch,
  type FhirVersion,
  listViewPatients,
  outcomeForStatus,
} from '@fhirwatch/contract';
import type { UnchainedRecord } from './spool.ts';
import type { DisclosureMode } from './types.ts';
import { uuidv7 } from './uuidv7.ts';

/** What the middleware knows about the access besides the classification. */
export interface AccessFacts {
  eventTimeMs: number;
  tenantId: string;
  routedTenantId: string;
  clientId: string;
  userId: string;
  userName: string;
  sourceIp: string;
  userAgent: string;
  fhirVersion: FhirVersion;
  traceId: string;
  httpStatus: number;
  durationMs: number;
}

/** `result_count` when the body was not captured whole (over the cap): disclosure unknown. */
export const RESULT_COUNT_UNKNOWN = -1;

function base(facts: AccessFacts, eventTime: string, eventTimeMs: number): UnchainedRecord {
  return {
    event_id: uuidv7(eventTimeMs),
    event_time: eventTime,
    recorded_by: '',
    tenant_id: facts.tenantId,
    routed_tenant_id: facts.routedTenantId,
    client_id: facts.clientId,
    user_id: facts.userId,
    user_name: facts.userName,
    source_ip: facts.sourceIp,
    user_agent: facts.userAgent,
    event_type: 'PatientSearch',
    fhir_interaction: 'unknown',
    resource_type: '',
    fhir_version: facts.fhirVersion,
    query: '',
    patient_id: '',
    batch_id: '',
    entry_index: -1,
    trace_id: facts.traceId,
    outcome: 0,
    http_status: facts.httpStatus,
    duration_ms: facts.durationMs,
    result_count: 0,
  };
}

function patientsOf(it: ClassifiedInteraction, disclosure: Disclosure | undefined): string[] {
  const ids = disclosure?.patientIds ?? it.patientRefs;
  const unique = ids.length <= 1 ? ids : [...new Set(ids)];
  if (unique.length > 0) return unique;
  if (it.isExport && it.groupId === undefined) return [ALL_PATIENTS];
  return [''];
}

/**
 * Whether an interaction's records need the patients its response returned (`spec` mode): a
 * PatientSearch (its patients are what it returned) and a LocationView (the patients of the
 * Encounters of the same batch). Everything else concerns the patient the request names.
 */
export function needsReturnedPatients(it: ClassifiedInteraction): boolean {
  return it.eventType === 'PatientSearch' || it.eventType === 'LocationView';
}

/** `spec` mode: keep the result count, but only the patients the request named (audit-events.md 4–10). */
function specDisclosure(it: ClassifiedInteraction, d: Disclosure | undefined): Disclosure | undefined {
  if (d === undefined || needsReturnedPatients(it)) return d;
  const patientIds: string[] = [];
  for (const id of it.patientRefs) if (id !== '' && !patientIds.includes(id)) patientIds.push(id);
  const out: Disclosure = { patientIds, resultCount: d.resultCount, returnedPatientIds: [] };
  if (d.total !== undefined) out.total = d.total;
  return out;
}

function safeDisclosure(fn: () => Disclosure): Disclosure | undefined {
  try {
    return fn();
  } catch {
    return undefined; // the classifier never throws by contract; if it does, fall back to the named patients
  }
}

function pushInteraction(
  out: UnchainedRecord[],
  it: ClassifiedInteraction,
  disclosure: Disclosure | undefined,
  status: number,
  facts: AccessFacts,
  eventTime: string,
  batchId: string,
  truncated: boolean,
  body: unknown,
): void {
  if (it.eventType === undefined) return;
  const patients = patientsOf(it, disclosure);
  const outcome = outcomeForStatus(status);
  let resultCount = truncated ? RESULT_COUNT_UNKNOWN : (disclosure?.resultCount ?? 0);
  // A read whose body was not parsed (the middleware skips it: the resource is the one named).
  if (it.interaction === 'read' && body === undefined && !truncated)
    resultCount = status >= 200 && status < 300 ? 1 : 0;
  for (const patient of patients) {
    const r = base(facts, eventTime, facts.eventTimeMs);
    r.event_type = it.eventType;
    r.fhir_interaction = it.interaction;
    r.resource_type = it.resourceType;
    r.query = it.groupId === undefined ? it.query : groupQuery(it.groupId, it.query);
    r.patient_id = patient;
    r.batch_id = batchId;
    r.entry_index = it.entryIndex;
    r.outcome = outcome;
    r.http_status = status;
    r.result_count = resultCount;
    out.push(r);
  }
}

/**
 * `query` of a `Group/{id}/$export` kick-off: `_group=<id>` (URL-encoded) before the parameters as
 * sent. The group id is in the path, not the query, and the kick-off discloses no patient yet (its
 * members are not known here), so `patient_id` stays `''`: without this a compliance officer's exports
 * report would show an export of nothing in particular. `_group` is a fhirwatch marker, not a FHIR
 * search parameter (resource_type is `Group`).
 */
export function groupQuery(groupId: string, query: string): string {
  const marker = `_group=${encodeURIComponent(groupId)}`;
  return query === '' ? marker : `${marker}&${query}`;
}

/** Status of each batch-response entry (`"200 OK"` → 200); the batch's own status when absent. */
function entryStatuses(body: unknown, count: number, fallback: number): number[] {
  const statuses = new Array<number>(count).fill(fallback);
  if (fallback < 200 || fallback >= 300) return statuses;
  const entries = (body as { entry?: unknown } | undefined)?.entry;
  if (!Array.isArray(entries)) return statuses;
  for (let i = 0; i < count && i < entries.length; i++) {
    const s = (entries[i] as { response?: { status?: unknown } } | undefined)?.response?.status;
    const n = typeof s === 'string' ? Number.parseInt(s, 10) : typeof s === 'number' ? s : Number.NaN;
    if (Number.isFinite(n)) statuses[i] = n;
  }
  return statuses;
}

/**
 * Audit records of one access. `body` is the parsed response body (undefined when it was not
 * captured whole or is not JSON); `truncated` marks a body over the capture cap.
 */
export function buildAuditRecords(
  classification: Classification,
  body: unknown,
  truncated: boolean,
  facts: AccessFacts,
  mode: DisclosureMode = 'returned',
): UnchainedRecord[] {
  const out: UnchainedRecord[] = [];
  const spec = mode === 'spec';
  if (classification.kind !== 'clinical') return out;
  const eventTime = new Date(facts.eventTimeMs).toISOString();
  if (!classification.batch) {
    const it = classification.interactions[0];
    if (it === undefined) return out;
    let disclosure = safeDisclosure(() => disclosedPatients(it, body));
    if (spec) disclosure = specDisclosure(it, disclosure);
    pushInteraction(out, it, disclosure, facts.httpStatus, facts, eventTime, '', truncated, body);
    return out;
  }
  const batchId = uuidv7(facts.eventTimeMs);
  const interactions = classification.interactions;
  let disclosures = safeDisclosureList(classification, body);
  if (spec && disclosures !== undefined) {
    disclosures = disclosures.map((d, i) => {
      const it = interactions[i];
      return it === undefined ? d : (specDisclosure(it, d) as Disclosure);
    });
  }
  const statuses = entryStatuses(body, interactions.length, facts.httpStatus);
  for (let i = 0; i < interactions.length; i++) {
    const it = interactions[i] as ClassifiedInteraction;
    pushInteraction(
      out,
      it,
      disclosures?.[i],
      statuses[i] ?? facts.httpStatus,
      facts,
      eventTime,
      batchId,
      truncated,
      body,
    );
  }
  // PatientListView: one per patient the batch touched (one with no patient when it touched none).
  const outcome = outcomeForStatus(facts.httpStatus);
  let touched: string[] = [];
  try {
    touched = listViewPatients(classification, disclosures ?? []);
  } catch {
    touched = [];
  }
  const list = touched.length === 0 ? [''] : touched;
  for (const patient of list) {
    const r = base(facts, eventTime, facts.eventTimeMs);
    r.event_type = 'PatientListView';
    r.fhir_interaction = 'batch';
    r.resource_type = 'Bundle';
    r.patient_id = patient;
    r.batch_id = batchId;
    r.entry_index = -1;
    r.outcome = outcome;
    r.result_count = touched.length;
    out.push(r);
  }
  return out;
}

function safeDisclosureList(classification: Classification, body: unknown): Disclosure[] | undefined {
  try {
    return disclosedPatientsInBatch(classification, body);
  } catch {
    return undefined;
  }
}
