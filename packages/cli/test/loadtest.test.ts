/**
 * `fhirwatch loadtest` through the real bin against a real gateway → mock EHR on 127.0.0.1: exit 0 and the
 * report files + a loadtest_runs row when the SLOs pass, exit 1 when the mock EHR injects errors, exit 2 on
 * usage errors. Runs are 2 s at a few requests/s.
 */

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@fhirwatch/clickhouse-sink';
import { createGateway, type Gateway } from '@fhirwatch/gateway';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadtestCliOptions, loadtestOptions, parseDuration } from '../src/commands/loadtest.ts';
import { runFhirwatch } from './bin.ts';

const TENANT_OK = '1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a';
const TENANT_BROKEN = '2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b';
const dir = mkdtempSync(join(tmpdir(), 'fw-cli-loadtest-'));
let ok: MockEhrServer;
let broken: MockEhrServer;
let gateway: Gateway;
let clientId = '';
let clientSecret = '';

beforeAll(async () => {
  ok = await startMockEhr({ fhirVersion: 'DSTU2', patients: 40, seed: 8 });
  broken = await startMockEhr({ fhirVersion: 'STU3', patients: 40, seed: 9, errorRate: 0.5 });
  gateway = await createGateway({
    dataDir: join(dir, 'gateway'),
    rateLimit: false,
    tenants: {
      [TENANT_OK]: { baseUrl: ok.url, fhirVersion: 'DSTU2' },
      [TENANT_BROKEN]: { baseUrl: broken.url, fhirVersion: 'STU3' },
    },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT_OK, TENANT_BROKEN], name: 'cli-loadtest' });
  clientId = client.clientId;
  clientSecret = client.clientSecret;
});
afterAll(async () => {
  await gateway?.close();
  await ok?.close();
  await broken?.close();
  rmSync(dir, { recursive: true, force: true });
});

const fhirwatch = (args: string[]) => runFhirwatch(args, { FHIRWATCH_CLIENT_SECRET: clientSecret });

describe('fhirwatch loadtest', () => {
  it('passes, writes the report and stores the run (secret from FHIRWATCH_CLIENT_SECRET, version from /metadata)', async () => {
    const report = join(dir, 'report-ok');
    const store = join(dir, 'store');
    mkdirSync(store);
    const result = await fhirwatch([
      'loadtest',
      '--target',
      `${gateway.url}/${TENANT_OK}`,
      '--client-id',
      clientId,
      '--tenant',
      TENANT_OK,
      '--scenario',
      'list-refresh',
      '--rate',
      '4',
      '--duration',
      '2s',
      '--report',
      report,
      '--store',
      store,
    ]);
    expect(result.stderr).not.toMatch(/Error|at /);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^PASS list-refresh \(open\) against http:\/\/127\.0\.0\.1:\d+\//);
    expect(result.stdout).toContain('pass  list-refresh p95 <= 2000 ms');
    const json = JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')) as {
      runId: string;
      target: { fhirVersion: string };
      totals: { requests: number };
      notes: string[];
      serverSide?: unknown;
    };
    expect(json.target.fhirVersion).toBe('DSTU2');
    expect(json.totals.requests).toBe(8);
    // The gateway here is not instrumented: the store has no spans for the run, so no split and no note.
    expect(json.serverSide).toBeUndefined();
    expect(json.notes).toEqual([]);
    expect(existsSync(join(report, 'report.html'))).toBe(true);
    expect(existsSync(join(report, 'junit.xml'))).toBe(true);
    const client = openStore({ path: store });
    try {
      const rows = await (
        await client.query({
          query: 'SELECT run_id, scenario, passed, requests FROM loadtest_runs',
          format: 'JSONEachRow',
        })
      ).json<{ run_id: string; scenario: string; passed: number; requests: string }>();
      expect(rows.map((r) => ({ ...r, requests: Number(r.requests) }))).toEqual([
        { run_id: json.runId, scenario: 'list-refresh', passed: 1, requests: 8 },
      ]);
    } finally {
      await client.close();
    }
  });

  it('exits 1 with the failed SLOs when the provider injects errors', async () => {
    const result = await fhirwatch([
      'loadtest',
      '--target',
      `${gateway.url}/${TENANT_BROKEN}`,
      '--client-id',
      clientId,
      '--tenant',
      TENANT_BROKEN,
      '--fhir-version',
      'stu3',
      '--scenario',
      'list-refresh',
      '--rate',
      '5',
      '--duration',
      '2',
      '--quiet',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL list-refresh/);
    expect(result.stdout).toContain('FAIL  list-refresh errors');
  });

  it('exits 2 on usage errors: no target, a remote target, an unknown scenario', async () => {
    expect((await fhirwatch(['loadtest'])).code).toBe(2);
    const remote = await fhirwatch(['loadtest', '--target', 'https://fhir.example.org/r3']);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('--allow-remote');
    const unknown = await fhirwatch([
      'loadtest',
      '--target',
      `${gateway.url}/${TENANT_OK}`,
      '--scenario',
      'nope',
      '--fhir-version',
      'dstu2',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown scenario 'nope'");
    // named before any request: no version given and nothing listening still says what is wrong
    const typo = await fhirwatch(['loadtest', '--target', 'http://127.0.0.1:9/fhir', '--scenario', 'smok']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown scenario 'smok'");
  });
});

describe('loadtest options', () => {
  it('--checks: throughput or full, anything else is a usage error naming both', () => {
    const target = ['--target', 'http://127.0.0.1:1/fhir'];
    const checks = (args: string[]) => (loadtestOptions(args, {}) as LoadtestCliOptions).checks;
    expect(checks([...target, '--checks', 'throughput'])).toBe('throughput');
    expect(checks([...target, '--checks', 'full'])).toBe('full');
    expect(checks(target)).toBeUndefined();
    expect(() => loadtestOptions([...target, '--checks', 'fast'], {})).toThrow(/--checks must be full or throughput/);
  });

  it('takes every knob from flags or FHIRWATCH_* env', () => {
    const options = loadtestOptions(['--target', 'http://127.0.0.1:1/fhir', '--rate', '7', '--slo', 'search.p95=900'], {
      FHIRWATCH_SCENARIO: 'patients-app-mix',
      FHIRWATCH_DURATION: '5m',
      FHIRWATCH_PATIENTS_PER_BATCH: '10',
      FHIRWATCH_CLIENT_ID: 'app',
      FHIRWATCH_ENGINE: 'autocannon',
    });
    if (options === 'help') throw new Error('help');
    expect(options.scenarioName).toBe('patients-app-mix');
    expect(options.knobs).toEqual({ rate: 7, durationS: 300, listSize: 10 });
    expect(options.target.clientId).toBe('app');
    expect(options.engine).toBe('autocannon');
    expect(options.slo).toEqual(['search.p95=900']);
    expect(parseDuration('90')).toBe(90);
    expect(() => parseDuration('soon')).toThrow(/--duration/);
  });
});
