import { describe, expect, it } from 'vitest';
import {
  AUDIT_ERROR_GROUPS,
  AUDIT_ERROR_PREFIX,
  ERROR_PREFIXES,
  errorOutcome,
  errorTable,
  FhirwatchError,
  isAuditErrorCode,
} from '../src/index.ts';

describe('error helper', () => {
  it('a table refuses a code outside its package prefix', () => {
    expect(() => errorTable('gateway', { FW_SINK_X: { status: 400, issue: 'invalid' } })).toThrow(/FW_GATEWAY_/);
    expect(() => errorTable('gateway', { FW_GATEWAY_lower: { status: 400, issue: 'invalid' } })).toThrow();
    expect(errorTable('gateway', { FW_GATEWAY_X: { status: 400, issue: 'invalid' } })).toEqual({
      FW_GATEWAY_X: { status: 400, issue: 'invalid' },
    });
  });

  it('an error takes its status and issue type from the table; a throw may refine them', () => {
    const table = errorTable('mockEhr', { FW_MOCKEHR_X: { status: 404, issue: 'not-found' } });
    const plain = new FhirwatchError(table.FW_MOCKEHR_X, 'FW_MOCKEHR_X', 'no such thing');
    expect([plain.status, plain.issue, plain.code, plain.message]).toEqual([
      404,
      'not-found',
      'FW_MOCKEHR_X',
      'no such thing',
    ]);
    const refined = new FhirwatchError(table.FW_MOCKEHR_X, 'FW_MOCKEHR_X', 'gone', {
      issue: 'processing',
      status: 410,
    });
    expect([refined.status, refined.issue]).toEqual([410, 'processing']);
    const cause = new Error('inner');
    expect(new FhirwatchError(table.FW_MOCKEHR_X, 'FW_MOCKEHR_X', 'm', { cause }).cause).toBe(cause);
  });

  it('errorOutcome is a one-issue OperationOutcome carrying the code', () => {
    const error = new FhirwatchError({ status: 400, issue: 'invalid' }, 'FW_GATEWAY_X', 'bad input');
    expect(errorOutcome(error)).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid',
          diagnostics: 'bad input',
          details: { coding: [{ system: 'urn:fhirwatch:error', code: 'FW_GATEWAY_X' }], text: 'FW_GATEWAY_X' },
        },
      ],
    });
  });

  it('every owner has prefixes of the FW_<AREA>_ form and no prefix has two owners (FW_AUDIT_: audit-errors.ts)', () => {
    const owners = new Map<string, string[]>();
    for (const [pkg, prefixes] of Object.entries(ERROR_PREFIXES)) {
      for (const p of prefixes) {
        expect(p).toMatch(/^FW_[A-Z]+_$/);
        owners.set(p, [...(owners.get(p) ?? []), pkg]);
      }
    }
    const shared = [...owners].filter(([, pkgs]) => pkgs.length > 1);
    expect(shared).toEqual([]);
    expect(owners.get(AUDIT_ERROR_PREFIX)).toEqual(['audit']);
  });

  it('every FW_AUDIT_ code is in exactly one group of the one audit table', () => {
    const group = new Map<string, string>();
    for (const [name, table] of Object.entries(AUDIT_ERROR_GROUPS)) {
      for (const code of Object.keys(table)) {
        expect(code.startsWith(AUDIT_ERROR_PREFIX), code).toBe(true);
        expect(group.get(code), `${code} in ${name} and ${group.get(code)}`).toBeUndefined();
        group.set(code, name);
      }
    }
    expect(group.get('FW_AUDIT_SPOOL_FULL')).toBe('spool');
    expect(group.get('FW_AUDIT_INVALID_RANGE')).toBe('query');
    expect(group.get('FW_AUDIT_STORE_BUSY')).toBe('cli');
    expect(isAuditErrorCode('FW_AUDIT_SPOOL_FULL')).toBe(true);
    expect(isAuditErrorCode('FW_GATEWAY_CONFIG_INVALID')).toBe(false);
    expect(isAuditErrorCode(undefined)).toBe(false);
    expect(() => errorTable('middleware', { FW_AUDIT_X: { status: 500, issue: 'exception' } })).toThrow(/FW_OTEL_/);
  });
});
