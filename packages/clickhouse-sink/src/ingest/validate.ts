/**
 * Validation of AuditRecords at the sink's door (docs/wire.md `/v1/audit`): every field of AUDIT_RECORD_FIELDS
 * present with its type and allowed values, no other field. Messages name the field and the rule, never the
 * value (values are PHI). Length limits on free text are generous on purpose: a rejected batch is quarantined by
 * the sender, so a limit must only stop garbage, never a real record.
 */
import {
  AUDIT_EVENT_TYPES,
  AUDIT_OUTCOME,
  AUDIT_RECORD_FIELDS,
  AUDIT_REQUEST_ENTRY_FIELDS,
  AUDIT_REQUEST_FIELDS,
  type AuditRecord,
  type AuditRequestEntry,
  type AuditRequestRecord,
  FHIR_INTERACTIONS,
  FHIR_VERSIONS,
} from '@fhirwatch/contract';

type Check = (value: unknown) => string | undefined;

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX32 = /^[0-9a-f]{32}$/;

const string =
  (max: number, options: { nonEmpty?: boolean } = {}): Check =>
  (value) => {
    if (typeof value !== 'string') return 'must be a string';
    if (options.nonEmpty === true && value.length === 0) return 'must not be empty';
    if (value.length > max) return `must be at most ${max} characters`;
    return undefined;
  };

const integer =
  (min: number, max: number): Check =>
  (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? undefined
      : `must be an integer from ${min} to ${max}`;

const oneOf = (allowed: readonly (string | number)[]): Check => {
  const set = new Set<unknown>(allowed);
  return (value) => (set.has(value) ? undefined : `must be one of ${allowed.join(', ')}`);
};

const pattern =
  (regex: RegExp, rule: string, allowEmpty = false): Check =>
  (value) => {
    if (typeof value !== 'string') return 'must be a string';
    if (allowEmpty && value === '') return undefined;
    return regex.test(value) ? undefined : `must be ${rule}`;
  };

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `i` as a number (NaN when not digits). */
function digits2(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : Number.NaN;
}

// Field checks by hand rather than `new Date(…)`: validation runs per record on the ingest hot path
// (measured: the Date round trip was the largest part of the validator's cost).
const eventTime: Check = (value) => {
  if (typeof value !== 'string') return 'must be a string';
  if (!ISO_MS_UTC.test(value)) return 'must be UTC ISO 8601 with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ)';
  const year = digits2(value, 0) * 100 + digits2(value, 2);
  const month = digits2(value, 5);
  const day = digits2(value, 8);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const maxDay = month === 2 && !leap ? 28 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (
    year < 1970 ||
    year > 2262 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > maxDay ||
    digits2(value, 11) > 23 ||
    digits2(value, 14) > 59 ||
    digits2(value, 17) > 59
  ) {
    return 'must be a valid date and time';
  }
  return undefined;
};

const CHECKS: Readonly<Record<keyof AuditRecord, Check>> = {
  event_id: pattern(UUID_V7, 'a lowercase UUIDv7'),
  event_time: eventTime,
  recorded_by: string(1024, { nonEmpty: true }),
  seq: integer(1, Number.MAX_SAFE_INTEGER),
  prev_hash: pattern(HEX64, "64 lowercase hex characters or ''", true),
  hash: pattern(HEX64, '64 lowercase hex characters'),
  // Empty when the request was refused before a tenant was known (bad token): still an access to account for.
  tenant_id: string(1024),
  routed_tenant_id: string(1024),
  client_id: string(1024),
  user_id: string(1024),
  user_name: string(4096),
  source_ip: string(256),
  user_agent: string(16_384),
  event_type: oneOf(AUDIT_EVENT_TYPES),
  fhir_interaction: oneOf(FHIR_INTERACTIONS),
  resource_type: pattern(/^[A-Za-z]{0,64}$/, 'a FHIR resource type name'),
  fhir_version: oneOf(FHIR_VERSIONS),
  query: string(1_048_576),
  patient_id: string(1024),
  batch_id: string(1024),
  entry_index: integer(-1, 2_147_483_647),
  trace_id: pattern(HEX32, "32 lowercase hex characters or ''", true),
  outcome: oneOf(Object.values(AUDIT_OUTCOME)),
  http_status: integer(0, 999),
  duration_ms: (value) =>
    typeof value === 'number' && Number.isFinite(value) && value >= 0 ? undefined : 'must be a number >= 0',
  // null = unknown (over the middleware's capture cap); -1 is how earlier middleware versions wrote unknown
  result_count: (value) => (value === null ? undefined : integer(-1, 4_294_967_295)(value)),
};

const FIELD_SET = new Set<string>(AUDIT_RECORD_FIELDS);

export interface RecordProblem {
  /** Offending field ('' when the value is not an object at all). */
  field: string;
  /** The rule it breaks (no value). */
  rule: string;
}

/** The first problem of a parsed record, or undefined when it is a valid AuditRecord. */
export function auditRecordProblem(value: unknown): RecordProblem | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { field: '', rule: 'must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  for (const field of AUDIT_RECORD_FIELDS) {
    const fieldValue = record[field];
    if (fieldValue === undefined) return { field, rule: 'is required' };
    const rule = CHECKS[field](fieldValue);
    if (rule !== undefined) return { field, rule };
  }
  // every field is present, so any extra key makes the count larger: scan for it only then
  if (Object.keys(record).length !== AUDIT_RECORD_FIELDS.length) {
    for (const key of Object.keys(record)) {
      if (!FIELD_SET.has(key)) {
        // a field name chosen by the sender, not a value; still, bound it and strip control characters
        return { field: key.slice(0, 64).replace(/[^\x20-\x7e]/g, '?'), rule: 'is not an AuditRecord field' };
      }
    }
  }
  return undefined;
}

