/**
 * Search over the store, for the parameters and modifiers of the contract
 * (`SEARCH_PARAMETERS` in @fhirwatch/contract): string (`family`, `given`, `name`, with `:contains` /
 * `:exact`), token (`identifier`, `gender`, `category`, `_id`), reference (`patient`, `subject`,
 * `beneficiary`, `subscriber`), date (`birthdate`, `date`, with prefixes), `_sort`, `_count`.
 * Semantics: https://www.hl7.org/fhir/STU3/search.html (DSTU2 is the same for these), except where the
 * seed says otherwise (STU3 `family=` / `given=` match any part of the name: the contract's `stringMatch`).
 */
import { referenceId, type SearchParam, stringMatch, validateSearch } from '@fhirwatch/contract';
import { MOCK_EHR_ERROR, MockEhrError } from './errors.ts';
import type { Store, StoredResource } from './store.ts';

/** Page size when the client sends no `_count`, and the largest page served. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** Paging cursor used in `next`/`previous` links; accepted on any search, never passed to validation. */
export const OFFSET_PARAM = '_offset';

const PATIENT_REFERENCE_PARAMS = new Set(['patient', 'subject', 'beneficiary', 'subscriber']);
const DAY_MS = 86_400_000;

export interface SearchResult {
  total: number;
  offset: number;
  count: number;
  page: readonly StoredResource[];
  /** Parameters as they go into paging links (no `_offset`, `_count` always present). */
  linkParams: SearchParam[];
}

function badParameter(message: string): MockEhrError {
  return new MockEhrError(MOCK_EHR_ERROR.badParameter, message);
}

/** Split a parameter value on unescaped commas (`a,b` is a or b; `a\,b` is one value). */
function splitOr(value: string): string[] {
  if (!value.includes('\\')) return value.split(',');
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      current += value[++i];
    } else if (c === ',') {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out;
}

/** Case- and accent-insensitive form of a string (FHIR string search). */
export function normalizeText(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

// ---- values a resource exposes to each parameter --------------------------------------------------

interface Token {
  system: string;
  code: string;
}

type R = Record<string, unknown>;
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const strings = (v: unknown): string[] => asArray(v).filter((x): x is string => typeof x === 'string');

function nameParts(resource: R, part: 'family' | 'given' | 'name'): string[] {
  const out: string[] = [];
  for (const n of asArray(resource.name) as R[]) {
    if (part === 'family' || part === 'name') out.push(...strings(n.family));
    if (part === 'given' || part === 'name') out.push(...strings(n.given));
    if (part === 'name') out.push(...strings(n.prefix), ...strings(n.suffix), ...strings(n.text));
  }
  return out;
}

function codings(concepts: unknown): Token[] {
  const out: Token[] = [];
  for (const c of asArray(concepts) as R[]) {
    for (const coding of asArray(c?.coding) as R[]) {
      out.push({ system: typeof coding.system === 'string' ? coding.system : '', code: String(coding.code ?? '') });
    }
  }
  return out;
}

function tokens(stored: Candidate, name: string): Token[] {
  const r = stored.resource as R;
  switch (name) {
    case '_id':
    case 'id':
      return [{ system: '', code: stored.id }];
    case 'gender':
      return [{ system: 'http://hl7.org/fhir/administrative-gender', code: String(r.gender ?? '') }];
    case 'identifier':
      return (asArray(r.identifier) as R[]).map((i) => ({
        system: typeof i.system === 'string' ? i.system : '',
        code: String(i.value ?? ''),
      }));
    case 'category':
      return codings(r.category);
    default:
      return [];
  }
}

function matchToken(values: readonly Token[], query: string): boolean {
  const bar = query.indexOf('|');
  if (bar === -1) return values.some((t) => t.code === query);
  const system = query.slice(0, bar);
  const code = query.slice(bar + 1);
  if (system === '') return values.some((t) => t.system === '' && t.code === code);
  if (code === '') return values.some((t) => t.system === system);
  return values.some((t) => t.system === system && t.code === code);
}

// ---- dates ------------------------------------------------------------------------------------

const DATE_PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
type DatePrefix = (typeof DATE_PREFIXES)[number];
const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** [start, end) in ms of a FHIR date/dateTime at its own precision; undefined when malformed. */
export function dateRangeOf(text: string): [number, number] | undefined {
  const m = DATE_RE.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]);
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > 31)) return undefined;
  if (month === undefined) return [Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1)];
  if (day === undefined) return [Date.UTC(year, month - 1, 1), Date.UTC(year, month, 1)];
  if (m[4] === undefined) return [Date.UTC(year, month - 1, day), Date.UTC(year, month - 1, day + 1)];
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  if (hour > 23 || minute > 59) return undefined;
  const second = m[6] === undefined ? undefined : Number(m[6]);
  if (second !== undefined && second > 59) return undefined;
  let offsetMs = 0;
  const tz = m[7];
  if (tz !== undefined && tz !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    offsetMs = sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000;
  }
  const start = Date.UTC(year, month - 1, day, hour, minute, second ?? 0) - offsetMs;
  return [start, start + (second === undefined ? 60_000 : 1000)];
}

