/**
 * Small, allocation-light helpers over untrusted JSON and FHIR references, shared by the
 * classifier and the field checker. Nothing here throws on any input.
 */

/** Own property of an object-like value, or undefined (never follows the prototype chain). */
export function own(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

/** Own string property, or undefined. */
export function ownString(value: unknown, key: string): string | undefined {
  const v = own(value, key);
  return typeof v === 'string' ? v : undefined;
}

/** Own array property, or an empty array. */
export function ownArray(value: unknown, key: string): readonly unknown[] {
  const v = own(value, key);
  return Array.isArray(v) ? v : EMPTY;
}

const EMPTY: readonly unknown[] = Object.freeze([]);

/** Percent-decode a path segment (no `+` rule); a malformed escape is kept as sent. */
export function pathDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Logical id of `type` in a FHIR reference: `Patient/123`, `/Patient/123/_history/2`,
 * `https://host/fhir/Patient/123`. With `bareIdOk`, a reference without a type (`123`) is taken as
 * an id of `type` (search parameters such as `patient=123`). Contained (`#x`) and `urn:` references
 * yield undefined.
 */
export function referenceId(reference: string, type: string, bareIdOk: boolean): string | undefined {
  if (reference === '' || reference.startsWith('#') || reference.startsWith('urn:')) return undefined;
  const q = reference.indexOf('?');
  const ref = q === -1 ? reference : reference.slice(0, q);
  if (!ref.includes('/')) return bareIdOk ? ref : undefined;
  const marker = type + '/';
  let start: number;
  if (ref.startsWith(marker)) start = marker.length;
  else {
    // Absolute or rooted (`https://host/fhir/Patient/1/_history/2`): the last `/Patient/` segment.
    const at = ref.lastIndexOf('/' + marker);
    if (at === -1) return undefined;
    start = at + 1 + marker.length;
  }
  const end = ref.indexOf('/', start);
  const id = pathDecode(end === -1 ? ref.slice(start) : ref.slice(start, end));
  return id === '' ? undefined : id;
}

/** Patient id of a Reference object (`{ reference: 'Patient/1' }`), or undefined. */
export function patientOfReference(value: unknown): string | undefined {
  const ref = ownString(value, 'reference');
  return ref === undefined ? undefined : referenceId(ref, 'Patient', false);
}

/** Append to `out` unless already there (small lists: linear scan beats a Set for < ~20 ids). */
export function pushUnique(out: string[], id: string): void {
  if (id !== '' && !out.includes(id)) out.push(id);
}
