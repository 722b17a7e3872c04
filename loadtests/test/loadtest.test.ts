/**
 * Open-model and autocannon runs of `smoke` and a short `list-refresh` through a real gateway → real mock
 * EHRs (DSTU2 and STU3 tenants) on 127.0.0.1, and the same runs failing their SLO when the mock EHR injects
 * errors or latency. Runs are a few seconds at a few requests per second (bounded in time and count).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSlo, type LoadtestReport, resolveScenario, runLoadtest } from '../src/index.ts';
import { type LoadStack, startLoadStack } from './stack.ts';

const reports = mkdtempSync(join(tmpdir(), 'fw-loadtest-reports-'));
let stack: LoadStack;

beforeAll(async () => {
  stack = await startLoadStack();
});
afterAll(async () => {
  await stack?.close();
  rmSync(reports, { recursive: true, force: true });
});

function failedChecks(report: LoadtestReport): string[] {
  return report.checks.filter((c) => c.fails > 0).map((c) => `${c.name}: ${c.fails}`);
}

describe.each(['DSTU2', 'STU3'] as const)('%s tenant through the gateway', (version) => {
  it('open model: smoke passes every check and SLO, and writes the report files', async () => {
    const scenario = resolveScenario('smoke', { rate: 8, durationS: 2 });
    const dir = join(reports, `smoke-${version}`);
    const report = await runLoadtest({ target: stack.target(version), scenario, slo: defaultSlo(5), reportDir: dir });
    expect(failedChecks(report)).toEqual([]);
    expect(report.slo.filter((v) => !v.passed)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.totals.iterations).toBe(16);
    expect(report.totals.requests).toBe(16);
    expect(report.totals.dropped).toBe(0);
    // Every operation of the smoke mix ran and checked the required fields of what came back.
    expect(new Set(report.ops.map((o) => o.tag))).toEqual(
      new Set(['metadata', 'token', 'search', 'list-refresh', 'read']),
    );
    expect(report.fields.find((f) => f.resourceType === 'Patient')?.ok).toBeGreaterThan(0);
    for (const file of ['report.html', 'report.json', 'junit.xml']) expect(existsSync(join(dir, file))).toBe(true);
    const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as LoadtestReport;
    expect(json.runId).toBe(report.runId);
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('failures="0"');
  });

  it('throughput mode: every answer and batch entry checked, the deep field checks on 1 answer in 16', async () => {
    const scenario = resolveScenario('list-refresh', { rate: 16, durationS: 2 });
    const report = await runLoadtest({
      target: stack.target(version),
      scenario,
      slo: defaultSlo(5),
      checks: 'throughput',
      workers: 1, // the 1-in-16 sample is counted per worker
    });
    expect(failedChecks(report)).toEqual([]);
    expect(report.totals.requests).toBe(32);
    // every status and every batch entry was checked …
    const check = (name: string) => report.checks.find((c) => c.name === name);
    expect(check('batch status 200')?.passes).toBe(32);
    expect(check('every batch entry 2xx')?.passes).toBe(32);
    expect(report.batchEntries).toMatchObject({ total: 32 * 5 * 7, failed: 0 });
    // … the required-field checks of the returned resources on 2 answers of the 32 (1 in 16)
    expect(check('required fields present')?.passes).toBe(2);
    expect(report.fields.reduce((n, f) => n + f.checked, 0)).toBeGreaterThan(0);
  });

  it('open model: a short list refresh (N=5) passes with every batch entry 2xx', async () => {
    const scenario = resolveScenario('list-refresh', { rate: 5, durationS: 2 });
    const report = await runLoadtest({ target: stack.target(version), scenario, slo: defaultSlo(5) });
    expect(failedChecks(report)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.totals.requests).toBe(10);
    expect(report.batchEntries).toMatchObject({ total: 10 * 5 * 7, failed: 0 });
  });

  it('autocannon: smoke and a short list refresh pass, and the report says the closed model hides queueing', async () => {
    for (const name of ['smoke', 'list-refresh'] as const) {
      const scenario = resolveScenario(name, { durationS: 2 });
      const report = await runLoadtest({
        target: stack.target(version),
        scenario,
        slo: defaultSlo(5),
        engine: 'autocannon',
        connections: 2,
      });
      expect(failedChecks(report)).toEqual([]);
      expect(report.passed).toBe(true);
      expect(report.totals.requests).toBeGreaterThan(2);
      expect(report.notes.join(' ')).toMatch(/hides? queueing|queueing is hidden/);
    }
  });
});

describe('worker threads', () => {
  it('two shards split the schedule and their histograms merge into one report', async () => {
    const scenario = resolveScenario('list-refresh', { rate: 10, durationS: 2 });
    const report = await runLoadtest({ target: stack.target('STU3'), scenario, slo: defaultSlo(5), workers: 2 });
    expect(report.workers).toBe(2);
    expect(failedChecks(report)).toEqual([]);
    expect(report.totals.iterations).toBe(20);
    expect(report.ops.find((o) => o.tag === 'list-refresh')?.requests).toBe(20);
    expect(report.series.reduce((n, p) => n + p.completed, 0)).toBe(20);
    expect(report.passed).toBe(true);
  });
});

describe('SLO failures', () => {
  it('throughput mode still fails every 5xx answer and every failed batch entry', async () => {
    const broken = await startLoadStack({ errorRate: 0.3 }, 30);
    try {
      const scenario = resolveScenario('list-refresh', { rate: 10, durationS: 2 });
      const report = await runLoadtest({
        target: broken.target('STU3'),
        scenario,
        slo: defaultSlo(5),
        checks: 'throughput',
      });
      expect(report.passed).toBe(false);
      const statusCheck = report.checks.find((c) => c.name === 'batch status 200');
      expect((statusCheck?.passes ?? 0) + (statusCheck?.fails ?? 0)).toBe(20);
      expect(statusCheck?.fails).toBeGreaterThan(0);
      expect(report.slo.filter((v) => !v.passed).map((v) => v.name)).toContain('list-refresh errors');
    } finally {
      await broken.close();
    }
  });

  it('fails when the mock EHR injects errors (batches answered 5xx)', async () => {
    const broken = await startLoadStack({ errorRate: 0.3 }, 30);
    try {
      const scenario = resolveScenario('list-refresh', { rate: 10, durationS: 2 });
      const report = await runLoadtest({ target: broken.target('STU3'), scenario, slo: defaultSlo(5) });
      expect(report.passed).toBe(false);
      const failed = report.slo.filter((v) => !v.passed).map((v) => v.name);
      expect(failed).toContain('list-refresh errors');
      expect(failed).toContain('availability (no 5xx, 429 or timeout)');
    } finally {
      await broken.close();
    }
  });

  it('with latency above the arrival interval: latency includes the queueing, dropped iterations are counted', async () => {
    // 150 ms per upstream request, 2 connections: the service manages ~13 batches/s; 25/s arrive (every 40 ms).
    const slow = await startLoadStack({ latency: 150 }, 30);
    try {
      const scenario = resolveScenario('list-refresh', { rate: 25, durationS: 3, listSize: 1, maxInFlight: 20 });
      const open = await runLoadtest({
        target: slow.target('DSTU2'),
        scenario,
        slo: defaultSlo(1),
        connections: 2,
      });
      const batch = open.ops.find((o) => o.tag === 'list-refresh')!;
      expect(open.passed).toBe(false);
      expect(open.totals.dropped).toBeGreaterThan(0);
      expect(open.slo.find((v) => v.name === 'dropped iterations')?.passed).toBe(false);
      expect(open.totals.iterations).toBe(75);
      expect(batch.requests + open.totals.dropped).toBe(75);
      // Waiting for a connection is in the number: well above the 150 ms service time.
      expect(batch.p95Ms).toBeGreaterThan(450);
      // The closed model on the same 2 connections reports about the service time: it hides the queue.
      const closed = await runLoadtest({
        target: slow.target('DSTU2'),
        scenario: resolveScenario('list-refresh', { durationS: 2, listSize: 1 }),
        slo: defaultSlo(1),
        engine: 'autocannon',
        connections: 2,
      });
      const closedBatch = closed.ops.find((o) => o.tag === 'list-refresh')!;
      expect(closedBatch.p50Ms).toBeGreaterThanOrEqual(150);
      expect(closedBatch.p50Ms).toBeLessThan(batch.p50Ms);
      expect(closed.totals.dropped).toBe(0);
    } finally {
      await slow.close();
    }
  });
});
