/**
 * The audit classifier: HTTP request → the clinician-read audit events of
 * ../../../../shared/spec/audit-events.md, and response → the patients actually disclosed.
 *
 * Runs on every request of the gateway, so: one pass over the path, lookups in precomputed Maps,
 * no regular expressions, no recursion over untrusted JSON, and every entry point wrapped so that
 * it never throws (hostile getters and proxies included).
 */
import { ALL_PATIENTS, type AuditEventType } from './audit-record.ts';
import type {
  Classification,
  ClassifiedInteraction,
  ClassifierRequest,
  Disclosure,
  TrafficKind,
} from './classifier-types.ts';
import { own, ownArray, ownString, pathDecode, patientOfReference, referenceId } from './references.ts';
import { PATIENTS_APP_RESOURCES } from './resources.ts';
import { formatSearchParams, isCanonicalQuery, parseSearchParams, type SearchParam } from './search-params.ts';
import { type FhirVersion, isFhirVersion } from './versions.ts';

/** Header by which a caller marks any request as an export (ExportInitiation). */
export const EXPORT_HEADER = 'x-fhirwatch-export';

/** Search event per resource type (reads use the same event, except Patient → PatientView). */
const SEARCH_EVENT: ReadonlyMap<string, AuditEventType> = new Map<string, AuditEventType>([
  ['Patient', 'PatientSearch'],
  ['Observation', 'VitalSignsView'],
  ['Condition', 'ConditionsView'],
  ['Encounter', 'EncountersView'],
  ['Location', 'LocationView'],
  ['AllergyIntolerance', 'AllergiesView'],
  ['MedicationOrder', 'MedicationsView'],
  ['MedicationRequest', 'MedicationsView'],
  ['MedicationStatement', 'MedicationsView'],
  ['Coverage', 'CoverageView'],
]);

/** Contract resource types per version (for `fhirVersion`-aware classification). */
const VERSION_TYPES: ReadonlyMap<FhirVersion, ReadonlySet<string>> = new Map(
  (Object.keys(PATIENTS_APP_RESOURCES) as FhirVersion[]).map((v) => [v, new Set(PATIENTS_APP_RESOURCES[v])]),
);

/** Search parameters whose value names the patient a search is about. */
const PATIENT_PARAMS: ReadonlySet<string> = new Set(['patient', 'subject', 'beneficiary', 'subscriber']);

/** Well-known documents with a fixed route; anything else under /.well-known is `/.well-known/{name}`. */
const WELL_KNOWN: ReadonlySet<string> = new Set(['smart-configuration', 'openid-configuration', 'jwks.json']);

const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const REASON = {
  invalidPath: 'path is empty or not a string',
  method: 'method is not a FHIR read',
  notContract: 'resource type is not in the Patients-app contract',
  notVersion: 'resource type is not in the contract of the declared FHIR version',
  write: 'write interaction (not a clinician read)',
  base: 'request on the base URL that is not a batch Bundle',
  batchBody: 'batch body is not a JSON Bundle',
  notBatch: 'Bundle.type is not batch',
  nestedBatch: 'batch Bundle inside a batch entry',
  entry: 'batch entry without request.method and request.url',
  noRead: 'batch Bundle without any clinical read entry',
  shape: 'path shape is not in the Patients-app contract',
  operation: 'operation is not in the Patients-app contract',
  error: 'classifier could not read the request',
} as const;

const textDecoder = new TextDecoder('utf-8', { fatal: false });

interface ParsedTarget {
  segments: string[];
  query: string;
}

function splitTarget(path: string, absoluteInBatch: boolean): ParsedTarget {
  let p = path;
  const hash = p.indexOf('#');
  if (hash !== -1) p = p.slice(0, hash);
  const q = p.indexOf('?');
  const query = q === -1 ? '' : p.slice(q + 1);
  let pathname = q === -1 ? p : p.slice(0, q);
  let absolute = false;
  if (pathname.startsWith('http://') || pathname.startsWith('https://')) {
    const slash = pathname.indexOf('/', pathname.indexOf('//') + 2);
    pathname = slash === -1 ? '' : pathname.slice(slash);
    absolute = true;
  }
  const segments: string[] = [];
  for (const raw of pathname.split('/')) if (raw !== '') segments.push(pathDecode(raw));
  if (absolute && absoluteInBatch) {
    // Absolute entry URL: the FHIR base may carry a path (`https://host/fhir/Patient/1`).
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      if (SEARCH_EVENT.has(s) || s === 'Group' || s === '$export' || s === 'metadata') {
        segments.splice(0, i);
        break;
      }
    }
  }
  return { segments, query };
}

