/**
 * `fhirwatch conformance`: check any FHIR server against the Patients-app contract (seed:
 * "Integrating EHR systems with the Teams Patients app", DSTU2 and STU3) and report pass / fail / skip per
 * check with evidence. Nothing is assumed about ids or data beyond what the server returns: patients are
 * sampled from its own search answer, and search values are derived from them. Evidence never quotes
 * patient data (ids, names, MRNs, birth dates): counts, statuses, field paths and parameter names only.
 */
import {
  FHIR_RELEASES,
  type FhirVersion,
  LIST_REFRESH_ENTRIES_PER_PATIENT,
  listRefreshBundle,
  PATIENTS_APP_RESOURCES,
  parseFhirVersion,
} from '@fhirwatch/contract';
import {
  bundlePatients,
  checkBatchResponse,
  checkMetadata,
  checkToken,
  innerFragment,
  oauthUri,
  type PatientQuery,
  parseJson,
  patientMatches,
  tallyFields,
} from './checks.ts';
import { LoadtestError } from './errors.ts';
import { renderJunit } from './junit.ts';
import { FhirSession, type HttpAnswer, type LoadTarget } from './session.ts';

/** `warn`: an optional item of the contract is missing (reported, does not fail the run). */
export type ConformanceStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface ConformanceCheck {
  /** Stable id (`search.family`, `batch.largest`). */
  id: string;
  group: 'metadata' | 'token' | 'search' | 'read' | 'batch' | 'fields' | 'errors';
  title: string;
  status: ConformanceStatus;
  /** What was sent and what came back (no patient data). */
  evidence: string;
}

export interface ConformanceReport {
  tool: 'fhirwatch conformance';
  target: string;
  fhirVersion: FhirVersion;
  startedAt: string;
  finishedAt: string;
  passed: boolean;
  counts: Record<ConformanceStatus, number>;
  /** Largest list refresh accepted (entries), when probed. */
  largestBatchEntries: number | undefined;
  checks: ConformanceCheck[];
}

