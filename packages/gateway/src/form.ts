/**
 * Strict application/x-www-form-urlencoded parsing (WHATWG URL §5 with '+' as space) that reports
 * malformed percent-encoding instead of passing it through, as URLSearchParams would.
 */

/** Decode one form component; undefined when its percent-encoding is malformed. */
export function formDecodeComponent(value: string): string | undefined {
  const spaced = value.includes('+') ? value.replaceAll('+', ' ') : value;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}

/** Name → values, in order; undefined when any component is malformed. */
export function parseForm(body: string): Map<string, string[]> | undefined {
  const out = new Map<string, string[]>();
  if (body === '') return out;
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = formDecodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = formDecodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
    if (name === undefined || value === undefined) return undefined;
    const list = out.get(name);
    if (list === undefined) out.set(name, [value]);
    else list.push(value);
  }
  return out;
}

/** True when every `&`-separated component of a query string decodes. */
export function isWellFormedQuery(query: string): boolean {
  if (!query.includes('%')) return true;
  for (const part of query.split('&')) {
    if (!part.includes('%')) continue;
    const eq = part.indexOf('=');
    if (formDecodeComponent(eq === -1 ? part : part.slice(0, eq)) === undefined) return false;
    if (eq !== -1 && formDecodeComponent(part.slice(eq + 1)) === undefined) return false;
  }
  return true;
}