function bodyText(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return textDecoder.decode(body);
  if (body instanceof ArrayBuffer) return textDecoder.decode(new Uint8Array(body));
  return undefined;
}

function parseJsonBody(body: unknown): unknown {
  const text = bodyText(body);
  if (text === undefined) return body;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  let v = own(headers, name);
  if (v === undefined) {
    // Callers other than node:http may keep the original case.
    for (const key of Object.keys(headers)) {
      if (key.length === name.length && key.toLowerCase() === name) {
        v = (headers as Record<string, unknown>)[key];
        break;
      }
    }
  }
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

function isExportHeader(headers: unknown): boolean {
  const v = headerValue(headers, EXPORT_HEADER);
  return v !== undefined && v.trim().toLowerCase() === 'true';
}

function newInteraction(
  method: string,
  route: string,
  resourceType: string,
  entryIndex: number,
  interaction: ClassifiedInteraction['interaction'],
  eventType: AuditEventType | undefined,
): ClassifiedInteraction {
  return {
    eventType,
    interaction,
    resourceType,
    route,
    method,
    query: '',
    patientRefs: [],
    locationRefs: [],
    entryIndex,
    isExport: false,
  };
}

interface Single {
  kind: TrafficKind;
  reason: string;
  interaction: ClassifiedInteraction;
}

function unknownSingle(
  method: string,
  route: string,
  resourceType: string,
  entryIndex: number,
  reason: string,
): Single {
  return {
    kind: 'unknown',
    reason,
    interaction: newInteraction(method, route, resourceType, entryIndex, 'unknown', undefined),
  };
}

/** Route of a path that is not in the contract: keeps a contract type name, never an id or unknown name. */
function unknownRoute(segments: readonly string[]): string {
  const first = segments[0];
  if (first === undefined) return '/';
  if (!SEARCH_EVENT.has(first)) return '/{unknown}';
  if (segments.length === 1) return '/' + first;
  if (segments.length === 2) return '/' + first + '/{id}';
  return '/' + first + '/{id}/{rest}';
}

function typeAllowed(type: string, version: FhirVersion | undefined): boolean {
  if (version === undefined) return true;
  const set = VERSION_TYPES.get(version);
  return set === undefined || set.has(type);
}

/** Patient ids named by search parameters (`patient=1,2`, `subject=Patient/1`, Patient `_id`). */
function patientRefsOf(resourceType: string, params: readonly SearchParam[], out: string[]): void {
  const isPatient = resourceType === 'Patient';
  for (const p of params) {
    let byId = false;
    if (PATIENT_PARAMS.has(p.name)) byId = p.modifier === '' || p.modifier === 'Patient';
    else if (isPatient && (p.name === '_id' || p.name === 'id')) byId = p.modifier === '';
    if (!byId) continue;
    for (const v of p.value.split(',')) {
      const id = referenceId(v.trim(), 'Patient', true);
      if (id !== undefined && !out.includes(id)) out.push(id);
    }
  }
}

function locationRefsOf(params: readonly SearchParam[], out: string[]): void {
  for (const p of params) {
    if ((p.name !== '_id' && p.name !== 'id') || p.modifier !== '') continue;
    for (const v of p.value.split(',')) {
      const id = v.trim();
      if (id !== '' && !out.includes(id)) out.push(id);
    }
  }
}

function searchOrRead(
  method: string,
  segments: readonly string[],
  params: SearchParam[],
  version: FhirVersion | undefined,
  entryIndex: number,
): Single {
  const type = segments[0]!;
  const event = SEARCH_EVENT.get(type);
  if (event === undefined) return unknownSingle(method, unknownRoute(segments), '', entryIndex, REASON.notContract);
  if (!typeAllowed(type, version))
    return unknownSingle(method, unknownRoute(segments), type, entryIndex, REASON.notVersion);
  const second = segments[1];
  const isRead = method === 'GET' || method === 'HEAD';

  // Search: GET /{type}?… or POST /{type}/_search (form body, already merged into params).
  if ((segments.length === 1 && isRead) || (segments.length === 2 && second === '_search' && method === 'POST')) {
    const i = newInteraction(
      method,
      segments.length === 1 ? '/' + type : '/' + type + '/_search',
      type,
      entryIndex,
      'search-type',
      event,
    );
    patientRefsOf(type, params, i.patientRefs);
    if (type === 'Location') locationRefsOf(params, i.locationRefs);
    return { kind: 'clinical', reason: '', interaction: i };
  }

  // Read / vread: GET /{type}/{id}[/_history/{vid}].
  if (isRead && second !== undefined && !second.startsWith('_') && !second.startsWith('$')) {
    let route: string | undefined;
    if (segments.length === 2) route = '/' + type + '/{id}';
    else if (segments.length === 4 && segments[2] === '_history') route = '/' + type + '/{id}/_history/{vid}';
    if (route !== undefined) {
      const i = newInteraction(method, route, type, entryIndex, 'read', type === 'Patient' ? 'PatientView' : event);
      if (type === 'Patient') i.patientRefs.push(second);
      else if (type === 'Location') i.locationRefs.push(second);
      return { kind: 'clinical', reason: '', interaction: i };
    }
  }

  if (WRITE_METHODS.has(method)) return unknownSingle(method, unknownRoute(segments), type, entryIndex, REASON.write);
  if (!isRead) return unknownSingle(method, unknownRoute(segments), type, entryIndex, REASON.method);
  return unknownSingle(method, unknownRoute(segments), type, entryIndex, REASON.shape);
}

function exportKickOff(method: string, segments: readonly string[], entryIndex: number): Single | undefined {
  const n = segments.length;
  if (segments[n - 1] !== '$export') return undefined;
  if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') {
    return unknownSingle(method, '/{unknown}', '', entryIndex, REASON.method);
  }
  let i: ClassifiedInteraction;
  if (n === 1) {
    i = newInteraction(method, '/$export', '', entryIndex, 'operation', 'ExportInitiation');
    i.patientRefs.push(ALL_PATIENTS);
  } else if (n === 2 && segments[0] === 'Patient') {
    i = newInteraction(method, '/Patient/$export', 'Patient', entryIndex, 'operation', 'ExportInitiation');
    i.patientRefs.push(ALL_PATIENTS);
  } else if (n === 3 && segments[0] === 'Group') {
    i = newInteraction(method, '/Group/{id}/$export', 'Group', entryIndex, 'operation', 'ExportInitiation');
    i.groupId = segments[1]!;
  } else {
    return unknownSingle(method, unknownRoute(segments), '', entryIndex, REASON.operation);
  }
  i.isExport = true;
  return { kind: 'clinical', reason: '', interaction: i };
}