export interface ConformanceOptions {
  target: LoadTarget;
  /** Largest batch probed, in patients (7 entries each; default 20 = 140 entries). */
  maxBatchPatients?: number;
  /** Patients a batch must accept for `batch.largest` to pass (default 10 = 70 entries). */
  requiredBatchPatients?: number;
  timeoutMs?: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const array = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The name-search parameters of the seed per version (each must match a substring), from the release profile. */
function nameParams(version: FhirVersion): { id: string; param: string; part: 'family' | 'given' | 'name' }[] {
  const parts = FHIR_RELEASES[version].nameSearch.parts;
  return (['family', 'given', 'name'] as const).flatMap((part) => {
    const param = parts[part];
    return param === undefined ? [] : [{ id: `search.${part}`, param, part }];
  });
}

function nameParts(patient: Json, part: 'family' | 'given' | 'name'): string[] {
  const out: string[] = [];
  for (const name of array(patient.name)) {
    if (!isObject(name)) continue;
    const take = (v: unknown): void => {
      for (const s of Array.isArray(v) ? v : [v]) if (typeof s === 'string' && s !== '') out.push(s);
    };
    if (part !== 'given') take(name.family);
    if (part !== 'family') take(name.given);
  }
  return out;
}

function isOperationOutcome(text: string): boolean {
  const body = parseJson(text);
  return isObject(body) && body.resourceType === 'OperationOutcome' && array(body.issue).length > 0;
}

class Recorder {
  readonly checks: ConformanceCheck[] = [];
  add(
    id: string,
    group: ConformanceCheck['group'],
    title: string,
    status: ConformanceStatus | boolean,
    evidence: string,
  ): boolean {
    const s: ConformanceStatus = typeof status === 'boolean' ? (status ? 'pass' : 'fail') : status;
    this.checks.push({ id, group, title, status: s, evidence });
    return s === 'pass';
  }
}

const statusOf = (a: HttpAnswer): string => (a.status === 0 ? 'no response' : String(a.status));

/** What the checks share: the target, the session, what earlier checks learnt, the recorder. */
interface CheckContext {
  readonly target: LoadTarget;
  readonly version: FhirVersion;
  readonly session: FhirSession;
  readonly r: Recorder;
  readonly fieldTallies: ReturnType<typeof tallyCollector>;
  readonly maxBatchPatients: number;
  readonly requiredBatchPatients: number;
  /** The parsed metadata (set by the metadata checks). */
  capability: unknown;
  /** The access token (set by the token checks when a client id was given and the flow passed). */
  token: string | undefined;
  /** Patients the server returned to a plain search: every later check samples them. */
  patients: Json[];
  /** The first of them, read and searched by id. */
  subjectId: string;
  /** The answer to a one-patient list refresh (its Encounters name the Location read). */
  listRefresh: unknown;
  largestBatchEntries: number | undefined;
}

/** One step of the run: it records one or more checks (ids stable), in this order. */
interface CheckStep {
  readonly name: string;
  /** Runs only when the server returned patients (else the patient search step records the skips). */
  readonly needsPatients: boolean;
  readonly run: (ctx: CheckContext) => Promise<void>;
}

/** GET /metadata: status, type, version, rest mode, interactions, resources, OAuth URIs, fields. */
async function metadataChecks(ctx: CheckContext): Promise<void> {
  const { r, session, version } = ctx;
  const meta = await session.metadata();
  const capability = parseJson(meta.text);
  r.add(
    'metadata.unauthenticated',
    'metadata',
    'GET /metadata answers 200 without a token',
    meta.status === 200,
    `status ${statusOf(meta)}`,
  );
  const metaVerdict = checkMetadata(meta.status, capability, version);
  const c = isObject(capability) ? capability : {};
  r.add(
    'metadata.resource-type',
    'metadata',
    `metadata is a ${FHIR_RELEASES[version].capabilityType}`,
    c.resourceType === FHIR_RELEASES[version].capabilityType,
    `resourceType ${String(c.resourceType ?? 'missing')}`,
  );
  const declared = typeof c.fhirVersion === 'string' ? c.fhirVersion : undefined;
  r.add(
    'metadata.fhir-version',
    'metadata',
    `fhirVersion is ${version}`,
    parseFhirVersion(declared) === version,
    `fhirVersion ${declared ?? 'missing'}`,
  );
  const rests = array(c.rest).filter(isObject);
  const server = rests.find((x) => x.mode === 'server');
  r.add(
    'metadata.rest-mode',
    'metadata',
    'rest.mode = server',
    server !== undefined,
    `rest modes: ${rests.map((x) => String(x.mode)).join(', ') || 'none'}`,
  );
  const systemInteractions = rests
    .flatMap((x) => array(x.interaction))
    .filter(isObject)
    .map((i) => String(i.code));
  r.add(
    'metadata.batch-interaction',
    'metadata',
    'declares the batch (or transaction) system interaction',
    systemInteractions.includes('batch') || systemInteractions.includes('transaction'),
    `system interactions: ${systemInteractions.join(', ') || 'none'}`,
  );
  const resources = new Map<string, string[]>();
  for (const rest of rests) {
    for (const res of array(rest.resource).filter(isObject)) {
      resources.set(
        String(res.type),
        array(res.interaction)
          .filter(isObject)
          .map((i) => String(i.code)),
      );
    }
  }
  const missingResources = PATIENTS_APP_RESOURCES[version].filter((t) => {
    const codes = resources.get(t);
    return codes === undefined || !codes.includes('read') || !codes.includes('search-type');
  });
  r.add(
    'metadata.resources',
    'metadata',
    'declares read and search-type for every resource the app reads',
    missingResources.length === 0,
    missingResources.length === 0
      ? `${PATIENTS_APP_RESOURCES[version].length} resources declared`
      : `missing or without read/search-type: ${missingResources.join(', ')}`,
  );
  const tokenUri = oauthUri(capability, 'token');
  const authorizeUri = oauthUri(capability, 'authorize');
  r.add(
    'metadata.oauth-token-uri',
    'metadata',
    'security declares the OAuth URIs extension with a token URI',
    tokenUri !== undefined,
    `token URI ${tokenUri === undefined ? 'missing' : 'present'}`,
  );
  r.add(
    'metadata.oauth-authorize-uri',
    'metadata',
    'the OAuth URIs extension names an authorize URI (optional: the app uses client credentials)',
    authorizeUri === undefined ? 'warn' : 'pass',
    `authorize URI ${authorizeUri === undefined ? 'missing' : 'present'}`,
  );
  const metaFields = metaVerdict.fields[0];
  r.add(
    'metadata.required-fields',
    'metadata',
    'metadata carries the required fields',
    metaFields?.ok === true,
    metaFields === undefined
      ? 'not checked (no metadata)'
      : metaFields.ok
        ? 'all present'
        : `missing: ${metaFields.missing.join(', ')}`,
  );
  ctx.capability = capability;
}

/** The client-credentials flow, and that a missing or invalid token is refused. */
async function tokenChecks(ctx: CheckContext): Promise<void> {
  const { r, session, target } = ctx;
  const tokenUri = oauthUri(ctx.capability, 'token');
  if (session.tokenUrl === undefined && tokenUri !== undefined) await session.discover().catch(() => undefined);
  let token: string | undefined;
  if (target.clientId === undefined) {
    r.add('token.flow', 'token', 'client-credentials token', 'skip', 'no client id given');
  } else if (session.tokenUrl === undefined) {
    r.add(
      'token.flow',
      'token',
      'client-credentials token',
      false,
      'no token URL: none given and the metadata names none',
    );
  } else {
    const answer = await session.requestToken();
    const verdict = checkToken(answer.status, parseJson(answer.text));
    const failed = verdict.checks.filter((x) => !x.ok).map((x) => x.name);
    r.add(
      'token.flow',
      'token',
      'client-credentials token with access_token, token_type bearer, expires_in',
      failed.length === 0,
      failed.length === 0
        ? `status ${statusOf(answer)}, fields present`
        : `status ${statusOf(answer)}; failed: ${failed.join('; ')}`,
    );
    if (failed.length === 0) token = await session.token().catch(() => undefined);
  }
  if (token !== undefined) {
    const none = await session.http('GET', session.url('Patient?_count=1'), { accept: 'application/json' });
    r.add(
      'token.required',
      'token',
      'a request without a token is refused with 401',
      none.status === 401,
      `status ${statusOf(none)}`,
    );
    const bad = await session.get('Patient?_count=1', 'not-a-valid-token');
    r.add(
      'token.invalid',
      'token',
      'a request with an invalid token is refused with 401',
      bad.status === 401,
      `status ${statusOf(bad)}`,
    );
  }
  ctx.token = token;
}

/** POST /Patient/_search: the sample every later check uses (when it is empty, they are skipped). */
async function patientSearchChecks(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, fieldTallies } = ctx;
  const sample = await session.searchPatients({ _count: '50' }, token);
  const sampleBody = parseJson(sample.text);
  const patients = bundlePatients(sampleBody);
  fieldTallies.add(tallyFields(sampleBody, version));
  r.add(
    'search.post',
    'search',
    'POST /Patient/_search answers a searchset Bundle',
    sample.status === 200 && isObject(sampleBody) && sampleBody.type === 'searchset',
    `status ${statusOf(sample)}, ${patients.length} patients`,
  );
  if (patients.length === 0) {
    for (const id of [
      'search.count',
      'search.family',
      'search.identifier',
      'search.birthdate',
      'read.patient',
      'batch.list-refresh',
    ]) {
      r.add(
        id,
        id.startsWith('batch') ? 'batch' : id.startsWith('read') ? 'read' : 'search',
        id,
        'skip',
        'the server returned no patients',
      );
    }
  }
  ctx.patients = patients;
  ctx.subjectId = patients.length === 0 ? '' : String(patients[0]!.id);
}

