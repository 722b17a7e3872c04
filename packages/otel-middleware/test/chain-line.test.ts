/**
 * chainLine (one-pass canonical form + HMAC + JSON line) against the reference: chainHash over
 * auditRecordCanonical, and JSON.parse of the line equal to the record, for hostile field values.
 */
import type { AuditRecord } from '@fhirwatch/contract';
import { describe, expect, it } from 'vitest';
import { chainHash, chainKey, chainLine, verifyChain } from '../src/chain.ts';

function record(over: Partial<AuditRecord>): Omit<AuditRecord, 'hash'> {
  return {
    event_id: '0190a0b0-0000-7000-8000-000000000000',
    event_time: '2026-11-25T13:11:30.123Z',
    recorded_by: 'gw',
    seq: 1,
    prev_hash: '',
    tenant_id: 't',
    routed_tenant_id: 't',
    client_id: 'c',
    user_id: '',
    user_name: '',
    source_ip: '::1',
    user_agent: 'ua',
    event_type: 'PatientSearch',
    fhir_interaction: 'search-type',
    resource_type: 'Patient',
    fhir_version: 'STU3',
    query: 'name=x',
    patient_id: 'p',
    batch_id: '',
    entry_index: -1,
    trace_id: '',
    outcome: 0,
    http_status: 200,
    duration_ms: 1.5,
    result_count: 1,
    ...over,
  };
}

describe('chainLine', () => {
  it('signs exactly what chainHash signs and writes a line that parses back to the record', () => {
    const key = chainKey('secret');
    const hostile = [
      {},
      { user_name: 'Zoë "Z" O\'Brien \\ {x} [y]\n\t\u2028\u0000', query: 'name=%22%7B&x=\u00e9' },
      { patient_id: '\ud800', user_agent: '😀' }, // lone surrogate: JSON.stringify escapes it
      { duration_ms: 1.23456789, entry_index: 3, result_count: -1, outcome: 12 as const },
    ];
    let prev = '';
    const chained: AuditRecord[] = [];
    for (const [i, over] of hostile.entries()) {
      const r = record({ ...over, seq: i + 1, prev_hash: prev });
      const { hash, json } = chainLine(key, prev, r);
      expect(hash).toBe(chainHash(key, prev, r));
      const parsed = JSON.parse(json) as AuditRecord;
      expect(parsed).toEqual({ ...r, duration_ms: Math.round(r.duration_ms * 1000) / 1000, hash });
      chained.push(parsed);
      prev = hash;
    }
    expect(verifyChain(key, chained)).toBeUndefined();
  });
});