function notAudited(method: string, segments: readonly string[], entryIndex: number): Single | undefined {
  const first = segments[0];
  let route: string | undefined;
  if (segments.length === 1 && first === 'metadata') route = '/metadata';
  else if (segments.length === 1 && first === 'token') route = '/token';
  else if (first === '.well-known') {
    const name = segments[1];
    route =
      segments.length === 2 && name !== undefined && WELL_KNOWN.has(name)
        ? '/.well-known/' + name
        : '/.well-known/{name}';
  }
  if (route === undefined) return undefined;
  return {
    kind: 'not-audited',
    reason: '',
    interaction: newInteraction(method, route, '', entryIndex, 'unknown', undefined),
  };
}

/** Classify one request or one batch entry (no batch handling here). */
function classifySingle(
  method: string,
  target: ParsedTarget,
  extraQuery: ClassifierRequest['query'],
  body: unknown,
  version: FhirVersion | undefined,
  entryIndex: number,
  exportMarked: boolean,
): Single {
  const { segments } = target;
  const quiet = notAudited(method, segments, entryIndex);
  if (quiet !== undefined) return quiet;

  if (segments.length === 0) {
    return unknownSingle(
      method,
      '/',
      '',
      entryIndex,
      entryIndex >= 0 && method === 'POST' ? REASON.nestedBatch : REASON.base,
    );
  }

  const params = parseSearchParams(target.query);
  // The query as sent is already canonical most of the time: then it is reused, not re-encoded.
  let query: string | undefined = isCanonicalQuery(target.query) ? target.query : undefined;
  if (extraQuery !== undefined && extraQuery !== target.query) {
    for (const p of parseSearchParams(extraQuery)) params.push(p);
    query = undefined;
  }
  if (method === 'POST' && segments.length === 2 && segments[1] === '_search') {
    const text = bodyText(body);
    const form = text !== undefined ? parseSearchParams(text) : parseSearchParams(body as Record<string, string>);
    for (const p of form) params.push(p);
    query = undefined;
  }

  const single =
    exportKickOff(method, segments, entryIndex) ?? searchOrRead(method, segments, params, version, entryIndex);
  if (single.kind === 'clinical') single.interaction.query = query ?? formatSearchParams(params);
  if (exportMarked && single.kind === 'clinical') {
    single.interaction.eventType = 'ExportInitiation';
    single.interaction.isExport = true;
  }
  return single;
}

