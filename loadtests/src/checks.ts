/**
 * Checks that look inside responses: token fields, `Bundle.type = batch-response` and every entry's status,
 * the seed's required fields on every returned resource (`checkResourceFields` of @fhirwatch/contract), and
 * the version's patient-search semantics (STU3 `family=` and DSTU2 `family:contains=` match a substring).
 * A 200 whose entries failed is a failure. Pure functions over parsed JSON: shared by the runner, the
 * autocannon engine, the conformance tool and (bundled) the k6 scripts.
 */
import {
  checkResourceFields,
  FHIR_RELEASES,
  FHIR_VERSIONS,
  type FhirVersion,
  OAUTH_URIS_EXTENSION_URL,
} from '@fhirwatch/contract';

/** One check's result. */
export interface CheckResult {
  name: string;
  ok: boolean;
}

/** Required-field result of one returned resource. */
export interface FieldTally {
  resourceType: string;
  ok: boolean;
  /** Required paths that were missing. */
  missing: string[];
}

/** Batch entries of one batch response. */
export interface EntryTally {
  total: number;
  failed: number;
  /** Count per entry status code (`200`, `404`, `none`). */
  statuses: Record<string, number>;
}

export interface ResponseVerdict {
  checks: CheckResult[];
  fields: FieldTally[];
  entries?: EntryTally;
}

