/** The arrival schedule, exact merging of shards' histograms, SLO overrides, scenario knobs. */
import hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import {
  applySloOverrides,
  arrivalsBy,
  buildReport,
  defaultSlo,
  expectedIterations,
  listRefreshP95Ms,
  Metrics,
  resolveScenario,
  scheduleTime,
} from '../src/index.ts';
import { createRandom } from '../src/random.ts';

describe('scheduleTime', () => {
  it('constant arrival rate: iteration j at j / rate, none after the end', () => {
    const executor = { kind: 'constant-arrival-rate', rate: 4, durationS: 2 } as const;
    expect([0, 1, 2, 7].map((j) => scheduleTime(executor, j))).toEqual([0, 0.25, 0.5, 1.75]);
    expect(scheduleTime(executor, 8)).toBeUndefined();
    expect(expectedIterations(executor)).toBe(8);
  });

  it('ramping arrival rate: cumulative arrivals follow the area under the rate, times increase', () => {
    const executor = {
      kind: 'ramping-arrival-rate',
      startRate: 0,
      stages: [
        { target: 10, durationS: 2 },
        { target: 10, durationS: 1 },
        { target: 0, durationS: 2 },
      ],
    } as const;
    // Areas: 10 + 10 + 10 = 30 iterations in all.
    expect(expectedIterations(executor)).toBe(30);
    const times: number[] = [];
    for (let j = 0; ; j++) {
      const t = scheduleTime(executor, j);
      if (t === undefined) break;
      times.push(t);
    }
    expect(times).toHaveLength(30);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!);
    // During 0..2 s the rate is 5t: N(t) = 2.5 t², so iteration 10 starts at t = 2.
    expect(times[10]).toBeCloseTo(2, 9);
    expect(times[20]).toBeCloseTo(3, 9);
    // Iteration 5: 2.5 t² = 5 → t = √2.
    expect(times[5]).toBeCloseTo(Math.SQRT2, 9);
  });
});

describe('arrivalsBy', () => {
  it('counts the iterations scheduleTime puts at or before t (constant and ramping)', () => {
    const executors = [
      { kind: 'constant-arrival-rate', rate: 7, durationS: 3 },
      {
        kind: 'ramping-arrival-rate',
        startRate: 2,
        stages: [
          { target: 12, durationS: 2 },
          { target: 4, durationS: 2 },
        ],
      },
    ] as const;
    for (const executor of executors) {
      const times: number[] = [];
      for (let j = 0; scheduleTime(executor, j) !== undefined; j++) times.push(scheduleTime(executor, j)!);
      for (const t of [0, 0.13, 0.5, 1, 1.7, 2.2, 2.999, 3.5, 10]) {
        const expected = times.filter((x) => x <= t + 1e-9).length;
        expect(Math.abs(arrivalsBy(executor, t) - expected), `${executor.kind} t=${t}`).toBeLessThanOrEqual(1);
      }
      expect(arrivalsBy(executor, 100)).toBe(times.length);
    }
  });
});

describe('Metrics', () => {
  it('snapshots merge exactly: percentiles of merged shards equal one histogram of every sample', () => {
    const random = createRandom(9);
    const shards = [new Metrics(), new Metrics(), new Metrics()];
    const reference = hdr.build({ bitBucketSize: 32, autoResize: true, numberOfSignificantValueDigits: 3 });
    for (let i = 0; i < 30_000; i++) {
      const latencyMs = 1 + random.next() ** 3 * 4000;
      const status = random.next() < 0.01 ? 503 : 200;
      shards[i % 3]!.record(
        {
          tag: i % 2 === 0 ? 'search' : 'list-refresh',
          status,
          verdict: { checks: [{ name: 'c', ok: status === 200 }], fields: [] },
        },
        latencyMs,
        (i % 10) * 1000,
      );
      reference.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
    }
    const merged = new Metrics();
    for (const shard of shards) merged.merge(JSON.parse(JSON.stringify(shard.snapshot())));
    const all = merged.allLatency();
    expect(all.totalCount).toBe(30_000);
    for (const p of [50, 90, 95, 99, 99.9]) expect(all.getValueAtPercentile(p)).toBe(reference.getValueAtPercentile(p));
    expect(merged.requests).toBe(30_000);
    expect(merged.failures).toBe(shards.reduce((n, s) => n + s.failures, 0));
    expect(merged.checks.get('c')?.fails).toBe(merged.unavailable);
    expect([...merged.seconds.values()].reduce((n, s) => n + s.completed, 0)).toBe(30_000);
  });
});

