/**
 * `runConformance` against the real gateway → mock EHR (DSTU2 and STU3), and against deliberately broken
 * targets: a node:http proxy in front of the same stack that breaks one thing of the contract. Exactly the
 * checks about the broken thing fail.
 */
import type { FhirVersion } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConformanceReport,
  conformanceJunit,
  formatConformanceTable,
  innerFragment,
  runConformance,
} from '../src/index.ts';
import { type Breakage, startBrokenProxy } from './broken-proxy.ts';
import { type LoadStack, startLoadStack, TENANTS } from './stack.ts';

let stack: LoadStack;
beforeAll(async () => {
  stack = await startLoadStack();
});
afterAll(async () => {
  await stack?.close();
});

const failed = (report: ConformanceReport): string[] =>
  report.checks.filter((c) => c.status === 'fail').map((c) => c.id);

/**
 * The mock EHR's own STU3 `family=` / `given=` semantics, asked directly (not through the tool): the seed says
 * substring; the mock EHR matched prefixes until the gateway work changed it. Whichever it does, the tool
 * must report exactly that.
 */
async function mockEhrSubstring(version: FhirVersion, param: 'family' | 'given'): Promise<boolean> {
  const ehr = stack.ehr[version];
  const patient = ehr.population.patients.find((p) => {
    const name = (p.name as { family?: string | string[]; given?: string[] }[])[0];
    const value = param === 'family' ? [name?.family].flat()[0] : name?.given?.[0];
    return typeof value === 'string' && value.length >= 4;
  })!;
  const name = (patient.name as { family?: string | string[]; given?: string[] }[])[0]!;
  const value = (param === 'family' ? [name.family].flat()[0] : name.given?.[0]) as string;
  const sent = version === 'DSTU2' ? `${param}:contains` : param;
  const res = await fetch(`${ehr.url}/Patient?${sent}=${encodeURIComponent(innerFragment(value))}&_count=1000`);
  const bundle = (await res.json()) as { entry?: { resource: { id: string } }[] };
  return (bundle.entry ?? []).some((e) => e.resource.id === patient.id);
}

describe.each(['DSTU2', 'STU3'] as const)('%s through the gateway', (version) => {
  it('passes every check the mock EHR implements; JSON and JUnit agree', async () => {
    const report = await runConformance({ target: stack.target(version) });
    const expected: string[] = [];
    for (const param of ['family', 'given'] as const) {
      if (!(await mockEhrSubstring(version, param))) expected.push(`search.${param}`);
    }
    // DSTU2 always sends `:contains`, which the mock EHR implements.
    if (version === 'DSTU2') expect(expected).toEqual([]);
    expect(failed(report), formatConformanceTable(report)).toEqual(expected);
    expect(report.passed).toBe(expected.length === 0);
    // Everything the contract names is exercised: only the authorize URI (optional) may warn.
    expect(report.checks.filter((c) => c.status === 'warn').map((c) => c.id)).toEqual(['metadata.oauth-authorize-uri']);
    expect(report.checks.filter((c) => c.status === 'skip').map((c) => c.id)).toEqual([]);
    expect(report.largestBatchEntries).toBe(140);
    const junit = conformanceJunit(report);
    expect(junit).toContain(`failures="${expected.length}"`);
    expect(junit.match(/<testcase /g)).toHaveLength(report.checks.length);
    // No patient data in the evidence: the sampled patients' ids never appear.
    const text = JSON.stringify(report);
    for (const p of stack.ehr[version].population.patients.slice(0, 50)) expect(text).not.toContain(`"${p.id}"`);
  });
});

const BROKEN: Record<Breakage, { version: FhirVersion; expected: string[] }> = {
  // The Patient's birthDate is a required field: every Patient check that looks at fields fails, and the
  // birth-date search cannot be run on data without birth dates.
  'no-birthdate': { version: 'DSTU2', expected: ['fields.Patient'] },
  'no-oauth-extension': { version: 'DSTU2', expected: ['metadata.oauth-token-uri', 'metadata.required-fields'] },
  'prefix-only-family': { version: 'DSTU2', expected: ['search.family'] },
  'batch-refused': { version: 'STU3', expected: ['batch.list-refresh', 'batch.searches-inside', 'batch.largest'] },
};

describe('deliberately broken targets', () => {
  it.each(Object.keys(BROKEN) as Breakage[])('%s: exactly the broken checks fail, with evidence', async (breakage) => {
    const { version, expected } = BROKEN[breakage];
    const proxy = await startBrokenProxy(stack.gateway.url, breakage);
    try {
      const target = {
        ...stack.target(version),
        baseUrl: `${proxy.url}/${TENANTS[version]}`,
        // Without the OAuth extension a client must be told the token URL.
        tokenUrl: `${stack.gateway.url}/token`,
      };
      const report = await runConformance({ target });
      const substringOk = version === 'DSTU2' || (await mockEhrSubstring(version, 'family'));
      const known = substringOk ? [] : ['search.family', 'search.given'];
      const got = failed(report).filter((id) => !known.includes(id));
      expect(got, formatConformanceTable(report)).toEqual(expected);
      expect(report.passed).toBe(false);
      for (const id of expected) expect(report.checks.find((c) => c.id === id)?.evidence).not.toBe('');
      if (breakage === 'batch-refused') {
        expect(report.checks.find((c) => c.id === 'batch.largest')?.evidence).toContain(
          'refused at 7 entries: status 405',
        );
      }
      if (breakage === 'no-birthdate') {
        expect(report.checks.find((c) => c.id === 'fields.Patient')?.evidence).toMatch(/birthDate missing on \d+/);
        expect(report.checks.find((c) => c.id === 'search.birthdate')?.status).toBe('skip');
      }
    } finally {
      await proxy.close();
    }
  });
});
