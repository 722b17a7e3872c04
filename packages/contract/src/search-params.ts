/**
 * Search parameters the Patients app sends, per resource and FHIR version, and a parser/validator
 * for search requests. Seed: ../../../../shared/seeds/patients-app-emr-integration.md.
 * Search semantics: https://www.hl7.org/fhir/DSTU2/search.html, https://www.hl7.org/fhir/STU3/search.html
 */
import { PATIENTS_APP_RESOURCES } from './resources.ts';
import type { FhirVersion } from './versions.ts';

/** FHIR search parameter types used here (`special` = a result/format parameter such as `_count`). */
export type SearchParameterType = 'string' | 'token' | 'date' | 'reference' | 'number' | 'special';

export interface SearchParameterDef {
  /** Parameter name as sent (`family`, `_count`). */
  name: string;
  type: SearchParameterType;
  /** Modifiers the contract accepts after `:` (`contains`, `desc`); empty when none. */
  modifiers: readonly string[];
  /**
   * True for parameters that control the result rather than select resources (`_count`, `_sort`,
   * `_format`): they are not listed as `searchParam` in a Conformance / CapabilityStatement.
   */
  result: boolean;
  /** Resource types a reference parameter points to. */
  target?: readonly string[];
  /** Short description of what the Patients app uses it for. */
  description: string;
}

/** One parsed parameter of a search request. PHI (values are search terms). */
export interface SearchParam {
  name: string;
  /** Modifier after `:` (`family:contains` → `contains`); '' when none. */
  modifier: string;
  /** Form-decoded value ('' when the parameter has no `=`). */
  value: string;
}

const STRING_MODIFIERS = ['contains', 'exact'] as const;

function def(
  name: string,
  type: SearchParameterType,
  description: string,
  extra: { modifiers?: readonly string[]; result?: boolean; target?: readonly string[] } = {},
): SearchParameterDef {
  const d: SearchParameterDef = {
    name,
    type,
    modifiers: extra.modifiers ?? [],
    result: extra.result ?? false,
    description,
  };
  if (extra.target !== undefined) d.target = extra.target;
  return d;
}

const COMMON: readonly SearchParameterDef[] = [
  def('_id', 'token', 'Logical id of the resource'),
  def('_count', 'special', 'Maximum number of results per page; the response carries Bundle.total', {
    result: true,
  }),
  def(
    '_sort',
    'special',
    'Sort order: `_sort=-date` (STU3) or `_sort:desc=date` (DSTU2 style); value is a parameter name',
    {
      modifiers: ['asc', 'desc'],
      result: true,
    },
  ),
  def('_format', 'special', 'Response format (`json`, `application/fhir+json`, `application/json+fhir`)', {
    result: true,
  }),
];

const PATIENT_PARAMS: readonly SearchParameterDef[] = [
  def('id', 'token', 'Logical id of the patient (the Patients app sends `id` as well as `_id`)'),
  def('family', 'string', 'Family name; `family:contains` matches a substring', { modifiers: STRING_MODIFIERS }),
  def('given', 'string', 'Given name; `given:contains` matches a substring', { modifiers: STRING_MODIFIERS }),
  def('name', 'string', 'Any part of the name; `name:contains` matches a substring', { modifiers: STRING_MODIFIERS }),
  def('birthdate', 'date', 'Birth date, exact match (YYYY-MM-DD)'),
  def('gender', 'token', 'Administrative gender (male | female | other | unknown)'),
  def('identifier', 'token', 'Patient identifier, the MRN (identifier with type code MR); `system|value` or value'),
];

function patientRef(name: string, description: string): SearchParameterDef {
  return def(name, 'reference', description, { target: ['Patient'], modifiers: ['Patient'] });
}

const PATIENT = patientRef('patient', 'The patient the resources are about (id or `Patient/{id}`)');
const SUBJECT = patientRef('subject', 'The subject the resources are about (`Patient/{id}`)');
const DATE = def('date', 'date', 'Clinically relevant date; prefixes eq, ne, gt, lt, ge, le, sa, eb, ap; sort key');
const CATEGORY = def('category', 'token', 'Observation category; the Patients app sends `category=vital-signs`');

function table(entries: Record<string, readonly SearchParameterDef[]>): Record<string, readonly SearchParameterDef[]> {
  const out: Record<string, readonly SearchParameterDef[]> = {};
  for (const [type, params] of Object.entries(entries)) out[type] = [...params, ...COMMON];
  return out;
}

/**
 * Search parameters (and modifiers) the contract supports, per version and resource type. Anything
 * else is unsupported: a server answers 400 (see `validateSearch`).
 */
