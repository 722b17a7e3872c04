/**
 * Every package's error table (the contract's error helper), side by side: a code is defined by one
 * package only, so a client matching on a code knows where it came from.
 */

import { CLI_ERRORS } from '@fhirwatch/cli';
import { SINK_ERRORS } from '@fhirwatch/clickhouse-sink';
import { AUDIT_QUERY_ERRORS } from '@fhirwatch/clickhouse-sink/compliance';
import { AUDIT_CLI_ERRORS } from '@fhirwatch/contract';
import { GATEWAY_ERRORS } from '@fhirwatch/gateway';
import { LOADTEST_ERRORS } from '@fhirwatch/loadtests';
import { MOCK_EHR_ERRORS } from '@fhirwatch/mock-ehr';
import { AUDIT_ERRORS } from '@fhirwatch/otel-middleware';
import { describe, expect, it } from 'vitest';

describe('error codes across packages', () => {
  it('no code is defined by two packages, and each maps to an HTTP status and an issue type', () => {
    const tables = {
      sink: SINK_ERRORS,
      compliance: AUDIT_QUERY_ERRORS,
      cli: CLI_ERRORS,
      gateway: GATEWAY_ERRORS,
      loadtests: LOADTEST_ERRORS,
      mockEhr: MOCK_EHR_ERRORS,
      middleware: AUDIT_ERRORS,
      cliAudit: AUDIT_CLI_ERRORS,
    };
    const owner = new Map<string, string>();
    for (const [pkg, table] of Object.entries(tables)) {
      for (const [code, spec] of Object.entries(table)) {
        expect(owner.get(code), `${code} in ${pkg} and ${owner.get(code)}`).toBeUndefined();
        owner.set(code, pkg);
        expect(spec.status).toBeGreaterThanOrEqual(400);
        expect(spec.status).toBeLessThan(600);
        expect(typeof spec.issue).toBe('string');
      }
    }
    expect(owner.size).toBeGreaterThan(80);
  });
});