/** `_count` limits the page and the Bundle carries total. */
async function countCheck(ctx: CheckContext): Promise<void> {
  const { r, session, token } = ctx;
  const two = await session.searchPatients({ _count: '2' }, token);
  const twoBody = parseJson(two.text);
  const got = bundlePatients(twoBody).length;
  const total = isObject(twoBody) ? twoBody.total : undefined;
  r.add(
    'search.count',
    'search',
    '_count limits the page and the Bundle carries total',
    two.status === 200 && got <= 2 && typeof total === 'number' && total >= got,
    `_count=2: status ${statusOf(two)}, ${got} entries, total ${typeof total === 'number' ? total : 'missing'}`,
  );
}

/** The release's name-search parameters match a substring. */
async function nameSearchChecks(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, patients } = ctx;
  for (const { id, param, part } of nameParams(version)) {
    const subject = patients.find((p) => nameParts(p, part).some((n) => n.length >= 4));
    if (subject === undefined) {
      r.add(
        id,
        'search',
        `${param} matches a substring`,
        'skip',
        `no returned patient has a ${part} name of 4+ letters`,
      );
      continue;
    }
    const fragment = innerFragment(nameParts(subject, part).find((n) => n.length >= 4)!);
    const answer = await session.searchPatients({ [param]: fragment, _count: '100' }, token);
    const found = bundlePatients(parseJson(answer.text));
    const matching = found.filter((p) => nameParts(p, part).some((n) => n.toLowerCase().includes(fragment)));
    const hasSubject = found.some((p) => p.id === subject.id);
    r.add(
      id,
      'search',
      `${param}= matches a substring (not only a prefix)`,
      answer.status === 200 && hasSubject && matching.length === found.length,
      `${param} with a ${fragment.length}-letter inner fragment of a returned patient's ${part === 'name' ? 'name part' : `${part} name`}: status ${statusOf(answer)}, ${found.length} results, ${matching.length} containing it, the patient ${hasSubject ? 'found' : 'NOT found'}`,
    );
  }
}

