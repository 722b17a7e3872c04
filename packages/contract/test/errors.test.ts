import { describe, expect, it } from 'vitest';
import { ERROR_PREFIXES, errorOutcome, errorTable, FhirwatchError } from '../src/index.ts';

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

  it('every package has prefixes of the FW_<AREA>_ form; only FW_AUDIT_ is shared (middleware and compliance)', () => {
    const owners = new Map<string, string[]>();
    for (const [pkg, prefixes] of Object.entries(ERROR_PREFIXES)) {
      for (const p of prefixes) {
        expect(p).toMatch(/^FW_[A-Z]+_$/);
        owners.set(p, [...(owners.get(p) ?? []), pkg]);
      }
    }
    const shared = [...owners].filter(([, pkgs]) => pkgs.length > 1);
    expect(shared).toEqual([['FW_AUDIT_', ['middleware', 'compliance']]]);
  });
});