export const SEARCH_PARAMETERS: Readonly<Record<FhirVersion, Readonly<Record<string, readonly SearchParameterDef[]>>>> =
  {
    DSTU2: table({
      Patient: PATIENT_PARAMS,
      Observation: [PATIENT, SUBJECT, CATEGORY, DATE],
      Condition: [PATIENT],
      Encounter: [PATIENT, DATE],
      AllergyIntolerance: [PATIENT],
      MedicationOrder: [PATIENT],
      Coverage: [
        patientRef('patient', 'The patient covered (the Patients app sends `patient=`; not a DSTU2 core parameter)'),
        patientRef('subscriber', 'The subscriber (Coverage.subscriber)'),
      ],
      Location: [],
    }),
    STU3: table({
      Patient: PATIENT_PARAMS,
      Observation: [PATIENT, SUBJECT, CATEGORY, DATE],
      Condition: [PATIENT, SUBJECT],
      Encounter: [PATIENT, SUBJECT, DATE],
      AllergyIntolerance: [PATIENT],
      MedicationRequest: [PATIENT, SUBJECT],
      MedicationStatement: [PATIENT, SUBJECT],
      Coverage: [
        patientRef('patient', 'The patient covered (the Patients app sends `patient=`; not an STU3 core parameter)'),
        patientRef('beneficiary', 'The plan beneficiary (Coverage.beneficiary)'),
        patientRef('subscriber', 'The subscriber (Coverage.subscriber)'),
      ],
      Location: [],
    }),
  };

/**
 * How a string parameter without a modifier matches, per version, where the seed departs from FHIR's
 * default (prefix, case- and accent-insensitive). The seed's STU3 Patient search says `family=`
 * "searches for all patients whose family name contains the value" and `given=<substring>`: in STU3
 * these plain parameters match any part of the name. DSTU2's app sends `:contains` explicitly.
 */
export const CONTAINS_BY_DEFAULT: Readonly<Record<FhirVersion, Readonly<Record<string, readonly string[]>>>> = {
  DSTU2: {},
  STU3: { Patient: ['family', 'given'] },
};

/** How a string search matches: `contains` (any part), `prefix` (FHIR's default) or `exact`. */
export type StringMatch = 'contains' | 'prefix' | 'exact';

/**
 * The match of string parameter `name` with `modifier` ('' when none) on `resourceType`: `:contains`
 * and `:exact` as FHIR says; no modifier is `contains` where `CONTAINS_BY_DEFAULT` lists the
 * parameter (the seed's semantics) unless `semantics` is `'fhir'`, else `prefix`.
 */
export function stringMatch(
  version: FhirVersion,
  resourceType: string,
  name: string,
  modifier: string,
  semantics: 'seed' | 'fhir' = 'seed',
): StringMatch {
  if (modifier === 'contains') return 'contains';
  if (modifier === 'exact') return 'exact';
  if (semantics === 'seed' && Object.hasOwn(CONTAINS_BY_DEFAULT[version], resourceType)) {
    if (CONTAINS_BY_DEFAULT[version][resourceType]?.includes(name)) return 'contains';
  }
  return 'prefix';
}

// Precomputed lookup: version → resource → name → def. Maps, so `constructor` / `__proto__` never match.
const LOOKUP = new Map<FhirVersion, Map<string, Map<string, SearchParameterDef>>>();
for (const version of Object.keys(SEARCH_PARAMETERS) as FhirVersion[]) {
  const byType = new Map<string, Map<string, SearchParameterDef>>();
  for (const [type, params] of Object.entries(SEARCH_PARAMETERS[version])) {
    byType.set(type, new Map(params.map((p) => [p.name, p])));
  }
  LOOKUP.set(version, byType);
}
// Keep the resource list and the parameter table in step.
for (const version of Object.keys(PATIENTS_APP_RESOURCES) as FhirVersion[]) {
  for (const type of PATIENTS_APP_RESOURCES[version]) {
    if (!LOOKUP.get(version)?.has(type)) throw new Error(`FW_CONTRACT_TABLE: no search parameters for ${type}`);
  }
}

/** The definition of one search parameter, or undefined when the contract does not support it. */
export function searchParameter(
  version: FhirVersion,
  resourceType: string,
  name: string,
): SearchParameterDef | undefined {
  return LOOKUP.get(version)?.get(resourceType)?.get(name);
}