export function isAuditRecord(value: unknown): value is AuditRecord {
  return auditRecordProblem(value) === undefined;
}

const REQUEST_CHECKS: Readonly<Record<Exclude<keyof AuditRequestRecord, 'entries'>, Check>> = {
  v: oneOf([2]),
  event_id: CHECKS.event_id,
  event_time: CHECKS.event_time,
  recorded_by: CHECKS.recorded_by,
  seq: CHECKS.seq,
  prev_hash: CHECKS.prev_hash,
  hash: CHECKS.hash,
  tenant_id: CHECKS.tenant_id,
  tenant_claimed: (value) => (typeof value === 'boolean' ? undefined : 'must be a boolean'),
  routed_tenant_id: CHECKS.routed_tenant_id,
  client_id: CHECKS.client_id,
  user_id: CHECKS.user_id,
  user_name: CHECKS.user_name,
  source_ip: CHECKS.source_ip,
  user_agent: CHECKS.user_agent,
  fhir_version: CHECKS.fhir_version,
  batch_id: CHECKS.batch_id,
  trace_id: CHECKS.trace_id,
  http_status: CHECKS.http_status,
  duration_ms: CHECKS.duration_ms,
};

const ENTRY_CHECKS: Readonly<Record<Exclude<keyof AuditRequestEntry, 'patient_ids'>, Check>> = {
  event_type: CHECKS.event_type,
  fhir_interaction: CHECKS.fhir_interaction,
  resource_type: CHECKS.resource_type,
  query: CHECKS.query,
  entry_index: CHECKS.entry_index,
  http_status: CHECKS.http_status,
  outcome: CHECKS.outcome,
  result_count: (value) => (value === null ? undefined : integer(0, 4_294_967_295)(value)),
};

const patientId = CHECKS.patient_id;
const REQUEST_FIELD_SET = new Set<string>(AUDIT_REQUEST_FIELDS);
const ENTRY_FIELD_SET = new Set<string>(AUDIT_REQUEST_ENTRY_FIELDS);
/** Per-patient rows one request may expand to (x_entry is UInt16; a list refresh of 100 patients is ~900). */
export const MAX_REQUEST_ROWS = 65_535;

function extraKey(record: Record<string, unknown>, known: Set<string>, what: string): RecordProblem | undefined {
  for (const key of Object.keys(record)) {
    if (!known.has(key)) {
      return { field: key.slice(0, 64).replace(/[^\x20-\x7e]/g, '?'), rule: `is not ${what} field` };
    }
  }
  return undefined;
}

const ok = (rule: string | undefined): boolean => rule === undefined;

/**
 * Whether a parsed request record is valid: the same checks as {@link requestProblem}, called field by field with
 * direct property reads (no loop over field names, no `RecordProblem` built), so the ingest hot path pays for the
 * rules only. Valid lines (nearly all) stop here; an invalid one is looked at again by requestProblem, which names
 * the first problem.
 */