function classifyBatch(
  method: string,
  body: unknown,
  version: FhirVersion | undefined,
  exportMarked: boolean,
): Classification {
  const bundle = parseJsonBody(body);
  if (ownString(bundle, 'resourceType') !== 'Bundle') {
    return unknownWhole(method, '/', '', REASON.batchBody);
  }
  if (ownString(bundle, 'type') !== 'batch') return unknownWhole(method, '/', 'Bundle', REASON.notBatch);
  const entries = ownArray(bundle, 'entry');
  const interactions: ClassifiedInteraction[] = new Array(entries.length);
  let clinical = false;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index];
    const request = own(entry, 'request');
    const entryMethod = ownString(request, 'method');
    const url = ownString(request, 'url');
    let single: Single;
    if (entryMethod === undefined || url === undefined) {
      single = unknownSingle(entryMethod?.toUpperCase() ?? '', '/{unknown}', '', index, REASON.entry);
    } else {
      single = classifySingle(
        entryMethod.toUpperCase(),
        splitTarget(url, true),
        undefined,
        own(entry, 'resource'),
        version,
        index,
        exportMarked,
      );
    }
    if (single.kind === 'clinical') clinical = true;
    interactions[index] = single.interaction;
  }
  return {
    kind: clinical ? 'clinical' : 'unknown',
    batch: true,
    interactions,
    reason: clinical ? '' : REASON.noRead,
    route: '/',
  };
}

function unknownWhole(method: string, route: string, resourceType: string, reason: string): Classification {
  return {
    kind: 'unknown',
    batch: false,
    interactions: [newInteraction(method, route, resourceType, -1, 'unknown', undefined)],
    reason,
    route,
  };
}

/**
 * Classify an HTTP request against the Patients-app contract and the 11 audit events. A batch Bundle
 * yields one interaction per entry (each classified as if sent alone); any other request yields one
 * interaction. Never throws: anything unreadable is `unknown` with a PHI-free `reason`.
 */
export function classifyRequest(req: ClassifierRequest): Classification {
  let method = '';
  try {
    if (req === null || typeof req !== 'object') return unknownWhole(method, '/{unknown}', '', REASON.invalidPath);
    const rawMethod: unknown = req.method;
    method = typeof rawMethod === 'string' ? rawMethod.toUpperCase() : '';
    const path: unknown = req.path;
    if (typeof path !== 'string') return unknownWhole(method, '/{unknown}', '', REASON.invalidPath);
    const rawVersion: unknown = req.fhirVersion;
    const version: FhirVersion | undefined = isFhirVersion(rawVersion) ? rawVersion : undefined;
    const exportMarked = isExportHeader(req.headers);
    const target = splitTarget(path, false);
    const body: unknown = req.body;

    if (target.segments.length === 0 && method === 'POST') return classifyBatch(method, body, version, exportMarked);

    const rawQuery: unknown = req.query;
    const extraQuery =
      typeof rawQuery === 'string' || (rawQuery !== null && typeof rawQuery === 'object')
        ? (rawQuery as ClassifierRequest['query'])
        : undefined;
    const single = classifySingle(method, target, extraQuery, body, version, -1, exportMarked);
    return {
      kind: single.kind,
      batch: false,
      interactions: [single.interaction],
      reason: single.reason,
      route: single.interaction.route,
    };
  } catch {
    return unknownWhole(method, '/{unknown}', '', REASON.error);
  }
}