/** Form-decode one component (`+` is a space); a malformed `%` escape is kept as sent. */
export function formDecode(text: string): string {
  const hasPlus = text.includes('+');
  if (!hasPlus && !text.includes('%')) return text;
  const spaced = hasPlus ? text.replaceAll('+', ' ') : text;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

function pushParam(out: SearchParam[], rawName: string, value: string): void {
  const colon = rawName.indexOf(':');
  if (colon === -1) {
    if (rawName !== '') out.push({ name: rawName, modifier: '', value });
  } else if (colon > 0) out.push({ name: rawName.slice(0, colon), modifier: rawName.slice(colon + 1), value });
}

/** Parse a query string (with or without a leading `?`): form-decoded, order and repeats kept. */
function parseQueryString(query: string, out: SearchParam[]): void {
  let start = query.startsWith('?') ? 1 : 0;
  const length = query.length;
  while (start <= length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = length;
    if (end > start) {
      const eq = query.indexOf('=', start);
      if (eq === -1 || eq > end) pushParam(out, formDecode(query.slice(start, end)), '');
      else pushParam(out, formDecode(query.slice(start, eq)), formDecode(query.slice(eq + 1, end)));
    }
    start = end + 1;
  }
}

/**
 * Parse search parameters from a query string, a URLSearchParams, or a parsed record (as node's
 * querystring or Fastify give it). `family:contains=smi` → `{ name: 'family', modifier: 'contains', value: 'smi' }`.
 * Repeated parameters are kept in order. Never throws; non-string values are ignored.
 */
export function parseSearchParams(
  query: string | URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>> | undefined,
): SearchParam[] {
  const out: SearchParam[] = [];
  try {
    if (typeof query === 'string') parseQueryString(query, out);
    else if (query instanceof URLSearchParams) for (const [name, value] of query) pushParam(out, name, value);
    else if (query !== null && typeof query === 'object') {
      for (const name of Object.keys(query)) {
        const value: unknown = (query as Record<string, unknown>)[name];
        if (typeof value === 'string') pushParam(out, name, value);
        else if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') pushParam(out, name, v);
      }
    }
  } catch {
    // A hostile object (throwing getter, revoked proxy): what was parsed so far stands.
  }
  return out;
}

/**
 * Percent-encode a query component, leaving the characters FHIR values use and RFC 3986 allows in a
 * query unescaped (`/ : , |`), so `patient=Patient/1` stays readable in the audit store.
 */
function encodeQueryComponent(text: string): string {
  const encoded = encodeURIComponent(text);
  if (!encoded.includes('%')) return encoded;
  return encoded.replaceAll('%2F', '/').replaceAll('%3A', ':').replaceAll('%2C', ',').replaceAll('%7C', '|');
}

/** Characters `encodeQueryComponent` leaves as they are (unreserved, `!*'()`, and `/ : , |`). */
const KEPT = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()/:,|")
  KEPT[c.charCodeAt(0)] = 1;

/**
 * True when `formatSearchParams(parseSearchParams(query)) === query`: every `&`-separated part is
 * `name=value` with one `=`, a non-empty name, and only characters the encoder keeps. Lets the
 * classifier reuse the query as sent instead of re-encoding it (one scan, no allocation).
 */
export function isCanonicalQuery(query: string): boolean {
  let partStart = 0;
  let sawEq = false;
  let sawColon = false;
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c === 38 /* & */) {
      if (!sawEq) return false;
      partStart = i + 1;
      sawEq = false;
      sawColon = false;
    } else if (c === 61 /* = */) {
      if (sawEq || i === partStart) return false;
      // `name:=v` parses to an empty modifier, which re-encodes as `name=v`.
      if (sawColon && query.charCodeAt(i - 1) === 58 && query.indexOf(':', partStart) === i - 1) return false;
      sawEq = true;
    } else if (c === 58 /* : */ && !sawEq) {
      // `:x=v` has an empty name and is dropped by the parser.
      if (i === partStart) return false;
      sawColon = true;
    } else if (c >= 128 || KEPT[c] !== 1) return false;
  }
  return query.length === 0 || sawEq;
}

/** Re-encode parsed parameters as a query string (`family:contains=smi&_count=10`). */
export function formatSearchParams(params: readonly SearchParam[]): string {
  let out = '';
  for (const p of params) {
    if (out !== '') out += '&';
    out += encodeQueryComponent(p.name);
    if (p.modifier !== '') out += ':' + encodeQueryComponent(p.modifier);
    out += '=' + encodeQueryComponent(p.value);
  }
  return out;
}

export interface SearchValidation {
  /** Parameters the contract does not support for this resource (unknown name, modifier or sort key). */
  unsupported: SearchParam[];
}

/**
 * Check a search against the contract. A server answers 400 (OperationOutcome `not-supported`) when
 * `unsupported` is not empty. An unknown resource type makes every parameter unsupported.
 */
export function validateSearch(
  version: FhirVersion,
  resourceType: string,
  params: readonly SearchParam[],
): SearchValidation {
  const unsupported: SearchParam[] = [];
  const defs = LOOKUP.get(version)?.get(resourceType);
  for (const p of params) {
    const d = defs?.get(p.name);
    if (d === undefined || (p.modifier !== '' && !d.modifiers.includes(p.modifier))) {
      unsupported.push(p);
      continue;
    }
    if (d.name === '_sort' && !validSort(defs!, p.value)) unsupported.push(p);
  }
  return { unsupported };
}

function validSort(defs: Map<string, SearchParameterDef>, value: string): boolean {
  if (value === '') return false;
  for (const key of value.split(',')) {
    const name = key.startsWith('-') ? key.slice(1) : key;
    const d = defs.get(name);
    if (d === undefined || d.result) return false;
  }
  return true;
}
