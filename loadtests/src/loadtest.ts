/**
 * `fhirwatch loadtest` as a library call: run a scenario with the open model or autocannon, evaluate the
 * SLOs, and (optionally) write the report directory. The CLI only parses flags into these options.
 */
import { CLOSED_MODEL_NOTE, runAutocannon } from './autocannon-engine.ts';
import { writeLoadtestReport } from './report-files.ts';
import { type CheckMode, runOpenModel } from './runner.ts';
import type { ScenarioDef } from './scenarios.ts';
import type { LoadTarget } from './session.ts';
import type { SloTable } from './slo.ts';
import { buildReport, type Engine, type LoadtestReport } from './summary.ts';

export interface ProgressLine {
  elapsedS: number;
  /** Iterations completed in the last full second. */
  rate: number;
  lastSecondP95Ms: number;
  failures: number;
  dropped: number;
}

export interface LoadtestOptions {
  target: LoadTarget;
  scenario: ScenarioDef;
  slo: SloTable;
  engine?: Engine;
  /** Open model: worker threads (default: one per core less one, at least 1). */
  workers?: number;
  /** Open model: `throughput` samples the deep field checks (see runner.ts); default `full`. */
  checks?: CheckMode;
  /** autocannon: connections (default 10). Open model: connections per origin in all (default maxInFlight). */
  connections?: number;
  seed?: number;
  timeoutMs?: number;
  /** Write report.html, report.json and junit.xml here. */
  reportDir?: string;
  signal?: AbortSignal;
  onProgress?: (line: ProgressLine) => void;
}

/** Run the load test; resolves with the report (its `passed` is the SLO verdict). */
export async function runLoadtest(options: LoadtestOptions): Promise<LoadtestReport> {
  const engine = options.engine ?? 'open';
  let report: LoadtestReport;
  const common = {
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  if (engine === 'open') {
    const run = await runOpenModel({
      target: options.target,
      scenario: options.scenario,
      ...common,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      ...(options.checks === undefined ? {} : { checks: options.checks }),
      ...(options.connections === undefined ? {} : { connections: options.connections }),
      onProgress: (t) =>
        options.onProgress?.({
          elapsedS: t.elapsedS,
          rate: t.lastSecondCompleted,
          lastSecondP95Ms: t.lastSecondP95Ms,
          failures: t.failures,
          dropped: t.dropped,
        }),
    });
    report = buildReport({
      engine,
      scenario: options.scenario,
      target: options.target,
      tokenUrl: run.setup.tokenUrl,
      metrics: run.metrics,
      slo: options.slo,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      workers: run.workers,
      iterations: run.iterations,
    });
  } else {
    const run = await runAutocannon({
      target: options.target,
      scenario: options.scenario,
      ...common,
      ...(options.connections === undefined ? {} : { connections: options.connections }),
      onProgress: (t) =>
        options.onProgress?.({
          elapsedS: t.elapsedS,
          rate: t.lastSecondCompleted,
          lastSecondP95Ms: t.lastSecondP95Ms,
          failures: t.failures,
          dropped: 0,
        }),
    });
    report = buildReport({
      engine,
      scenario: options.scenario,
      target: options.target,
      tokenUrl: run.setup.tokenUrl,
      metrics: run.metrics,
      slo: options.slo,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      workers: 1,
      iterations: run.metrics.requests,
      notes: [CLOSED_MODEL_NOTE],
    });
  }
  if (options.reportDir !== undefined) writeLoadtestReport(options.reportDir, report);
  return report;
}

/** The live progress line: `12s  rate 48.9/s  p95 212 ms  errors 0  dropped 0`. */
export function formatProgress(line: ProgressLine): string {
  return `${line.elapsedS.toFixed(0).padStart(4)}s  rate ${line.rate.toFixed(1)}/s  p95 ${line.lastSecondP95Ms.toFixed(0)} ms  errors ${line.failures}  dropped ${line.dropped}`;
}
