/**
 * Query-string options of the query API. The parameter names are the `fhirwatch audit` CLI's long option names
 * (`since`, `from`, `to`, `tenant`, `patient` (repeatable), `patient-mrn`, `user`, `granularity`, …), so a CLI
 * that forwards its parsed options as `URLSearchParams` asks the sink exactly what it would ask the store.
 */

import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../compliance/errors.ts';
import type { AuditEventShape } from '../compliance/fhir/audit-event.ts';
import { OUTPUT_FORMATS, type OutputFormat } from '../compliance/format/index.ts';
import type { ReportOptions } from '../compliance/types.ts';

const invalid = (message: string): AuditQueryError =>
  new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, message);

/** One value; a repeated single-valued parameter is an error rather than a silent pick. */
export function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw invalid(`parameter '${name}' given more than once`);
  return values[0];
}

/** Repeatable parameter; each occurrence may also hold a comma-separated list. Empty entries are dropped. */
export function list(query: URLSearchParams, name: string): string[] {
  return query
    .getAll(name)
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

const MAX_UINT32 = 4_294_967_295;

export function number(query: URLSearchParams, name: string, integer: boolean): number | undefined {
  const raw = single(query, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  // integers go to ClickHouse as UInt32: larger ones are the caller's error, not a failed query
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && (!Number.isInteger(n) || n > MAX_UINT32))) {
    throw invalid(`parameter '${name}' must be a non-negative ${integer ? `integer up to ${MAX_UINT32}` : 'number'}`);
  }
  return n;
}

export function flag(query: URLSearchParams, name: string): boolean {
  const raw = single(query, name);
  if (raw === undefined) return false;
  if (raw === '' || raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw invalid(`parameter '${name}' must be true or false`);
}

/** Time range and tenant, as every report takes them. */
export function scope(query: URLSearchParams): ReportOptions {
  const options: ReportOptions = {};
  const since = single(query, 'since');
  const from = single(query, 'from');
  const to = single(query, 'to');
  const tenant = single(query, 'tenant');
  if (since !== undefined && since !== '') options.since = since;
  if (from !== undefined && from !== '') options.from = from;
  if (to !== undefined && to !== '') options.to = to;
  if (tenant !== undefined && tenant !== '') options.tenant = tenant;
  return options;
}

export interface OutputChoice {
  format: OutputFormat;
  fhirShape: AuditEventShape;
}

/** `format` (json by default over HTTP) and `fhir-shape` (r4 | stu3). */
export function output(query: URLSearchParams): OutputChoice {
  const format = (single(query, 'format') ?? 'json') as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) throw invalid(`parameter 'format' must be one of ${OUTPUT_FORMATS.join(', ')}`);
  const shape = (single(query, 'fhir-shape') ?? 'r4').toUpperCase();
  if (shape !== 'R4' && shape !== 'STU3') throw invalid("parameter 'fhir-shape' must be r4 or stu3");
  return { format, fhirShape: shape };
}

/** Parameters as recorded in audit_query_log: every name with all its values. */
export function parametersForLog(query: URLSearchParams): Record<string, string | string[]> {
  // no prototype: a parameter named __proto__ is a parameter like any other
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const name of new Set(query.keys())) {
    const values = query.getAll(name);
    out[name] = values.length === 1 ? (values[0] as string) : values;
  }
  return out;
}