// ---------------------------------------------------------------------------------------------
// Disclosure: which patients a response actually returned.

/** Fields that carry the patient a clinical resource is about, in the order they are tried. */
const PATIENT_FIELDS = ['patient', 'subject', 'beneficiary', 'subscriber'] as const;

/** Patient a resource discloses: its own id for a Patient, else its patient/subject/beneficiary reference. */
export function patientOfResource(resource: unknown): string | undefined {
  const type = ownString(resource, 'resourceType');
  if (type === undefined || type === 'OperationOutcome') return undefined;
  if (type === 'Patient') {
    const id = ownString(resource, 'id');
    return id === '' ? undefined : id;
  }
  for (const field of PATIENT_FIELDS) {
    const id = patientOfReference(own(resource, field));
    if (id !== undefined) return id;
  }
  return undefined;
}

interface Returned {
  patients: Set<string>;
  resultCount: number;
  total?: number;
  /** The returned resources themselves (for Encounter → Location attribution in a batch). */
  resources: unknown[];
}

/** Walk a response body: a searchset Bundle (one level) or a single resource. */
function returnedBy(body: unknown): Returned {
  const out: Returned = { patients: new Set(), resultCount: 0, resources: [] };
  const type = ownString(body, 'resourceType');
  if (type === undefined || type === 'OperationOutcome') return out;
  if (type === 'Bundle') {
    const total = own(body, 'total');
    if (typeof total === 'number' && Number.isSafeInteger(total) && total >= 0) out.total = total;
    for (const entry of ownArray(body, 'entry')) {
      const resource = own(entry, 'resource');
      const rtype = ownString(resource, 'resourceType');
      if (rtype === undefined || rtype === 'OperationOutcome') continue;
      const mode = ownString(own(entry, 'search'), 'mode');
      if (mode === undefined || mode === 'match') out.resultCount++;
      out.resources.push(resource);
      const id = patientOfResource(resource);
      if (id !== undefined) out.patients.add(id);
    }
    return out;
  }
  out.resultCount = 1;
  out.resources.push(body);
  const id = patientOfResource(body);
  if (id !== undefined) out.patients.add(id);
  return out;
}

function disclosureOf(interaction: ClassifiedInteraction | undefined, returned: Returned): Disclosure {
  const returnedPatientIds = [...returned.patients];
  const patientIds: string[] = [];
  const named = interaction !== undefined && interaction.eventType !== 'PatientSearch' ? interaction.patientRefs : [];
  const seen = new Set<string>();
  for (const id of Array.isArray(named) ? named : []) {
    if (typeof id === 'string' && id !== '' && !seen.has(id)) {
      seen.add(id);
      patientIds.push(id);
    }
  }
  for (const id of returnedPatientIds) {
    if (!seen.has(id)) {
      seen.add(id);
      patientIds.push(id);
    }
  }
  const disclosure: Disclosure = { patientIds, resultCount: returned.resultCount, returnedPatientIds };
  if (returned.total !== undefined) disclosure.total = returned.total;
  return disclosure;
}

/**
 * Patients a response disclosed, for one classified interaction. `patientIds` = the patients the
 * request named (the `patient` searched, the Patient read, `*` for an export; not the `_id` of a
 * PatientSearch) followed by every patient found in the returned resources (Patients by id, other
 * resources by their patient/subject reference, `_include`d resources too). `resultCount` counts
 * `search.mode = match` entries, or 1 for a single resource. Accepts parsed JSON, a JSON string or
 * bytes. Never throws.
 */
