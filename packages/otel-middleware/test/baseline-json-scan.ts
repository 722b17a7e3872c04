/**
 * Shallow projection of a FHIR response body for disclosure, without `JSON.parse` of the whole text.
 *
 * The disclosure functions of `@fhirwatch/contract` (`disclosedPatients`, `disclosedPatientsInBatch`)
 * and the batch entry statuses read only a few members: the Bundle's `resourceType`/`type`/`total`,
 * each entry's `search`/`response`, and of each returned resource its `resourceType`, `id` and patient
 * references (`patient`, `subject`, `beneficiary`, `subscriber`, and an Encounter's `location`).
 * `projectBody` walks the text once, skips every other value by scanning (strings jumped with a
 * native `indexOf`, brackets counted with a stack so `{]` is refused), and `JSON.parse`s only those
 * small slices. The result has the same shape, for those members, as `JSON.parse(text)`, so the
 * contract's functions give the same answer on it (tested against `JSON.parse` on tricky inputs).
 *
 * Validation: the parts it parses are parsed by `JSON.parse` (a bad slice makes the whole body
 * `undefined`, like a failed `JSON.parse`); skipped values are checked for string termination and
 * bracket balance only, so a body that is malformed *inside a skipped value* is still projected. For
 * an audit that errs on the side of recording the patients a response names, not of dropping them.
 *
 * `resources` chooses per batch entry (or for the single response, index -1) how much of the returned
 * resources to keep: `'patients'` (the fields above) or `'types'` (`resourceType` only: enough for
 * `result_count`, no patient references parsed).
 */

const QUOTE = 34;
const BACKSLASH = 92;
const LBRACE = 123;
const RBRACE = 125;
const LBRACK = 91;
const RBRACK = 93;
const COLON = 58;
const COMMA = 44;

export type ResourceDetail = 'patients' | 'types';

/** Members kept of a returned resource at detail `patients`. */
const PATIENT_MEMBERS = new Set(['resourceType', 'id', 'patient', 'subject', 'beneficiary', 'subscriber', 'location']);

class Malformed extends Error {}

const CLOSERS = new Uint8Array(512);
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings
const CONTROL = /[\u0000-\u001f]/;
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipWs(t: string, i: number): number {
  while (i < t.length && isWs(t.charCodeAt(i))) i++;
  return i;
}

/** End (exclusive) of the string literal starting at `i` (`t[i]` is `"`). */
function stringEnd(t: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = t.indexOf('"', from);
    if (q === -1) throw new Malformed();
    let k = q - 1;
    let backslashes = 0;
    while (k > i && t.charCodeAt(k) === BACKSLASH) {
      backslashes++;
      k--;
    }
    if ((backslashes & 1) === 0) return q + 1;
    from = q + 1;
  }
}

/** End (exclusive) of the value starting at `i` (no leading whitespace). */
function valueEnd(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === QUOTE) return stringEnd(t, i);
  if (c === LBRACE || c === LBRACK) {
    // valueEnd is not re-entered, so one shared stack of expected closers serves every call.
    let depth = 0;
    let j = i;
    const n = t.length;
    while (j < n) {
      const d = t.charCodeAt(j);
      if (d === QUOTE) {
        j = stringEnd(t, j);
        continue;
      }
      if (d === LBRACE || d === LBRACK) {
        if (depth === CLOSERS.length) throw new Malformed(); // deeper than any FHIR resource
        CLOSERS[depth++] = d + 2; // '{' + 2 = '}', '[' + 2 = ']'
      } else if (d === RBRACE || d === RBRACK) {
        if (depth === 0 || CLOSERS[--depth] !== d) throw new Malformed();
        if (depth === 0) return j + 1;
      }
      j++;
    }
    throw new Malformed();
  }
  let j = i;
  while (j < t.length) {
    const d = t.charCodeAt(j);
    if (d === COMMA || d === RBRACE || d === RBRACK || d === COLON || isWs(d)) break;
    j++;
  }
  if (j === i) throw new Malformed();
  const token = t.slice(i, j);
  if (token !== 'true' && token !== 'false' && token !== 'null' && !NUMBER.test(token)) throw new Malformed();
  return j;
}