/** identifier, birthdate, _id (and gender where the seed lists it) find the patient. */
async function exactSearchChecks(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, patients } = ctx;
  await exactSearch(r, session, token, patients, 'search.identifier', 'identifier', (p) => mrnValue(p));
  await exactSearch(r, session, token, patients, 'search.birthdate', 'birthdate', (p) =>
    typeof p.birthDate === 'string' ? p.birthDate : undefined,
  );
  await exactSearch(r, session, token, patients, 'search.id', '_id', (p) =>
    typeof p.id === 'string' ? p.id : undefined,
  );
  if (FHIR_RELEASES[version].patientGenderSearch) {
    await exactSearch(r, session, token, patients, 'search.gender', 'gender', (p) =>
      typeof p.gender === 'string' ? p.gender : undefined,
    );
  }
}

/** Observation sorted by the release's date-descending syntax. */
async function sortCheck(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, fieldTallies, subjectId } = ctx;
  const sorted = await session.get(
    `Observation?patient=${encodeURIComponent(subjectId)}&${FHIR_RELEASES[version].sortDescDate}&_count=20`,
    token,
  );
  const observations = array(isObject(parseJson(sorted.text)) ? (parseJson(sorted.text) as Json).entry : [])
    .filter(isObject)
    .map((e) => e.resource)
    .filter(isObject);
  fieldTallies.add(tallyFields(parseJson(sorted.text), version));
  const dates = observations.map((o) =>
    String(o.effectiveDateTime ?? (isObject(o.effectivePeriod) ? o.effectivePeriod.start : '') ?? ''),
  );
  const descending = dates.every((d, i) => i === 0 || Date.parse(d) <= Date.parse(dates[i - 1]!));
  r.add(
    'search.sort',
    'search',
    `Observation ${FHIR_RELEASES[version].sortDescDate} returns newest first`,
    sorted.status === 200 && descending,
    `status ${statusOf(sorted)}, ${observations.length} observations, ${descending ? 'in descending date order' : 'NOT in descending date order'}`,
  );
}

