/**
 * The request record (audit-request.ts) and the HMAC chain (audit-chain.ts): expansion into exactly the
 * per-patient rows, deterministic per-patient event ids, the canonical forms (v2, and v1 = the legacy
 * record's own), and the chain walk with node:crypto passed in.
 */
import * as crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type AuditRecord,
  type AuditRequestRecord,
  auditRecordCanonical,
  auditRequestCanonical,
  ChainWalker,
  chainHasher,
  expandRequestRecord,
  expansionSize,
  firstChainBreak,
  perPatientEventId,
  requestFromAuditRecord,
  signChain,
} from '../src/index.ts';

const ID = '019a5000-1234-7abc-8def-0123456789ab';

function request(over: Partial<AuditRequestRecord> = {}): AuditRequestRecord {
  return {
    v: 2,
    event_id: ID,
    event_time: '2026-11-25T13:11:30.123Z',
    recorded_by: 'gw',
    seq: 1,
    prev_hash: '',
    hash: '',
    tenant_id: 't',
    tenant_claimed: false,
    routed_tenant_id: 't',
    client_id: 'c',
    user_id: 'u',
    user_name: 'Zoë "Z" O\'Brien \\ {x}\n\u2028',
    source_ip: '::1',
    user_agent: '😀',
    fhir_version: 'STU3',
    batch_id: '019a5000-1234-7abc-8def-000000000001',
    trace_id: '',
    http_status: 200,
    duration_ms: 1.23456,
    entries: [
      {
        event_type: 'VitalSignsView',
        fhir_interaction: 'search-type',
        resource_type: 'Observation',
        query: 'patient=a&category=vital-signs',
        entry_index: 0,
        http_status: 200,
        outcome: 0,
        result_count: 4,
        patient_ids: ['a'],
      },
      {
        event_type: 'LocationView',
        fhir_interaction: 'read',
        resource_type: 'Location',
        query: '',
        entry_index: 1,
        http_status: 404,
        outcome: 4,
        result_count: null,
        patient_ids: ['a', 'b'],
      },
      {
        event_type: 'PatientListView',
        fhir_interaction: 'batch',
        resource_type: 'Bundle',
        query: '',
        entry_index: -1,
        http_status: 200,
        outcome: 0,
        result_count: 2,
        patient_ids: ['a', 'b'],
      },
    ],
    ...over,
  };
}

describe('expandRequestRecord', () => {
  it('yields one row per patient per entry, in order, with the request fields and the entry’s own', () => {
    const r = request();
    const rows = expandRequestRecord(r);
    expect(rows).toHaveLength(expansionSize(r));
    expect(
      rows.map((x) => [x.event_type, x.patient_id, x.entry_index, x.http_status, x.outcome, x.result_count]),
    ).toEqual([
      ['VitalSignsView', 'a', 0, 200, 0, 4],
      ['LocationView', 'a', 1, 404, 4, null],
      ['LocationView', 'b', 1, 404, 4, null],
      ['PatientListView', 'a', -1, 200, 0, 2],
      ['PatientListView', 'b', -1, 200, 0, 2],
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({ seq: 1, hash: '', batch_id: r.batch_id, user_name: r.user_name, duration_ms: 1.235 });
    }
  });

  it('derives distinct, deterministic UUIDv7 per-patient ids; ordinal 0 keeps the request id', () => {
    const ids = expandRequestRecord(request()).map((x) => x.event_id);
    expect(ids[0]).toBe(ID);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expandRequestRecord(request()).map((x) => x.event_id));
    for (const id of ids) expect(id).toMatch(/^019a5000-1234-7abc-8def-[0-9a-f]{12}$/);
    expect(perPatientEventId(ID, 3)).toBe('019a5000-1234-7abc-8def-0123456789a8');
    expect(perPatientEventId('019a5000-1234-7abc-8def-0000ffffffff', 1)).toBe('019a5000-1234-7abc-8def-0000fffffffe');
  });

  it('a legacy record lifted into a v1 request expands back to itself (-1 result count read as unknown)', () => {
    const legacy = expandRequestRecord(request({ v: 1 }))[0] as AuditRecord;
    const lifted = requestFromAuditRecord({ ...legacy, result_count: 7 });
    expect(expandRequestRecord(lifted)).toEqual([{ ...legacy, result_count: 7 }]);
    expect(expandRequestRecord(requestFromAuditRecord({ ...legacy, result_count: -1 }))[0]?.result_count).toBeNull();
  });
});