/** The patient-search parameter names the app sends per version (the contract's release profiles). */
export const NAME_SEARCH: Readonly<Record<FhirVersion, { family: string; given: string }>> = Object.fromEntries(
  FHIR_VERSIONS.map((v) => [
    v,
    { family: FHIR_RELEASES[v].nameSearch.parts.family, given: FHIR_RELEASES[v].nameSearch.parts.given },
  ]),
) as Record<FhirVersion, { family: string; given: string }>;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function array(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Parse a body as JSON; undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Required-field tallies of a resource, and of every resource inside it when it is a Bundle. */
export function tallyFields(resource: unknown, version: FhirVersion, out: FieldTally[] = []): FieldTally[] {
  if (!isObject(resource)) return out;
  if (resource.resourceType === 'Bundle') {
    for (const entry of array(resource.entry)) if (isObject(entry)) tallyFields(entry.resource, version, out);
    return out;
  }
  if (resource.resourceType === 'OperationOutcome') return out;
  const report = checkResourceFields(resource, version);
  // Types outside the contract (Practitioner, Organization…) have no required fields to check.
  if (report.required.length === 0 && !report.ok) return out;
  out.push({
    resourceType: report.resourceType,
    ok: report.ok,
    missing: report.required.filter((c) => !c.present).map((c) => c.path),
  });
  return out;
}

function fieldsCheck(fields: readonly FieldTally[]): CheckResult {
  return { name: 'required fields present', ok: fields.every((f) => f.ok) };
}

export function checkMetadata(status: number, body: unknown, version: FhirVersion): ResponseVerdict {
  const fields = status === 200 ? tallyFields(body, version) : [];
  return {
    checks: [
      { name: 'metadata status 200', ok: status === 200 },
      {
        name: `metadata is a ${FHIR_RELEASES[version].capabilityType}`,
        ok: isObject(body) && body.resourceType === FHIR_RELEASES[version].capabilityType,
      },
      fieldsCheck(fields),
    ],
    fields,
  };
}

/** A client-credentials token response: 200, `access_token`, `token_type` bearer, positive `expires_in`. */
export function checkToken(status: number, body: unknown): ResponseVerdict {
  const b = isObject(body) ? body : {};
  return {
    checks: [
      { name: 'token status 200', ok: status === 200 },
      { name: 'token has access_token', ok: typeof b.access_token === 'string' && b.access_token !== '' },
      { name: 'token_type is bearer', ok: typeof b.token_type === 'string' && b.token_type.toLowerCase() === 'bearer' },
      { name: 'token has expires_in', ok: typeof b.expires_in === 'number' && b.expires_in > 0 },
    ],
    fields: [],
  };
}

/** What a patient search asked for, so the results can be held to the version's semantics. */
export type PatientQuery =
  | { by: 'family'; value: string }
  | { by: 'identifier'; value: string }
  | { by: 'birthdate'; value: string }
  | { by: 'id'; value: string };

/** The form parameters of a patient search for the version. */
export function patientSearchParams(version: FhirVersion, query: PatientQuery, count: number): Record<string, string> {
  const name = query.by === 'family' ? NAME_SEARCH[version].family : query.by === 'id' ? '_id' : query.by;
  return { [name]: query.value, _count: String(count) };
}

function familyNames(patient: Json): string[] {
  const names: string[] = [];
  for (const name of array(patient.name)) {
    if (!isObject(name)) continue;
    // DSTU2 HumanName.family is 0..*, STU3 0..1.
    for (const family of Array.isArray(name.family) ? name.family : [name.family]) {
      if (typeof family === 'string') names.push(family);
    }
  }
  return names;
}

function identifierValues(patient: Json): string[] {
  return array(patient.identifier)
    .filter(isObject)
    .map((id) => id.value)
    .filter((v): v is string => typeof v === 'string');
}

/** True when a returned patient satisfies the query under the seed's semantics (substring, exact date, identifier). */
export function patientMatches(patient: unknown, query: PatientQuery): boolean {
  if (!isObject(patient)) return false;
  switch (query.by) {
    case 'family': {
      const needle = query.value.toLowerCase();
      return familyNames(patient).some((f) => f.toLowerCase().includes(needle));
    }
    case 'identifier': {
      const value = query.value.includes('|') ? query.value.slice(query.value.indexOf('|') + 1) : query.value;
      return identifierValues(patient).includes(value);
    }
    case 'birthdate':
      return patient.birthDate === query.value;
    case 'id':
      return patient.id === query.value;
  }
}

/** Patients of a searchset Bundle. */
export function bundlePatients(body: unknown): Json[] {
  if (!isObject(body)) return [];
  return array(body.entry)
    .filter(isObject)
    .map((e) => e.resource)
    .filter((r): r is Json => isObject(r) && r.resourceType === 'Patient');
}

/**
 * A patient search response: 200, a searchset Bundle with `total`, at most `_count` entries, every
 * patient matching the query, required fields on each patient. `expectId`, when known, must be among them.
 */
export function checkPatientSearch(
  status: number,
  body: unknown,
  version: FhirVersion,
  query: PatientQuery,
  count: number,
  expectId?: string,
  deep = true,
): ResponseVerdict {
  const patients = bundlePatients(body);
  const fields = status === 200 && deep ? tallyFields(body, version) : [];
  const checks: CheckResult[] = [
    { name: 'search status 200', ok: status === 200 },
    {
      name: 'search answers a searchset Bundle',
      ok: isObject(body) && body.resourceType === 'Bundle' && body.type === 'searchset',
    },
    { name: 'search has total', ok: isObject(body) && typeof body.total === 'number' },
    { name: 'search honours _count', ok: patients.length <= count },
    { name: `search ${query.by} semantics`, ok: patients.every((p) => patientMatches(p, query)) },
  ];
  if (deep) checks.push(fieldsCheck(fields));
  if (expectId !== undefined) {
    checks.push({ name: `search ${query.by} finds the patient`, ok: patients.some((p) => p.id === expectId) });
  }
  return { checks, fields };
}

/** The status code of a batch entry (`200 OK` → `200`), or `none`. */
function entryStatus(entry: unknown): string {
  const status = isObject(entry) && isObject(entry.response) ? entry.response.status : undefined;
  if (typeof status !== 'string') return 'none';
  return /^\d{3}/.exec(status.trim())?.[0] ?? 'none';
}

/**
 * A list-refresh response: 200, `Bundle.type = batch-response`, one entry per request entry, every entry
 * 2xx, required fields on every returned resource. A 200 whose entries failed is a failure.
 */
export function checkBatchResponse(
  status: number,
  body: unknown,
  version: FhirVersion,
  expectedEntries: number,
  deep = true,
): ResponseVerdict {
  const entries = isObject(body) ? array(body.entry) : [];
  const tally: EntryTally = { total: 0, failed: 0, statuses: {} };
  for (const entry of entries) {
    const code = entryStatus(entry);
    tally.total++;
    tally.statuses[code] = (tally.statuses[code] ?? 0) + 1;
    if (!code.startsWith('2')) tally.failed++;
  }
  // Entries the server never answered count as failed.
  if (status === 200 && tally.total < expectedEntries) {
    tally.statuses.none = (tally.statuses.none ?? 0) + (expectedEntries - tally.total);
    tally.failed += expectedEntries - tally.total;
    tally.total = expectedEntries;
  }
  const fields: FieldTally[] = [];
  if (status === 200 && deep) {
    for (const entry of entries) if (isObject(entry)) tallyFields(entry.resource, version, fields);
  }
  const checks: CheckResult[] = [
    { name: 'batch status 200', ok: status === 200 },
    { name: 'batch answers a batch-response', ok: isObject(body) && body.type === 'batch-response' },
    { name: 'batch answers every entry', ok: entries.length === expectedEntries },
    { name: 'every batch entry 2xx', ok: status === 200 && tally.failed === 0 },
  ];
  if (deep) checks.push(fieldsCheck(fields));
  return {
    checks,
    fields,
    ...(status === 200 ? { entries: tally } : {}),
  };
}

/** A direct read: 200, the resource type and id asked for, required fields. */
export function checkRead(
  status: number,
  body: unknown,
  version: FhirVersion,
  type: string,
  id: string,
  deep = true,
): ResponseVerdict {
  const fields = status === 200 && deep ? tallyFields(body, version) : [];
  const checks: CheckResult[] = [
    { name: 'read status 200', ok: status === 200 },
    {
      name: 'read returns the resource asked for',
      ok: isObject(body) && body.resourceType === type && body.id === id,
    },
  ];
  if (deep) checks.push(fieldsCheck(fields));
  return { checks, fields };
}

/** A bulk-export kick-off: 202 Accepted with a Content-Location to poll. */
export function checkExport(status: number, contentLocation: string | undefined): ResponseVerdict {
  return {
    checks: [
      { name: 'export kick-off 202', ok: status === 202 },
      { name: 'export names a status URL', ok: typeof contentLocation === 'string' && contentLocation !== '' },
    ],
    fields: [],
  };
}

/** True when every check passed. */
export function verdictOk(verdict: ResponseVerdict): boolean {
  return verdict.checks.every((c) => c.ok);
}

/** A substring of a family name that is not its prefix (so prefix-only servers are caught), at least 2 chars. */
export function innerFragment(family: string): string {
  if (family.length <= 3) return family.slice(-2).toLowerCase();
  return family.slice(1, Math.min(family.length, 4)).toLowerCase();
}

/** The token URL named by a Conformance / CapabilityStatement's OAuth URIs extension. */
export function oauthUri(capability: unknown, name: 'token' | 'authorize'): string | undefined {
  if (!isObject(capability) || !Array.isArray(capability.rest)) return undefined;
  for (const rest of capability.rest) {
    const extensions = isObject(rest) && isObject(rest.security) ? rest.security.extension : undefined;
    if (!Array.isArray(extensions)) continue;
    for (const ext of extensions) {
      if (!isObject(ext) || ext.url !== OAUTH_URIS_EXTENSION_URL || !Array.isArray(ext.extension)) continue;
      for (const sub of ext.extension) {
        if (isObject(sub) && sub.url === name && typeof sub.valueUri === 'string') return sub.valueUri;
      }
    }
  }
  return undefined;
}

export function mrnOf(patient: Record<string, unknown>): string | undefined {
  if (!Array.isArray(patient.identifier)) return undefined;
  for (const id of patient.identifier) {
    if (!isObject(id) || typeof id.value !== 'string') continue;
    const codings = isObject(id.type) && Array.isArray(id.type.coding) ? id.type.coding : [];
    if (codings.some((c) => isObject(c) && c.code === 'MR')) return id.value;
  }
  return undefined;
}

export function familyOf(patient: Record<string, unknown>): string | undefined {
  const name = Array.isArray(patient.name) ? patient.name[0] : undefined;
  if (!isObject(name)) return undefined;
  const family = Array.isArray(name.family) ? name.family[0] : name.family;
  return typeof family === 'string' && family !== '' ? family : undefined;
}

/** A patient the operations search for and read (taken from the server's own answers). */
export interface SamplePatient {
  id: string;
  family?: string;
  mrn?: string;
  birthDate?: string;
}

/** The patients of a searchset, reduced to what the operations use. */
export function samplePatients(bundle: unknown): SamplePatient[] {
  return bundlePatients(bundle).flatMap((p) => {
    if (typeof p.id !== 'string') return [];
    const sample: SamplePatient = { id: p.id };
    const family = familyOf(p);
    const mrn = mrnOf(p);
    if (family !== undefined) sample.family = family;
    if (mrn !== undefined) sample.mrn = mrn;
    if (typeof p.birthDate === 'string') sample.birthDate = p.birthDate;
    return [sample];
  });
}