/** An unsupported search parameter: 400 and an OperationOutcome. */
async function unsupportedParameterCheck(ctx: CheckContext): Promise<void> {
  const { r, session, token } = ctx;
  const unsupported = await session.searchPatients({ 'no-such-parameter': 'x' }, token);
  r.add(
    'errors.unsupported-parameter',
    'errors',
    'an unsupported search parameter is refused with 400 and an OperationOutcome',
    unsupported.status === 400 && isOperationOutcome(unsupported.text),
    `status ${statusOf(unsupported)}, ${isOperationOutcome(unsupported.text) ? 'OperationOutcome' : 'no OperationOutcome'}`,
  );
}

/** GET Patient/{id}. */
async function readPatientCheck(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, fieldTallies, subjectId } = ctx;
  const read = await session.get(`Patient/${encodeURIComponent(subjectId)}`, token);
  const readBody = parseJson(read.text);
  fieldTallies.add(tallyFields(readBody, version));
  r.add(
    'read.patient',
    'read',
    'GET Patient/{id} returns that patient',
    read.status === 200 && isObject(readBody) && readBody.resourceType === 'Patient' && readBody.id === subjectId,
    `status ${statusOf(read)}`,
  );
}

/** A one-patient list refresh (the app's batch of 7) and the searchsets inside it. */
async function listRefreshChecks(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, fieldTallies, patients } = ctx;
  const ids = patients.map((p) => String(p.id));
  const one = await session.batch(listRefreshBundle(version, [ids[0]!]), token);
  const oneBody = parseJson(one.text);
  const oneVerdict = checkBatchResponse(one.status, oneBody, version, LIST_REFRESH_ENTRIES_PER_PATIENT);
  fieldTallies.add(oneVerdict.fields);
  const statuses =
    oneVerdict.entries === undefined
      ? 'none'
      : Object.entries(oneVerdict.entries.statuses)
          .map(([s, n]) => `${s}×${n}`)
          .join(', ');
  r.add(
    'batch.list-refresh',
    'batch',
    'a list refresh (batch of 7 reads) answers a batch-response with every entry 2xx',
    oneVerdict.checks.every((x) => x.name === 'required fields present' || x.ok),
    `status ${statusOf(one)}, type ${isObject(oneBody) ? String(oneBody.type ?? 'missing') : 'none'}, entry statuses: ${statuses}`,
  );
  const inner = array(isObject(oneBody) ? oneBody.entry : [])
    .filter(isObject)
    .slice(1);
  const searchsets = inner.filter(
    (e) => isObject(e.resource) && e.resource.resourceType === 'Bundle' && e.resource.type === 'searchset',
  );
  r.add(
    'batch.searches-inside',
    'batch',
    'searches inside a batch answer searchset Bundles',
    one.status === 200 && inner.length === 6 && searchsets.length === 6,
    `${searchsets.length} of 6 search entries answered a searchset`,
  );
  ctx.listRefresh = oneBody;
}