interface DateQuery {
  prefix: DatePrefix;
  start: number;
  end: number;
}

function parseDateQuery(value: string, paramName: string): DateQuery {
  let prefix: DatePrefix = 'eq';
  let rest = value;
  const p = value.slice(0, 2) as DatePrefix;
  if (DATE_PREFIXES.includes(p)) {
    prefix = p;
    rest = value.slice(2);
  }
  const range = dateRangeOf(rest);
  if (range === undefined) throw badParameter(`malformed date in parameter '${paramName}'`);
  return { prefix, start: range[0], end: range[1] };
}

function matchDate(range: [number, number] | undefined, q: DateQuery): boolean {
  if (range === undefined) return q.prefix === 'ne';
  const [rs, re] = range;
  switch (q.prefix) {
    case 'eq':
      return rs >= q.start && re <= q.end;
    case 'ne':
      return !(rs >= q.start && re <= q.end);
    case 'gt':
      return re > q.end;
    case 'lt':
      return rs < q.start;
    case 'ge':
      return re > q.start;
    case 'le':
      return rs < q.end;
    case 'sa':
      return rs >= q.end;
    case 'eb':
      return re <= q.start;
    case 'ap':
      return rs < q.end + DAY_MS && re > q.start - DAY_MS;
  }
}

function resourceDateRange(stored: Candidate, name: string): [number, number] | undefined {
  if (name === 'birthdate') {
    const birthDate = (stored.resource as R).birthDate;
    return typeof birthDate === 'string' ? dateRangeOf(birthDate) : undefined;
  }
  if (stored.date === '') return undefined;
  const start = dateRangeOf(stored.date);
  if (start === undefined) return undefined;
  if (stored.type === 'Encounter' || stored.type === 'MedicationStatement' || stored.type === 'Coverage') {
    // A period: open-ended while it lasts.
    const end = stored.dateEnd === '' ? undefined : dateRangeOf(stored.dateEnd);
    return [start[0], end === undefined ? Number.POSITIVE_INFINITY : end[1]];
  }
  return start;
}

// ---- the search -------------------------------------------------------------------------------

/** What filters and sort keys look at (a Patient is filtered before it is serialized). */
type Candidate = Pick<StoredResource, 'type' | 'id' | 'resource' | 'patientIndex' | 'date' | 'dateEnd'>;
type Filter = (stored: Candidate) => boolean;

function stringFilter(match: 'contains' | 'prefix' | 'exact', name: string, values: string[]): Filter {
  const part = name as 'family' | 'given' | 'name';
  if (match === 'exact') {
    return (s) => {
      const parts = nameParts(s.resource as R, part);
      return values.some((v) => parts.includes(v));
    };
  }
  const wanted = values.map(normalizeText);
  const contains = match === 'contains';
  return (s) => {
    const parts = nameParts(s.resource as R, part).map(normalizeText);
    return wanted.some((w) => parts.some((p) => (contains ? p.includes(w) : p.startsWith(w))));
  };
}

function sortKey(stored: Candidate, key: string): string {
  const r = stored.resource as R;
  switch (key) {
    case 'date':
      return stored.date;
    case '_id':
    case 'id':
      return stored.id;
    case 'birthdate':
      return String(r.birthDate ?? '');
    case 'gender':
      return String(r.gender ?? '');
    case 'family':
    case 'given':
    case 'name':
      return normalizeText(nameParts(r, key).join(' '));
    case 'identifier':
      return tokens(stored, 'identifier')[0]?.code ?? '';
    case 'patient':
    case 'subject':
    case 'beneficiary':
    case 'subscriber':
      return String(stored.patientIndex).padStart(10, '0');
    case 'category':
      return tokens(stored, 'category')[0]?.code ?? '';
    default:
      return '';
  }
}

/** How a search reads its parameters. */
export interface SearchMode {
  /** `Prefer: handling=lenient`: parameters outside the contract are ignored instead of refused. */
  lenient?: boolean;
  /** Meaning of an unmodified string parameter (see `MockEhrOptions.stringSearch`). Default `seed`. */
  stringSearch?: 'seed' | 'fhir';
}

/**
 * Run a search of `type` with parsed `params` (from `parseSearchParams`). Throws MockEhrError (400)
 * for a parameter outside the contract (unless `mode.lenient`: FHIR's `Prefer: handling=lenient`
 * ignores them) or a malformed value; error messages name parameters, never values.
 */
