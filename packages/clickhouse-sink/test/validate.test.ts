/**
 * Request-record validation at the sink's door (src/ingest/validate.ts): a valid request passes; each field of a
 * request and of an entry, broken in each way it can be, is refused and named (the fast path for valid lines must
 * never let one of these through, and the problem named is the first one, in wire field order).
 */
import type { AUDIT_REQUEST_ENTRY_FIELDS, AUDIT_REQUEST_FIELDS, AuditRequestRecord } from '@fhirwatch/contract';
import { describe, expect, it } from 'vitest';
import { auditRequestProblem } from '../src/ingest/validate.ts';
import { generateRequests } from './records.ts';

const valid = (): Record<string, unknown> => {
  const { requests } = generateRequests({ count: 4, patients: 100 });
  // request 0 is a list refresh (many entries), request 3 a search
  return JSON.parse(JSON.stringify(requests[0])) as Record<string, unknown>;
};

/** Bad values of each request field (every check refuses a missing field as well). */
const BAD_REQUEST: Record<Exclude<(typeof AUDIT_REQUEST_FIELDS)[number], 'entries'>, unknown[]> = {
  v: [1, 3, '2', null],
  event_id: ['not-a-uuid', '0192a1b2-c3d4-4e5f-8a6b-7c8d9e0f1a2b', '0192A1B2-C3D4-7E5F-8A6B-7C8D9E0F1A2B', 7],
  event_time: [
    '2026-11-25 13:00:00',
    '2026-02-30T10:00:00.000Z',
    '2026-11-25T24:00:00.000Z',
    '1969-12-31T23:59:59.999Z',
    0,
  ],
  recorded_by: ['', 'x'.repeat(1025), 1],
  seq: [0, -1, 1.5, '1', Number.MAX_SAFE_INTEGER + 2],
  prev_hash: ['A'.repeat(64), 'a'.repeat(63), null],
  hash: ['', 'g'.repeat(64)],
  tenant_id: ['t'.repeat(1025), 5],
  tenant_claimed: [0, 'false', null],
  routed_tenant_id: [null, 't'.repeat(1025)],
  client_id: [[], 'c'.repeat(1025)],
  user_id: [{}, 'u'.repeat(1025)],
  user_name: ['n'.repeat(4097), 1],
  source_ip: ['1'.repeat(257), 1],
  user_agent: ['a'.repeat(16_385), false],
  fhir_version: ['R5', '', 4],
  batch_id: ['b'.repeat(1025), 1],
  trace_id: ['A'.repeat(32), 'a'.repeat(31), 1],
  http_status: [-1, 1000, 200.5, '200'],
  duration_ms: [-0.5, Number.NaN, '1', null],
};

const BAD_ENTRY: Record<Exclude<(typeof AUDIT_REQUEST_ENTRY_FIELDS)[number], 'patient_ids'>, unknown[]> = {
  event_type: ['PatientDelete', '', 1],
  fhir_interaction: ['delete-all', null],
  resource_type: ['Patient1', 'a'.repeat(65), 'Pat ient', 1],
  query: ['q'.repeat(1_048_577), 1, null],
  entry_index: [-2, 2_147_483_648, 0.5, '0'],
  http_status: [1000, -1, '200'],
  outcome: [3, 1, '0', null],
  result_count: [-1, 4_294_967_296, 1.5, '3'],
};

describe('request record validation', () => {
  it('accepts valid requests (list refreshes and searches, with null result counts)', () => {
    const { requests } = generateRequests({ count: 40, patients: 100 });
    for (const r of requests) expect(auditRequestProblem(JSON.parse(JSON.stringify(r)))).toBeUndefined();
  });

  for (const [field, values] of Object.entries(BAD_REQUEST)) {
    it(`refuses a bad or missing request field: ${field}`, () => {
      for (const bad of [...values, undefined]) {
        const r = valid();
        if (bad === undefined) delete r[field];
        else r[field] = bad;
        expect(auditRequestProblem(r)?.field).toBe(field);
      }
    });
  }

  for (const [field, values] of Object.entries(BAD_ENTRY)) {
    it(`refuses a bad or missing entry field in any entry: ${field}`, () => {
      for (const bad of [...values, undefined]) {
        for (const at of [0, 5, 35]) {
          const r = valid();
          const entry = (r.entries as Record<string, unknown>[])[at]!;
          if (bad === undefined) delete entry[field];
          else entry[field] = bad;
          expect(auditRequestProblem(r)?.field).toBe(`entries[${at}].${field}`);
        }
      }
    });
  }

  it('refuses bad patient lists, entry lists, unknown keys and non-objects', () => {
    const at = (
      mutate: (r: Record<string, unknown>, entries: Record<string, unknown>[]) => void,
    ): string | undefined => {
      const r = valid();
      mutate(r, r.entries as Record<string, unknown>[]);
      return auditRequestProblem(r)?.field;
    };
    expect(at((_r, e) => (e[2]!.patient_ids = []))).toBe('entries[2].patient_ids');
    expect(at((_r, e) => (e[2]!.patient_ids = ['p1', 7]))).toBe('entries[2].patient_ids');
    expect(at((_r, e) => (e[2]!.patient_ids = ['x'.repeat(1025)]))).toBe('entries[2].patient_ids');
    expect(at((_r, e) => (e[2]!.patient_ids = 'p1'))).toBe('entries[2].patient_ids');
    expect(at((_r, e) => (e[4]!.extra = 1))).toBe('entries[4].extra');
    expect(at((_r, e) => (e[4] = null as never))).toBe('entries[4]');
    expect(at((_r, e) => (e[4] = ['a'] as never))).toBe('entries[4]');
    expect(at((r) => (r.entries = []))).toBe('entries');
    expect(at((r) => (r.entries = {}))).toBe('entries');
    expect(at((r) => Reflect.set(r, 'constructor', 'x'))).toBe('constructor');
    expect(at((r) => (r.__proto_x = 1))).toBe('__proto_x');
    // a prototype name as a key of the parsed line
    expect(
      auditRequestProblem(JSON.parse(JSON.stringify(valid()).replace(/^\{/, '{"__proto__":{"a":1},')))?.field,
    ).toBe('__proto__');
    const many = valid();
    const entry = (many.entries as Record<string, unknown>[])[0]!;
    entry.patient_ids = Array.from({ length: 65_536 }, (_, i) => `p${i}`);
    expect(auditRequestProblem(many)).toEqual({ field: 'entries', rule: 'must expand to at most 65535 rows' });
    for (const notObject of [null, [], 'x', 2])
      expect(auditRequestProblem(notObject)?.rule).toBe('must be a JSON object');
  });

  it('names the first problem in wire order when several fields are bad', () => {
    const r = valid() as Record<string, unknown> & AuditRequestRecord;
    r.user_agent = 7 as never;
    r.seq = -1;
    (r.entries[1] as unknown as Record<string, unknown>).outcome = 9;
    expect(auditRequestProblem(r)).toEqual({
      field: 'seq',
      rule: `must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`,
    });
  });
});