/** GET Location/{id} of an Encounter's location (from the list refresh). */
async function locationReadCheck(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, fieldTallies } = ctx;
  const oneBody = ctx.listRefresh;
  const location = array(isObject(oneBody) ? oneBody.entry : [])
    .filter(isObject)
    .map((e) => e.resource)
    .filter(isObject)
    .flatMap((b) => array(b.entry))
    .filter(isObject)
    .map((e) => e.resource)
    .filter((res): res is Json => isObject(res) && res.resourceType === 'Encounter')
    .flatMap((enc) => array(enc.location))
    .filter(isObject)
    .map((l) => (isObject(l.location) ? l.location.reference : undefined))
    .find((ref): ref is string => typeof ref === 'string' && /(?:^|\/)Location\/[^/]+$/.test(ref));
  if (location === undefined) {
    r.add(
      'read.location',
      'read',
      'GET Location/{id} of an encounter',
      'skip',
      'no Encounter with a Location reference returned',
    );
  } else {
    const loc = await session.get(`Location/${location.slice(location.lastIndexOf('/') + 1)}`, token);
    const locBody = parseJson(loc.text);
    fieldTallies.add(tallyFields(locBody, version));
    r.add(
      'read.location',
      'read',
      "GET Location/{id} of an encounter's location reference",
      loc.status === 200 && isObject(locBody) && locBody.resourceType === 'Location',
      `status ${statusOf(loc)}`,
    );
  }
}

/** The largest list refresh accepted (doubling up to maxBatchPatients). */
async function largestBatchCheck(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, patients, maxBatchPatients, requiredBatchPatients } = ctx;
  const ids = patients.map((p) => String(p.id));
  let largest = 0;
  let firstRefusal = '';
  for (let n = 1; n <= maxBatchPatients; n = n === maxBatchPatients ? n + 1 : Math.min(n * 2, maxBatchPatients)) {
    const list = Array.from({ length: n }, (_, i) => ids[i % ids.length]!);
    const answer = await session.batch(listRefreshBundle(version, list), token);
    const verdict = checkBatchResponse(
      answer.status,
      parseJson(answer.text),
      version,
      n * LIST_REFRESH_ENTRIES_PER_PATIENT,
    );
    if (answer.status === 200 && verdict.entries?.failed === 0) largest = n * LIST_REFRESH_ENTRIES_PER_PATIENT;
    else {
      firstRefusal = `${n * LIST_REFRESH_ENTRIES_PER_PATIENT} entries: status ${statusOf(answer)}, ${verdict.entries?.failed ?? 'all'} entries failed`;
      break;
    }
  }
  ctx.largestBatchEntries = largest;
  r.add(
    'batch.largest',
    'batch',
    `accepts a list refresh of ${requiredBatchPatients} patients (${requiredBatchPatients * LIST_REFRESH_ENTRIES_PER_PATIENT} entries)`,
    largest >= requiredBatchPatients * LIST_REFRESH_ENTRIES_PER_PATIENT,
    `largest accepted: ${largest} entries (probed up to ${maxBatchPatients * LIST_REFRESH_ENTRIES_PER_PATIENT})${firstRefusal === '' ? '' : `; refused at ${firstRefusal}`}`,
  );
}

/** Direct searches by patient for every resource type the app reads (the list refresh does them in a batch). */
async function searchByPatientCheck(ctx: CheckContext): Promise<void> {
  const { r, session, version, token, fieldTallies, subjectId } = ctx;
  const direct: string[] = [];
  for (const type of PATIENTS_APP_RESOURCES[version]) {
    if (type === 'Patient' || type === 'Location') continue;
    const answer = await session.get(`${type}?patient=${encodeURIComponent(subjectId)}`, token);
    const body = parseJson(answer.text);
    fieldTallies.add(tallyFields(body, version));
    if (!(answer.status === 200 && isObject(body) && body.type === 'searchset'))
      direct.push(`${type} (${statusOf(answer)})`);
  }
  r.add(
    'search.by-patient',
    'search',
    'GET {type}?patient= answers a searchset for every resource type the app reads',
    direct.length === 0,
    direct.length === 0 ? 'all answered 200 searchset' : `not a 200 searchset: ${direct.join(', ')}`,
  );
}

/** An unknown id: 404 and an OperationOutcome. */
async function unknownIdCheck(ctx: CheckContext): Promise<void> {
  const { r, session, token } = ctx;
  const unknown = await session.get('Patient/fhirwatch-conformance-no-such-id', token);
  r.add(
    'errors.unknown-id',
    'errors',
    'an unknown id answers 404 with an OperationOutcome',
    unknown.status === 404 && isOperationOutcome(unknown.text),
    `status ${statusOf(unknown)}, ${isOperationOutcome(unknown.text) ? 'OperationOutcome' : 'no OperationOutcome'}`,
  );
}