describe('canonical forms', () => {
  it('v2: a JSON array starting with 2, every field but hash, duration rounded; v1: the legacy record’s own', () => {
    const r = request({ hash: 'x'.repeat(64) });
    const canonical = JSON.parse(auditRequestCanonical(r)) as unknown[];
    expect(canonical[0]).toBe(2);
    expect(canonical).not.toContain(r.hash);
    expect(canonical).toContain(1.235);
    expect(auditRequestCanonical({ ...r, hash: 'y' })).toBe(auditRequestCanonical(r));
    const legacy = expandRequestRecord(request())[0] as AuditRecord;
    expect(auditRequestCanonical(requestFromAuditRecord({ ...legacy, result_count: -1 }))).toBe(
      auditRecordCanonical({ ...legacy, result_count: -1 }),
    );
  });

  it('changes with any field, including a patient id and the claimed-tenant flag', () => {
    const base = auditRequestCanonical(request());
    expect(auditRequestCanonical(request({ tenant_claimed: true }))).not.toBe(base);
    const other = request();
    (other.entries[1] as { patient_ids: string[] }).patient_ids = ['a', 'c'];
    expect(auditRequestCanonical(other)).not.toBe(base);
  });
});

describe('the HMAC chain (node:crypto passed in)', () => {
  const hasher = chainHasher(crypto, 'secret');

  it('is HMAC-SHA256 over prev_hash + canonical, with a string, byte or KeyObject key', () => {
    const expected = crypto
      .createHmac('sha256', 'secret')
      .update('abc' + 'def')
      .digest('hex');
    expect(hasher('abc', 'def')).toBe(expected);
    expect(chainHasher(crypto, new TextEncoder().encode('secret'))('abc', 'def')).toBe(expected);
    expect(chainHasher(crypto, crypto.createSecretKey(Buffer.from('secret')))('abc', 'def')).toBe(expected);
  });

  it('signs and walks a chain; finds an altered record, a gap and a wrong prev_hash', () => {
    const list = [0, 1, 2, 3].map((i) => request({ event_id: perPatientEventId(ID, 100 + i) }));
    const end = signChain(hasher, list, auditRequestCanonical);
    expect(end).toEqual({ seq: 4, hash: list[3]?.hash });
    expect(list.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(list[1]?.prev_hash).toBe(list[0]?.hash);
    expect(firstChainBreak(hasher, list, auditRequestCanonical)).toBeUndefined();
    const altered = list.map((r) => structuredClone(r));
    (altered[2] as AuditRequestRecord).client_id = 'other';
    expect(firstChainBreak(hasher, altered, auditRequestCanonical)).toEqual({
      index: 2,
      seq: 3,
      reason: 'hash-mismatch',
    });
    expect(firstChainBreak(hasher, [list[0], list[2]] as AuditRequestRecord[], auditRequestCanonical)).toEqual({
      index: 1,
      seq: 3,
      reason: 'seq-gap',
    });
    const walker = new ChainWalker(hasher);
    expect(walker.next(list[0] as AuditRequestRecord, auditRequestCanonical(list[0] as AuditRequestRecord))).toEqual(
      [],
    );
    const forked = { ...(list[1] as AuditRequestRecord), prev_hash: 'f'.repeat(64) };
    expect(walker.next(forked, auditRequestCanonical(forked))).toEqual(['prev-hash-mismatch', 'hash-mismatch']);
  });

  it('a trusted start (older links dropped by retention) takes the first link as given', () => {
    const list = [0, 1, 2].map((i) => request({ event_id: perPatientEventId(ID, 200 + i) }));
    signChain(hasher, list, auditRequestCanonical, { seq: 41, hash: 'a'.repeat(64) });
    const walker = new ChainWalker(hasher, { seq: 0, hash: '' }, { trustFirstPrevHash: true });
    for (const r of list) expect(walker.next(r, auditRequestCanonical(r))).toEqual([]);
    expect(walker.position.seq).toBe(44);
  });
});