/** Walk the object at `i`, calling `visit(key, valueStart)` (which returns the value's end); returns the object's end. */
function walkObject(t: string, i: number, visit: (key: string, start: number) => number): number {
  if (t.charCodeAt(i) !== LBRACE) throw new Malformed();
  let j = skipWs(t, i + 1);
  if (t.charCodeAt(j) === RBRACE) return j + 1;
  for (;;) {
    if (t.charCodeAt(j) !== QUOTE) throw new Malformed();
    const keyEnd = stringEnd(t, j);
    const raw = t.slice(j + 1, keyEnd - 1);
    const key = raw.indexOf('\\') === -1 ? raw : (JSON.parse(t.slice(j, keyEnd)) as string);
    j = skipWs(t, keyEnd);
    if (t.charCodeAt(j) !== COLON) throw new Malformed();
    j = skipWs(t, visit(key, skipWs(t, j + 1)));
    const d = t.charCodeAt(j);
    if (d === RBRACE) return j + 1;
    if (d !== COMMA) throw new Malformed();
    j = skipWs(t, j + 1);
  }
}

/** Walk the array at `i`, calling `visit(index, valueStart)` (which returns the value's end); returns the array's end. */
function walkArray(t: string, i: number, visit: (index: number, start: number) => number): number {
  if (t.charCodeAt(i) !== LBRACK) throw new Malformed();
  let j = skipWs(t, i + 1);
  if (t.charCodeAt(j) === RBRACK) return j + 1;
  for (let index = 0; ; index++) {
    j = skipWs(t, visit(index, j));
    const d = t.charCodeAt(j);
    if (d === RBRACK) return j + 1;
    if (d !== COMMA) throw new Malformed();
    j = skipWs(t, j + 1);
  }
}

/** `{"mode":"match"}`, the search member of almost every searchset entry: not re-parsed each time. */
const MATCH_TEXT = '{"mode":"match"}';

/** Parse the value at `start` (JSON.parse, with fast paths for plain strings and `{"mode":"match"}`); returns [value, end]. */
function parseAt(t: string, start: number): [unknown, number] {
  const end = valueEnd(t, start);
  const c = t.charCodeAt(start);
  if (c === QUOTE) {
    const inner = t.slice(start + 1, end - 1);
    // No escape: the characters are the value (control characters must be escaped, so refuse them).
    if (inner.indexOf('\\') === -1 && !CONTROL.test(inner)) return [inner, end];
  } else if (c === LBRACE && end - start === MATCH_TEXT.length && t.startsWith(MATCH_TEXT, start)) {
    return [{ mode: 'match' }, end];
  }
  return [JSON.parse(t.slice(start, end)), end];
}

const TYPE_ONLY = new Set(['resourceType']);

/** A returned resource: its resourceType (and patient members at `patients`). Returns [projection, end]. */
function projectResource(t: string, i: number, detail: ResourceDetail): [unknown, number] {
  if (t.charCodeAt(i) !== LBRACE) return parseAt(t, i);
  if (detail === 'types') {
    // Fast path: `resourceType` as the first member (what FHIR servers write): read it, then skip
    // the whole resource in one scan. A later duplicate `resourceType` (JSON.parse keeps the last)
    // is not looked for here: not valid FHIR, and the count is informational.
    const j = skipWs(t, i + 1);
    if (t.startsWith('"resourceType"', j)) {
      const colon = skipWs(t, j + 14);
      if (t.charCodeAt(colon) === COLON) {
        const vs = skipWs(t, colon + 1);
        const [type] = parseAt(t, vs);
        return [{ resourceType: type }, valueEnd(t, i)];
      }
    }
  }
  const wanted = detail === 'patients' ? PATIENT_MEMBERS : TYPE_ONLY;
  const out: Record<string, unknown> = {};
  const end = walkObject(t, i, (key, start) => {
    if (!wanted.has(key)) return valueEnd(t, start);
    const [value, e] = parseAt(t, start);
    out[key] = value;
    return e;
  });
  return [out, end];
}