export function search(
  store: Store,
  type: string,
  params: readonly SearchParam[],
  mode: SearchMode = {},
): SearchResult {
  let offset = 0;
  const selection: SearchParam[] = [];
  for (const p of params) {
    if (p.name === OFFSET_PARAM && p.modifier === '') {
      if (!/^\d{1,9}$/.test(p.value)) throw badParameter(`'${OFFSET_PARAM}' must be a non-negative integer`);
      offset = Number(p.value);
    } else selection.push(p);
  }
  const { unsupported } = validateSearch(store.fhirVersion, type, selection);
  if (unsupported.length > 0 && mode.lenient === true) {
    const ignored = new Set(unsupported);
    const kept = selection.filter((p) => !ignored.has(p));
    selection.length = 0;
    selection.push(...kept);
  } else if (unsupported.length > 0) {
    const names = [...new Set(unsupported.map((u) => (u.modifier === '' ? u.name : `${u.name}:${u.modifier}`)))];
    throw new MockEhrError(
      MOCK_EHR_ERROR.badParameter,
      `unsupported search parameter(s) for ${type}: ${names.join(', ')}`,
      { issue: 'not-supported' },
    );
  }

  let count = DEFAULT_PAGE_SIZE;
  const sortKeys: { key: string; desc: boolean }[] = [];
  const filters: Filter[] = [];
  let patientIndexes: Set<number> | undefined;

  for (const p of selection) {
    switch (p.name) {
      case '_count':
        if (!/^\d{1,9}$/.test(p.value)) throw badParameter(`'_count' must be a non-negative integer`);
        count = Math.min(Number(p.value), MAX_PAGE_SIZE);
        continue;
      case '_format':
        // JSON is the only format; the HTTP layer already refused others.
        continue;
      case '_sort':
        for (const key of p.value.split(',')) {
          const desc = key.startsWith('-') !== (p.modifier === 'desc');
          sortKeys.push({ key: key.startsWith('-') ? key.slice(1) : key, desc });
        }
        continue;
    }
    const values = splitOr(p.value);
    if (type !== 'Patient' && PATIENT_REFERENCE_PARAMS.has(p.name)) {
      // Reference to the patient: narrows the candidates to those patients' records.
      const found = new Set<number>();
      for (const v of values) {
        const id = referenceId(v, 'Patient', true);
        const index = id === undefined ? undefined : store.population.indexOf(id);
        if (index !== undefined) found.add(index);
      }
      patientIndexes = patientIndexes === undefined ? found : new Set([...patientIndexes].filter((i) => found.has(i)));
      continue;
    }
    switch (p.name) {
      case 'family':
      case 'given':
      case 'name':
        filters.push(
          stringFilter(
            stringMatch(store.fhirVersion, type, p.name, p.modifier, mode.stringSearch ?? 'seed'),
            p.name,
            values,
          ),
        );
        break;
      case 'birthdate':
      case 'date': {
        const queries = values.map((v) => parseDateQuery(v, p.name));
        filters.push((s) => {
          const range = resourceDateRange(s, p.name);
          return queries.some((q) => matchDate(range, q));
        });
        break;
      }
      default: {
        // token parameters: _id, id, identifier, gender, category
        filters.push((s) => {
          const have = tokens(s, p.name);
          return values.some((v) => matchToken(have, v));
        });
      }
    }
  }

  // Candidates.
  let candidates: StoredResource[];
  if (type === 'Patient') {
    candidates = [];
    const patients = store.population.patients;
    for (let i = 0; i < patients.length; i++) {
      const resource = patients[i]!;
      const c: Candidate = { type: 'Patient', id: resource.id, resource, patientIndex: i, date: '', dateEnd: '' };
      if (filters.every((f) => f(c))) candidates.push(store.patient(i));
    }
  } else if (store.isPerPatient(type)) {
    candidates = [];
    const indexes = patientIndexes === undefined ? undefined : [...patientIndexes].sort((a, b) => a - b);
    const n = indexes === undefined ? store.size : indexes.length;
    for (let k = 0; k < n; k++) {
      const index = indexes === undefined ? k : indexes[k]!;
      for (const s of store.ofPatient(type, index)) if (filters.every((f) => f(s))) candidates.push(s);
    }
  } else {
    candidates = (store.shared(type) ?? []).filter((s) => filters.every((f) => f(s)));
  }

  if (sortKeys.length > 0) {
    const keyed = candidates.map((s, i) => ({ s, i, keys: sortKeys.map((k) => sortKey(s, k.key)) }));
    keyed.sort((a, b) => {
      for (let k = 0; k < sortKeys.length; k++) {
        const x = a.keys[k]!;
        const y = b.keys[k]!;
        if (x !== y) {
          // Missing values sort last whichever the direction.
          if (x === '') return 1;
          if (y === '') return -1;
          return (x < y ? -1 : 1) * (sortKeys[k]!.desc ? -1 : 1);
        }
      }
      return a.i - b.i;
    });
    candidates = keyed.map((k) => k.s);
  }

  const linkParams = selection.filter((p) => p.name !== '_count');
  linkParams.push({ name: '_count', modifier: '', value: String(count) });
  return {
    total: candidates.length,
    offset,
    count,
    page: candidates.slice(offset, offset + count),
    linkParams,
  };
}
