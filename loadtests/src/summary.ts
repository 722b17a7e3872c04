/**
 * From a run's merged metrics to the go-live report's data (report.json): SLO verdicts, percentiles per
 * operation, series per second, batch-entry failures, required-field conformance, the highest throughput
 * that still met the SLO (batch-capacity's headline), the machine and versions.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { LIST_REFRESH_ENTRIES_PER_PATIENT } from '@fhirwatch/contract';
import { type Metrics, newHistogram, percentileMs } from './metrics.ts';
import { executorDurationS, type ScenarioDef } from './scenarios.ts';
import type { LoadTarget } from './session.ts';
import { OP_TAGS, type OpTag, type SloTable, type SloVerdict } from './slo.ts';

export type Engine = 'open' | 'autocannon';

export interface OpReport {
  tag: OpTag;
  requests: number;
  failures: number;
  errorRate: number;
  statuses: Record<string, number>;
  throughputRps: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SeriesPoint {
  /** Second since the run's start. */
  t: number;
  started: number;
  completed: number;
  failures: number;
  dropped: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface CapacityWindow {
  fromS: number;
  toS: number;
  throughputRps: number;
  p95Ms: number;
  errorRate: number;
  dropped: number;
  withinSlo: boolean;
}

export interface LoadtestReport {
  tool: 'fhirwatch loadtest';
  runId: string;
  engine: Engine;
  /** Said plainly in the report for closed-model runs. */
  notes: string[];
  scenario: ScenarioDef;
  target: { baseUrl: string; fhirVersion: string; tenantId: string; tokenUrl: string | undefined };
  startedAt: string;
  finishedAt: string;
  durationS: number;
  workers: number;
  totals: {
    iterations: number;
    requests: number;
    failures: number;
    errorRate: number;
    unavailable: number;
    dropped: number;
    throughputRps: number;
    p50Ms: number;
    p95Ms: number;
    p99Ms: number;
  };
  ops: OpReport[];
  slo: SloVerdict[];
  sloTable: SloTable;
  passed: boolean;
  series: SeriesPoint[];
  batchEntries: { total: number; failed: number; successRate: number; statuses: Record<string, number> };
  checks: { name: string; passes: number; fails: number }[];
  fields: { resourceType: string; checked: number; ok: number; missing: Record<string, number> }[];
  capacity: { windowS: number; throughputAtSloRps: number; windows: CapacityWindow[] } | undefined;
  machine: { cpus: number; cpuModel: string; memoryGb: number; os: string; node: string };
  versions: Record<string, string>;
  /** Server-side time per hop from the store's otel_* tables, when asked for and available. */
  serverSide?: { hop: string; spans: number; p50Ms: number; p95Ms: number; p99Ms: number }[];
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

function packageVersion(name: string): string {
  try {
    const url = import.meta.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(new URL(url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function ownVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

/** The machine and the versions of what generated the load. */
export function environment(): Pick<LoadtestReport, 'machine' | 'versions'> {
  const cpu = cpus();
  return {
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? 'unknown',
      memoryGb: round(totalmem() / 1024 ** 3, 1),
      os: `${platform()} ${release()} ${arch()}`,
      node: process.version,
    },
    versions: {
      '@fhirwatch/loadtests': ownVersion(),
      undici: packageVersion('undici'),
      'hdr-histogram-js': packageVersion('hdr-histogram-js'),
      autocannon: packageVersion('autocannon'),
    },
  };
}

/** Evaluate the SLO table against a run's metrics. */
export function evaluateSlo(metrics: Metrics, slo: SloTable): SloVerdict[] {
  const verdicts: SloVerdict[] = [];
  for (const tag of OP_TAGS) {
    const op = metrics.ops.get(tag);
    if (op === undefined || op.requests === 0) continue;
    const bounds = slo.ops[tag];
    if (bounds.p95Ms !== undefined) {
      const observed = round(percentileMs(op.hist, 95));
      verdicts.push({
        name: `${tag} p95`,
        threshold: `<= ${bounds.p95Ms} ms`,
        observed,
        passed: observed <= bounds.p95Ms,
      });
    }
    if (bounds.p99Ms !== undefined) {
      const observed = round(percentileMs(op.hist, 99));
      verdicts.push({
        name: `${tag} p99`,
        threshold: `<= ${bounds.p99Ms} ms`,
        observed,
        passed: observed <= bounds.p99Ms,
      });
    }
    const rate = op.failures / op.requests;
    verdicts.push({
      name: `${tag} errors`,
      threshold: `< ${round(bounds.maxErrorRate * 100, 3)} %`,
      observed: round(rate * 100, 3),
      passed: op.failures === 0 || rate < bounds.maxErrorRate,
    });
  }
  if (metrics.entries.total > 0) {
    const success = 1 - metrics.entries.failed / metrics.entries.total;
    verdicts.push({
      name: 'batch entries 2xx',
      threshold: `>= ${round(slo.minBatchEntrySuccess * 100, 3)} %`,
      observed: round(success * 100, 3),
      passed: success >= slo.minBatchEntrySuccess,
    });
  }
  const requests = metrics.requests;
  const availability = requests === 0 ? 0 : 1 - metrics.unavailable / requests;
  verdicts.push({
    name: 'availability (no 5xx, 429 or timeout)',
    threshold: `>= ${round(slo.minAvailability * 100, 3)} %`,
    observed: round(availability * 100, 3),
    passed: requests > 0 && availability >= slo.minAvailability,
  });
  verdicts.push({
    name: 'dropped iterations',
    threshold: `<= ${slo.maxDroppedIterations}`,
    observed: metrics.dropped,
    passed: metrics.dropped <= slo.maxDroppedIterations,
  });
  return verdicts;
}

/** Windows of `windowS` seconds: throughput, p95 and errors of the scenario's main operation (all ops when mixed). */
export function capacityWindows(
  metrics: Metrics,
  slo: SloTable,
  scenario: ScenarioDef,
  windowS: number,
): CapacityWindow[] {
  // Windows inside the schedule only: after the last start, the iterations still in flight drain (no arrivals).
  const last = Math.min(Math.max(-1, ...metrics.seconds.keys()), Math.floor(executorDurationS(scenario.executor)) - 1);
  const tags = OP_TAGS.filter((t) => (scenario.mix[t] ?? 0) > 0);
  const p95Bound = Math.min(...tags.map((t) => slo.ops[t].p95Ms ?? Number.POSITIVE_INFINITY));
  const errorBound = Math.min(...tags.map((t) => slo.ops[t].maxErrorRate));
  const windows: CapacityWindow[] = [];
  for (let from = 0; from + windowS <= last + 1; from += windowS) {
    const hist = newHistogram();
    let completed = 0;
    let failures = 0;
    let dropped = 0;
    for (let s = from; s < from + windowS; s++) {
      const second = metrics.seconds.get(s);
      if (second === undefined) continue;
      hist.add(second.hist);
      completed += second.completed;
      failures += second.failures;
      dropped += second.dropped;
    }
    const p95Ms = round(percentileMs(hist, 95));
    const errorRate = completed === 0 ? 0 : failures / completed;
    windows.push({
      fromS: from,
      toS: from + windowS,
      throughputRps: round(completed / windowS),
      p95Ms,
      errorRate: round(errorRate, 5),
      dropped,
      withinSlo: completed > 0 && p95Ms <= p95Bound && (failures === 0 || errorRate < errorBound) && dropped === 0,
    });
  }
  return windows;
}

export interface BuildReportInput {
  runId?: string;
  engine: Engine;
  scenario: ScenarioDef;
  target: LoadTarget;
  tokenUrl: string | undefined;
  metrics: Metrics;
  slo: SloTable;
  startedAt: Date;
  finishedAt: Date;
  workers: number;
  iterations: number;
  notes?: string[];
}

export function buildReport(input: BuildReportInput): LoadtestReport {
  const { metrics, scenario } = input;
  const durationS = Math.max(0.001, (input.finishedAt.getTime() - input.startedAt.getTime()) / 1000);
  const all = metrics.allLatency();
  const requests = metrics.requests;
  const ops: OpReport[] = [];
  for (const tag of OP_TAGS) {
    const op = metrics.ops.get(tag);
    if (op === undefined) continue;
    ops.push({
      tag,
      requests: op.requests,
      failures: op.failures,
      errorRate: op.requests === 0 ? 0 : round(op.failures / op.requests, 5),
      statuses: op.statuses,
      throughputRps: round(op.requests / durationS),
      meanMs: round(op.hist.mean / 1000),
      p50Ms: round(percentileMs(op.hist, 50)),
      p90Ms: round(percentileMs(op.hist, 90)),
      p95Ms: round(percentileMs(op.hist, 95)),
      p99Ms: round(percentileMs(op.hist, 99)),
      maxMs: round(op.hist.maxValue / 1000),
    });
  }
  const last = Math.max(-1, ...metrics.seconds.keys());
  const series: SeriesPoint[] = [];
  for (let t = 0; t <= last; t++) {
    const s = metrics.seconds.get(t);
    series.push({
      t,
      started: s?.started ?? 0,
      completed: s?.completed ?? 0,
      failures: s?.failures ?? 0,
      dropped: s?.dropped ?? 0,
      p50Ms: s === undefined ? 0 : round(percentileMs(s.hist, 50)),
      p95Ms: s === undefined ? 0 : round(percentileMs(s.hist, 95)),
      p99Ms: s === undefined ? 0 : round(percentileMs(s.hist, 99)),
    });
  }
  const slo = evaluateSlo(metrics, input.slo);
  let capacity: LoadtestReport['capacity'];
  if (scenario.executor.kind === 'ramping-arrival-rate' || scenario.name === 'batch-capacity') {
    const windows = capacityWindows(metrics, input.slo, scenario, scenario.capacityWindowS);
    const ok = windows.filter((w) => w.withinSlo);
    capacity = {
      windowS: scenario.capacityWindowS,
      throughputAtSloRps: ok.length === 0 ? 0 : Math.max(...ok.map((w) => w.throughputRps)),
      windows,
    };
  }
  const entries = metrics.entries;
  return {
    tool: 'fhirwatch loadtest',
    runId: input.runId ?? randomUUID(),
    engine: input.engine,
    notes: input.notes ?? [],
    scenario,
    target: {
      baseUrl: input.target.baseUrl,
      fhirVersion: input.target.fhirVersion,
      tenantId: input.target.tenantId ?? '',
      tokenUrl: input.tokenUrl,
    },
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    durationS: round(durationS, 3),
    workers: input.workers,
    totals: {
      iterations: input.iterations,
      requests,
      failures: metrics.failures,
      errorRate: requests === 0 ? 0 : round(metrics.failures / requests, 5),
      unavailable: metrics.unavailable,
      dropped: metrics.dropped,
      throughputRps: round(requests / durationS),
      p50Ms: round(percentileMs(all, 50)),
      p95Ms: round(percentileMs(all, 95)),
      p99Ms: round(percentileMs(all, 99)),
    },
    ops,
    slo,
    sloTable: input.slo,
    passed: slo.every((v) => v.passed),
    series,
    batchEntries: {
      total: entries.total,
      failed: entries.failed,
      successRate: entries.total === 0 ? 1 : round(1 - entries.failed / entries.total, 6),
      statuses: entries.statuses,
    },
    checks: [...metrics.checks].map(([name, c]) => ({ name, ...c })).sort((a, b) => a.name.localeCompare(b.name)),
    fields: [...metrics.fields]
      .map(([resourceType, f]) => ({ resourceType, ...f }))
      .sort((a, b) => a.resourceType.localeCompare(b.resourceType)),
    capacity,
    ...environment(),
  };
}

/** Entries per list refresh for the scenario (for the report's text). */
export function entriesPerBatch(scenario: ScenarioDef): number {
  return scenario.listSize * LIST_REFRESH_ENTRIES_PER_PATIENT;
}