describe('throughput at SLO (batch-capacity)', () => {
  it('is the highest window throughput whose p95, errors and drops met the SLO; the drain after the schedule is left out', () => {
    const scenario = resolveScenario('batch-capacity', { durationS: 10, rate: 100 });
    const metrics = new Metrics();
    const ok = {
      tag: 'list-refresh' as const,
      status: 200,
      verdict: { checks: [{ name: 'c', ok: true }], fields: [] },
    };
    // Seconds 0..9: (s + 1) * 10 batches/s; latency 100 ms up to second 5, then 3 s (over the 2 s bound).
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < (s + 1) * 10; i++) metrics.record(ok, s < 6 ? 100 : 3000, s * 1000 + i);
    }
    // A fast drain second after the schedule must not count as capacity.
    for (let i = 0; i < 500; i++) metrics.record(ok, 50, 10_000 + i);
    const report = buildReport({
      engine: 'open',
      scenario,
      target: { baseUrl: 'http://127.0.0.1:1', fhirVersion: 'STU3' },
      tokenUrl: undefined,
      metrics,
      slo: defaultSlo(5),
      startedAt: new Date(0),
      finishedAt: new Date(11_000),
      workers: 1,
      iterations: metrics.requests,
    });
    // Windows of 3 s: 0–3 (20/s), 3–6 (50/s), 6–9 (80/s, p95 3 s: breaks).
    expect(report.capacity?.windows.map((w) => [w.fromS, w.throughputRps, w.withinSlo])).toEqual([
      [0, 20, true],
      [3, 50, true],
      [6, 80, false],
    ]);
    expect(report.capacity?.throughputAtSloRps).toBe(50);
  });
});

describe('SLO table and scenarios', () => {
  it('list-refresh p95 by N from slo.md, p99 twice the p95', () => {
    expect([1, 5, 10, 20].map(listRefreshP95Ms)).toEqual([1000, 2000, 3000, 5000]);
    expect(defaultSlo(5).ops['list-refresh']).toEqual({ p95Ms: 2000, p99Ms: 4000, maxErrorRate: 0.005 });
  });

  it('overrides replace one number each and refuse unknown names', () => {
    const slo = applySloOverrides(defaultSlo(5), ['list-refresh.p95=1500', 'search.errors=0.01', 'dropped=3']);
    expect(slo.ops['list-refresh'].p95Ms).toBe(1500);
    expect(slo.ops.search.maxErrorRate).toBe(0.01);
    expect(slo.maxDroppedIterations).toBe(3);
    expect(defaultSlo(5).ops['list-refresh'].p95Ms).toBe(2000);
    expect(() => applySloOverrides(defaultSlo(5), ['bogus.p95=1'])).toThrow(
      expect.objectContaining({ code: 'FW_LOAD_SLO' }),
    );
  });

  it('knobs: a ramping scenario is scaled to the peak rate and the duration asked for', () => {
    const s = resolveScenario('spike', { rate: 100, durationS: 20 });
    expect(s.executor.kind).toBe('ramping-arrival-rate');
    if (s.executor.kind !== 'ramping-arrival-rate') return;
    expect(Math.max(...s.executor.stages.map((x) => x.target))).toBeCloseTo(100);
    expect(s.executor.stages.reduce((n, x) => n + x.durationS, 0)).toBeCloseTo(20);
    expect(() => resolveScenario('nope')).toThrow(expect.objectContaining({ code: 'FW_LOAD_SCENARIO' }));
    expect(() => resolveScenario('smoke', { rate: -1 })).toThrow(expect.objectContaining({ code: 'FW_LOAD_KNOB' }));
  });
});
