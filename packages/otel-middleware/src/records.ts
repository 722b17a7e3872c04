/**
 * From one classified access to its audit REQUEST record (@fhirwatch/contract audit-request.ts): one
 * record per HTTP request, its accesses as entries, each with the patients it discloses; the sink
 * expands it into one row per (access, patient), audit-events.md ("One record per disclosed patient",
 * IHE BALP). A batch's entries are each classified as if sent alone, plus one PatientListView entry
 * for the patients the batch touched.
 */
import {
  ALL_PATIENTS,
  type AuditRecord,
  type AuditRequestEntry,
  type Classification,
  type ClassifiedInteraction,
  type Disclosure,
  disclosedPatients,
  disclosedPatientsInBatch,
  expandRequestRecord,
  type FhirVersion,
  listViewPatients,
  outcomeForStatus,
  type UnchainedAuditRequest,
} from '@fhirwatch/contract';
import type { DisclosureMode } from './types.ts';
import { uuidv7 } from './uuidv7.ts';

/** What the middleware knows about the access besides the classification. */
export interface AccessFacts {
  eventTimeMs: number;
  tenantId: string;
  /** tenantId is only claimed by the request path (no verified token). */
  tenantClaimed?: boolean;
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

/** `result_count` when the body was not captured whole (over the cap): unknown. */
export const RESULT_COUNT_UNKNOWN = null;

function requestOf(facts: AccessFacts, batchId: string, entries: AuditRequestEntry[]): UnchainedAuditRequest {
  return {
    v: 2,
    event_id: uuidv7(facts.eventTimeMs),
    event_time: new Date(facts.eventTimeMs).toISOString(),
    recorded_by: '',
    seq: 0,
    prev_hash: '',
    hash: '',
    tenant_id: facts.tenantId,
    tenant_claimed: facts.tenantClaimed === true,
    routed_tenant_id: facts.routedTenantId,
    client_id: facts.clientId,
    user_id: facts.userId,
    user_name: facts.userName,
    source_ip: facts.sourceIp,
    user_agent: facts.userAgent,
    fhir_version: facts.fhirVersion,
    batch_id: batchId,
    trace_id: facts.traceId,
    http_status: facts.httpStatus,
    duration_ms: facts.durationMs,
    entries,
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

function entryOf(
  it: ClassifiedInteraction,
  disclosure: Disclosure | undefined,
  status: number,
  truncated: boolean,
  body: unknown,
): AuditRequestEntry | undefined {
  if (it.eventType === undefined) return undefined;
  let resultCount: number | null = truncated ? RESULT_COUNT_UNKNOWN : (disclosure?.resultCount ?? 0);
  // A read whose body was not parsed (the middleware skips it: the resource is the one named).
  if (it.interaction === 'read' && body === undefined && !truncated)
    resultCount = status >= 200 && status < 300 ? 1 : 0;
  return {
    event_type: it.eventType,
    fhir_interaction: it.interaction,
    resource_type: it.resourceType,
    query: it.groupId === undefined ? it.query : groupQuery(it.groupId, it.query),
    entry_index: it.entryIndex,
    http_status: status,
    outcome: outcomeForStatus(status),
    result_count: resultCount,
    patient_ids: patientsOf(it, disclosure),
  };
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
 * The audit request record of one access (undefined when it is not a clinical read). `body` is the
 * parsed response body (undefined when it was not captured whole or is not JSON); `truncated` marks a
 * body over the capture cap (result_count unknown = null).
 */
export function buildAuditRequest(
  classification: Classification,
  body: unknown,
  truncated: boolean,
  facts: AccessFacts,
  mode: DisclosureMode = 'returned',
): UnchainedAuditRequest | undefined {
  const spec = mode === 'spec';
  if (classification.kind !== 'clinical') return undefined;
  if (!classification.batch) {
    const it = classification.interactions[0];
    if (it === undefined) return undefined;
    let disclosure = safeDisclosure(() => disclosedPatients(it, body));
    if (spec) disclosure = specDisclosure(it, disclosure);
    const entry = entryOf(it, disclosure, facts.httpStatus, truncated, body);
    return entry === undefined ? undefined : requestOf(facts, '', [entry]);
  }
  const interactions = classification.interactions;
  let disclosures = safeDisclosureList(classification, body);
  if (spec && disclosures !== undefined) {
    disclosures = disclosures.map((d, i) => {
      const it = interactions[i];
      return it === undefined ? d : (specDisclosure(it, d) as Disclosure);
    });
  }
  const statuses = entryStatuses(body, interactions.length, facts.httpStatus);
  const entries: AuditRequestEntry[] = [];
  for (let i = 0; i < interactions.length; i++) {
    const it = interactions[i] as ClassifiedInteraction;
    const entry = entryOf(it, disclosures?.[i], statuses[i] ?? facts.httpStatus, truncated, body);
    if (entry !== undefined) entries.push(entry);
  }
  // PatientListView: one row per patient the batch touched (one with no patient when it touched none).
  let touched: string[] = [];
  try {
    touched = listViewPatients(classification, disclosures ?? []);
  } catch {
    touched = [];
  }
  entries.push(listViewEntry(facts.httpStatus, touched));
  return requestOf(facts, uuidv7(facts.eventTimeMs), entries);
}

function listViewEntry(status: number, touched: string[]): AuditRequestEntry {
  return {
    event_type: 'PatientListView',
    fhir_interaction: 'batch',
    resource_type: 'Bundle',
    query: '',
    entry_index: -1,
    http_status: status,
    outcome: outcomeForStatus(status),
    result_count: touched.length,
    patient_ids: touched.length === 0 ? [''] : touched,
  };
}

/**
 * A batch the middleware could not read (unreadable or over-cap body, not a batch Bundle) that failed:
 * still an access attempt to account for (audit-events.md: "A request that fails still yields a
 * record"): one PatientListView with no patient and the failure's outcome.
 */
export function failedBatchRequest(facts: AccessFacts): UnchainedAuditRequest {
  return requestOf(facts, uuidv7(facts.eventTimeMs), [listViewEntry(facts.httpStatus, [])]);
}

/** The per-patient rows of one access (the request record expanded; chain fields empty). */
export function buildAuditRecords(
  classification: Classification,
  body: unknown,
  truncated: boolean,
  facts: AccessFacts,
  mode: DisclosureMode = 'returned',
): AuditRecord[] {
  const request = buildAuditRequest(classification, body, truncated, facts, mode);
  return request === undefined ? [] : expandRequestRecord(request as Parameters<typeof expandRequestRecord>[0]);
}

function safeDisclosureList(classification: Classification, body: unknown): Disclosure[] | undefined {
  try {
    return disclosedPatientsInBatch(classification, body);
  } catch {
    return undefined;
  }
}