export function disclosedPatients(interaction: ClassifiedInteraction, responseBody: unknown): Disclosure {
  try {
    return disclosureOf(interaction, returnedBy(parseJsonBody(responseBody)));
  } catch {
    try {
      return disclosureOf(interaction, { patients: new Set(), resultCount: 0, resources: [] });
    } catch {
      return { patientIds: [], resultCount: 0, returnedPatientIds: [] };
    }
  }
}

function emptyReturned(): Returned {
  return { patients: new Set(), resultCount: 0, resources: [] };
}

/**
 * Disclosures of a `batch-response` Bundle: one per classified entry (response entry i ↔ request
 * entry i). Each entry's `resource` may be a searchset Bundle, a resource or an OperationOutcome.
 * A Location entry discloses the patients of the Encounters in the same response that reference
 * that Location. For a request that is not a batch, the one disclosure of its body. Never throws.
 */
export function disclosedPatientsInBatch(classification: Classification, responseBody: unknown): Disclosure[] {
  let interactions: readonly ClassifiedInteraction[] = [];
  try {
    const raw = own(classification, 'interactions');
    interactions = Array.isArray(raw) ? raw : [];
    if (own(classification, 'batch') !== true) {
      return interactions.length === 0 ? [] : [disclosedPatients(interactions[0]!, responseBody)];
    }
    const body = parseJsonBody(responseBody);
    const entries = ownString(body, 'resourceType') === 'Bundle' ? ownArray(body, 'entry') : [];
    const returned: Returned[] = new Array(interactions.length);
    // Location id → patients of the encounters (in this response) that reference it.
    const locationPatients = new Map<string, Set<string>>();
    for (let i = 0; i < interactions.length; i++) {
      const r = returnedBy(own(entries[i], 'resource'));
      returned[i] = r;
      for (const resource of r.resources) {
        if (ownString(resource, 'resourceType') !== 'Encounter') continue;
        const patient = patientOfResource(resource);
        if (patient === undefined) continue;
        for (const loc of ownArray(resource, 'location')) {
          const ref = ownString(own(loc, 'location'), 'reference');
          const id = ref === undefined ? undefined : referenceId(ref, 'Location', false);
          if (id === undefined) continue;
          let set = locationPatients.get(id);
          if (set === undefined) {
            set = new Set();
            locationPatients.set(id, set);
          }
          set.add(patient);
        }
      }
    }
    const out: Disclosure[] = new Array(interactions.length);
    for (let i = 0; i < interactions.length; i++) {
      const interaction = interactions[i]!;
      const r = returned[i]!;
      if (interaction.resourceType === 'Location' && locationPatients.size > 0) {
        const ids = new Set<string>(Array.isArray(interaction.locationRefs) ? interaction.locationRefs : []);
        for (const resource of r.resources) {
          const id = ownString(resource, 'resourceType') === 'Location' ? ownString(resource, 'id') : undefined;
          if (id !== undefined) ids.add(id);
        }
        for (const id of ids) for (const p of locationPatients.get(id) ?? []) r.patients.add(p);
      }
      out[i] = disclosureOf(interaction, r);
    }
    return out;
  } catch {
    return interactions.map((interaction) => disclosureOf(interaction, emptyReturned()));
  }
}

/**
 * Patients a batch touched, for the PatientListView records: the distinct patients named by the
 * entries or disclosed by them, in first-seen order (`*` excluded). Empty for a request that is not
 * a batch. Never throws.
 */
export function listViewPatients(classification: Classification, disclosures: readonly Disclosure[]): string[] {
  const out: string[] = [];
  try {
    if (own(classification, 'batch') !== true) return out;
    const seen = new Set<string>();
    const add = (id: unknown): void => {
      if (typeof id === 'string' && id !== '' && id !== ALL_PATIENTS && !seen.has(id)) {
        seen.add(id);
        out.push(id);
      }
    };
    const interactions = ownArray(classification, 'interactions');
    const count = Math.max(interactions.length, Array.isArray(disclosures) ? disclosures.length : 0);
    for (let i = 0; i < count; i++) {
      for (const id of ownArray(interactions[i], 'patientRefs')) add(id);
      for (const id of ownArray(Array.isArray(disclosures) ? disclosures[i] : undefined, 'patientIds')) add(id);
    }
  } catch {
    // Hostile input: what was collected so far stands.
  }
  return out;
}