/** Per resource type the app reads: the required fields, tallied over every resource returned so far. */
async function requiredFieldsChecks(ctx: CheckContext): Promise<void> {
  const { r, version, fieldTallies } = ctx;
  for (const type of PATIENTS_APP_RESOURCES[version]) {
    const t = fieldTallies.get(type);
    if (t === undefined) {
      r.add(`fields.${type}`, 'fields', `${type} carries the required fields`, 'skip', `no ${type} returned`);
      continue;
    }
    const missing = Object.entries(t.missing).map(([p, n]) => `${p} missing on ${n}`);
    r.add(
      `fields.${type}`,
      'fields',
      `${type} carries the required fields`,
      t.ok === t.checked,
      `${t.ok} of ${t.checked} complete${missing.length === 0 ? '' : `; ${missing.join(', ')}`}`,
    );
  }
}

/** The checks, in report order (the registry: a new check is one function and one line here). */
const CHECK_STEPS: readonly CheckStep[] = [
  { name: 'metadata', needsPatients: false, run: metadataChecks },
  { name: 'token', needsPatients: false, run: tokenChecks },
  { name: 'patient search', needsPatients: false, run: patientSearchChecks },
  { name: 'count', needsPatients: true, run: countCheck },
  { name: 'name search', needsPatients: true, run: nameSearchChecks },
  { name: 'exact search', needsPatients: true, run: exactSearchChecks },
  { name: 'sort', needsPatients: true, run: sortCheck },
  { name: 'unsupported parameter', needsPatients: true, run: unsupportedParameterCheck },
  { name: 'read patient', needsPatients: true, run: readPatientCheck },
  { name: 'list refresh', needsPatients: true, run: listRefreshChecks },
  { name: 'read location', needsPatients: true, run: locationReadCheck },
  { name: 'largest batch', needsPatients: true, run: largestBatchCheck },
  { name: 'search by patient', needsPatients: true, run: searchByPatientCheck },
  { name: 'unknown id', needsPatients: false, run: unknownIdCheck },
  { name: 'required fields', needsPatients: false, run: requiredFieldsChecks },
];

/** Run every check against the target. Resolves with the report (never throws for the server's answers). */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const target = options.target;
  const version = target.fhirVersion;
  const maxBatchPatients = options.maxBatchPatients ?? 20;
  const ctx: CheckContext = {
    target,
    version,
    session: new FhirSession(target, { connections: 4, timeoutMs: options.timeoutMs ?? 30_000 }),
    r: new Recorder(),
    fieldTallies: tallyCollector(),
    maxBatchPatients,
    requiredBatchPatients: Math.min(options.requiredBatchPatients ?? 10, maxBatchPatients),
    capability: undefined,
    token: undefined,
    patients: [],
    subjectId: '',
    listRefresh: undefined,
    largestBatchEntries: undefined,
  };
  const startedAt = new Date();
  try {
    for (const step of CHECK_STEPS) {
      if (step.needsPatients && ctx.patients.length === 0) continue;
      await step.run(ctx);
    }
  } finally {
    await ctx.session.close();
  }
  const counts = { pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const check of ctx.r.checks) counts[check.status]++;
  return {
    tool: 'fhirwatch conformance',
    target: target.baseUrl,
    fhirVersion: version,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    passed: counts.fail === 0,
    counts,
    largestBatchEntries: ctx.largestBatchEntries,
    checks: ctx.r.checks,
  };
}

function mrnValue(patient: Json): string | undefined {
  for (const id of array(patient.identifier).filter(isObject)) {
    const codings = isObject(id.type) ? array(id.type.coding).filter(isObject) : [];
    if (typeof id.value === 'string' && codings.some((c) => c.code === 'MR')) return id.value;
  }
  return undefined;
}