function isValidRequest(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  const c = REQUEST_CHECKS;
  if (
    !(
      ok(c.v(r.v)) &&
      ok(c.event_id(r.event_id)) &&
      ok(c.event_time(r.event_time)) &&
      ok(c.recorded_by(r.recorded_by)) &&
      ok(c.seq(r.seq)) &&
      ok(c.prev_hash(r.prev_hash)) &&
      ok(c.hash(r.hash)) &&
      ok(c.tenant_id(r.tenant_id)) &&
      ok(c.tenant_claimed(r.tenant_claimed)) &&
      ok(c.routed_tenant_id(r.routed_tenant_id)) &&
      ok(c.client_id(r.client_id)) &&
      ok(c.user_id(r.user_id)) &&
      ok(c.user_name(r.user_name)) &&
      ok(c.source_ip(r.source_ip)) &&
      ok(c.user_agent(r.user_agent)) &&
      ok(c.fhir_version(r.fhir_version)) &&
      ok(c.batch_id(r.batch_id)) &&
      ok(c.trace_id(r.trace_id)) &&
      ok(c.http_status(r.http_status)) &&
      ok(c.duration_ms(r.duration_ms))
    )
  ) {
    return false;
  }
  const entries = r.entries;
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > 65_535) return false;
  const e = ENTRY_CHECKS;
  let rows = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as Record<string, unknown>;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return false;
    if (
      !(
        ok(e.event_type(entry.event_type)) &&
        ok(e.fhir_interaction(entry.fhir_interaction)) &&
        ok(e.resource_type(entry.resource_type)) &&
        ok(e.query(entry.query)) &&
        ok(e.entry_index(entry.entry_index)) &&
        ok(e.http_status(entry.http_status)) &&
        ok(e.outcome(entry.outcome)) &&
        ok(e.result_count(entry.result_count))
      )
    ) {
      return false;
    }
    const patients = entry.patient_ids;
    if (!Array.isArray(patients) || patients.length === 0) return false;
    for (let j = 0; j < patients.length; j++) if (!ok(patientId(patients[j]))) return false;
    rows += patients.length;
    if (Object.keys(entry).length !== AUDIT_REQUEST_ENTRY_FIELDS.length) return false;
  }
  return rows <= MAX_REQUEST_ROWS && Object.keys(r).length === AUDIT_REQUEST_FIELDS.length;
}

/** The first problem of a parsed request record (v2 wire line), or undefined when valid. */
export function auditRequestProblem(value: unknown): RecordProblem | undefined {
  return isValidRequest(value) ? undefined : requestProblem(value);
}

/** {@link auditRequestProblem} the slow way: each field in AUDIT_REQUEST_FIELDS order, the first problem named. */
function requestProblem(value: unknown): RecordProblem | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { field: '', rule: 'must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  for (const field of AUDIT_REQUEST_FIELDS) {
    if (field === 'entries') continue;
    const fieldValue = record[field];
    if (fieldValue === undefined) return { field, rule: 'is required' };
    const rule = REQUEST_CHECKS[field](fieldValue);
    if (rule !== undefined) return { field, rule };
  }
  const entries = record.entries;
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > 65_535) {
    return { field: 'entries', rule: 'must be an array of 1 to 65535 entries' };
  }
  let rows = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as Record<string, unknown>;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      return { field: `entries[${i}]`, rule: 'must be a JSON object' };
    }
    for (const field of AUDIT_REQUEST_ENTRY_FIELDS) {
      if (field === 'patient_ids') continue;
      const fieldValue = entry[field];
      if (fieldValue === undefined) return { field: `entries[${i}].${field}`, rule: 'is required' };
      const rule = ENTRY_CHECKS[field](fieldValue);
      if (rule !== undefined) return { field: `entries[${i}].${field}`, rule };
    }
    const patients = entry.patient_ids;
    if (!Array.isArray(patients) || patients.length === 0) {
      return { field: `entries[${i}].patient_ids`, rule: "must be a non-empty array ('' = no patient)" };
    }
    for (const p of patients) {
      const rule = patientId(p);
      if (rule !== undefined) return { field: `entries[${i}].patient_ids`, rule: `items ${rule}` };
    }
    rows += patients.length;
    if (Object.keys(entry).length !== AUDIT_REQUEST_ENTRY_FIELDS.length) {
      const extra = extraKey(entry, ENTRY_FIELD_SET, 'an audit request entry');
      if (extra !== undefined) return { field: `entries[${i}].${extra.field}`, rule: extra.rule };
    }
  }
  if (rows > MAX_REQUEST_ROWS) return { field: 'entries', rule: `must expand to at most ${MAX_REQUEST_ROWS} rows` };
  if (Object.keys(record).length !== AUDIT_REQUEST_FIELDS.length) {
    return extraKey(record, REQUEST_FIELD_SET, 'an audit request');
  }
  return undefined;
}