/** A searchset entry: `search` and the projected `resource`. */
function projectEntry(t: string, i: number, detail: ResourceDetail): [unknown, number] {
  if (t.charCodeAt(i) !== LBRACE) return parseAt(t, i);
  const entry: Record<string, unknown> = {};
  const end = walkObject(t, i, (key, start) => {
    if (key === 'search') {
      const [value, e] = parseAt(t, start);
      entry.search = value;
      return e;
    }
    if (key === 'resource') {
      const [value, e] = projectResource(t, start, detail);
      entry.resource = value;
      return e;
    }
    return valueEnd(t, start);
  });
  return [entry, end];
}

/**
 * A response body, one level deep: a Bundle (`resourceType`, `type`, `total`, projected entries) or a
 * single resource. One pass: `resourceType` may come after `entry`, so both shapes are collected and
 * the right one kept at the end.
 */
function projectResponse(t: string, i: number, detail: ResourceDetail): [unknown, number] {
  if (t.charCodeAt(i) !== LBRACE) return parseAt(t, i);
  const wanted = detail === 'patients' ? PATIENT_MEMBERS : TYPE_ONLY;
  const bundle: Record<string, unknown> = {};
  const resource: Record<string, unknown> = {};
  const end = walkObject(t, i, (key, start) => {
    if (key === 'entry' && t.charCodeAt(start) === LBRACK) {
      const entries: unknown[] = [];
      const e = walkArray(t, start, (_index, s) => {
        const [entry, ee] = projectEntry(t, s, detail);
        entries.push(entry);
        return ee;
      });
      bundle.entry = entries;
      return e;
    }
    const isBundleKey = key === 'resourceType' || key === 'type' || key === 'total' || key === 'entry';
    if (!isBundleKey && !wanted.has(key)) return valueEnd(t, start);
    const [value, e] = parseAt(t, start);
    if (isBundleKey) bundle[key] = value;
    if (wanted.has(key)) resource[key] = value;
    return e;
  });
  return [bundle.resourceType === 'Bundle' ? bundle : resource, end];
}

/**
 * Projection of a response body for disclosure: same answer as `JSON.parse(text)` for the contract's
 * disclosure functions and batch entry statuses, `undefined` when the text is not JSON. For a
 * `batch-response`, entry i's `resource` is projected at `detail(i)` (`undefined` = skipped: only
 * its `response` is kept); for any other body, at `detail(-1)`.
 */
export function projectBody(
  text: string,
  batch: boolean,
  detail: (entryIndex: number) => ResourceDetail | undefined,
): unknown {
  try {
    const i = skipWs(text, 0);
    let value: unknown;
    let end: number;
    if (!batch || text.charCodeAt(i) !== LBRACE) {
      const d = detail(-1);
      if (d === undefined) return undefined;
      [value, end] = projectResponse(text, i, d);
    } else {
      const out: Record<string, unknown> = {};
      end = walkObject(text, i, (key, start) => {
        if (key === 'entry' && text.charCodeAt(start) === LBRACK) {
          const entries: unknown[] = [];
          const e = walkArray(text, start, (index, s) => {
            if (text.charCodeAt(s) !== LBRACE) {
              const [v, ve] = parseAt(text, s);
              entries.push(v);
              return ve;
            }
            const entry: Record<string, unknown> = {};
            const d = detail(index);
            entries.push(entry);
            return walkObject(text, s, (k, vs) => {
              if (k === 'response') {
                const [v, ve] = parseAt(text, vs);
                entry.response = v;
                return ve;
              }
              if (k === 'resource' && d !== undefined) {
                const [v, ve] = projectResponse(text, vs, d);
                entry.resource = v;
                return ve;
              }
              if (k === 'resource') delete entry.resource;
              return valueEnd(text, vs);
            });
          });
          out.entry = entries;
          return e;
        }
        if (key !== 'resourceType' && key !== 'type' && key !== 'total' && key !== 'entry') {
          return valueEnd(text, start);
        }
        const [v, e] = parseAt(text, start);
        out[key] = v;
        return e;
      });
      value = out;
    }
    if (skipWs(text, end) !== text.length) return undefined;
    return value;
  } catch {
    return undefined;
  }
}