async function exactSearch(
  r: Recorder,
  session: FhirSession,
  token: string | undefined,
  patients: readonly Json[],
  id: string,
  param: string,
  valueFor: (p: Json) => string | undefined,
): Promise<void> {
  const subject = patients.find((p) => valueFor(p) !== undefined);
  if (subject === undefined) {
    r.add(id, 'search', `${param}= finds the patient`, 'skip', `no returned patient has a value for ${param}`);
    return;
  }
  const value = valueFor(subject)!;
  const answer = await session.searchPatients({ [param]: value, _count: '100' }, token);
  const found = bundlePatients(parseJson(answer.text));
  const by = param === '_id' ? 'id' : param;
  const query: PatientQuery | undefined =
    by === 'identifier' || by === 'birthdate' || by === 'id' ? ({ by, value } as PatientQuery) : undefined;
  const matching = found.filter((p) => (query === undefined ? p.gender === value : patientMatches(p, query)));
  const hasSubject = found.some((p) => p.id === subject.id);
  r.add(
    id,
    'search',
    `${param}= finds the patient and only matching ones`,
    answer.status === 200 && hasSubject && matching.length === found.length,
    `${param} of a returned patient: status ${statusOf(answer)}, ${found.length} results, ${matching.length} matching, the patient ${hasSubject ? 'found' : 'NOT found'}`,
  );
}

function tallyCollector(): {
  add(tallies: readonly { resourceType: string; ok: boolean; missing: string[] }[]): void;
  get(type: string): { checked: number; ok: number; missing: Record<string, number> } | undefined;
} {
  const byType = new Map<string, { checked: number; ok: number; missing: Record<string, number> }>();
  return {
    add(tallies) {
      for (const t of tallies) {
        const s = byType.get(t.resourceType) ?? { checked: 0, ok: 0, missing: {} };
        s.checked++;
        if (t.ok) s.ok++;
        for (const p of t.missing) s.missing[p] = (s.missing[p] ?? 0) + 1;
        byType.set(t.resourceType, s);
      }
    },
    get: (type) => byType.get(type),
  };
}

/** The pass/fail table for a terminal. */
export function formatConformanceTable(report: ConformanceReport): string {
  const idWidth = Math.max(...report.checks.map((c) => c.id.length), 5);
  const lines = [
    `Conformance of ${report.target} (FHIR ${report.fhirVersion}) with the Patients-app contract`,
    '',
    `${'check'.padEnd(idWidth)}  result  evidence`,
  ];
  for (const c of report.checks)
    lines.push(`${c.id.padEnd(idWidth)}  ${c.status.toUpperCase().padEnd(6)}  ${c.evidence}`);
  lines.push(
    '',
    `${report.counts.pass} passed, ${report.counts.fail} failed, ${report.counts.warn} warnings, ${report.counts.skip} skipped: ${report.passed ? 'PASS' : 'FAIL'}`,
  );
  return `${lines.join('\n')}\n`;
}

export function conformanceJunit(report: ConformanceReport): string {
  const groups = [...new Set(report.checks.map((c) => c.group))];
  return renderJunit(
    groups.map((group) => ({
      name: `conformance.${group}`,
      cases: report.checks
        .filter((c) => c.group === group)
        .map((c) => ({
          classname: `conformance.${group}`,
          name: `${c.id}: ${c.title}`,
          ...(c.status === 'fail' ? { failure: c.evidence } : {}),
          ...(c.status === 'skip' || c.status === 'warn' ? { skipped: `${c.status}: ${c.evidence}` } : {}),
        })),
    })),
  );
}

/** Refuse impossible options early. */
export function validateConformanceOptions(options: ConformanceOptions): void {
  const max = options.maxBatchPatients ?? 20;
  if (!Number.isInteger(max) || max < 1 || max > 1000) {
    throw new LoadtestError('FW_LOAD_KNOB', 'the batch probe bound must be 1..1000 patients');
  }
}
