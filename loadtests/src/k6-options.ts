/**
 * k6 `options` for a scenario definition: the arrival-rate executor, and thresholds from the SLO table per
 * tagged sub-metric (k6's conventions). The bundled k6 scripts compute their options with this function
 * and a test holds each bundle's options equal to it. Pure (no Node or k6 API): it is bundled into the scripts.
 */
import type { ScenarioDef } from './scenarios.ts';
import { OP_TAGS, type SloTable } from './slo.ts';

export interface K6Options {
  scenarios: Record<string, Record<string, unknown>>;
  thresholds: Record<string, string[]>;
  summaryTrendStats: string[];
}

/** Custom metrics of the scripts: a failed operation (non-2xx or a failed check), a 2xx batch entry. */
export const K6_METRICS = { opFailed: 'op_failed', batchEntryOk: 'batch_entry_ok' } as const;

const seconds = (s: number): string => `${Math.round(s * 1000) / 1000}s`;

export function k6Options(scenario: ScenarioDef, slo: SloTable): K6Options {
  const e = scenario.executor;
  const maxVUs = scenario.maxInFlight;
  const preAllocatedVUs = Math.min(maxVUs, Math.max(1, Math.ceil(Math.min(maxVUs, 50))));
  const executor: Record<string, unknown> =
    e.kind === 'constant-arrival-rate'
      ? {
          executor: 'constant-arrival-rate',
          rate: e.rate,
          timeUnit: '1s',
          duration: seconds(e.durationS),
          preAllocatedVUs,
          maxVUs,
        }
      : {
          executor: 'ramping-arrival-rate',
          startRate: e.startRate,
          timeUnit: '1s',
          preAllocatedVUs,
          maxVUs,
          stages: e.stages.map((s) => ({ target: s.target, duration: seconds(s.durationS) })),
        };
  const thresholds: Record<string, string[]> = {};
  for (const tag of OP_TAGS) {
    if ((scenario.mix[tag] ?? 0) <= 0) continue;
    const bounds = slo.ops[tag];
    const latency: string[] = [];
    if (bounds.p95Ms !== undefined) latency.push(`p(95)<=${bounds.p95Ms}`);
    if (bounds.p99Ms !== undefined) latency.push(`p(99)<=${bounds.p99Ms}`);
    if (latency.length > 0) thresholds[`http_req_duration{op:${tag}}`] = latency;
    thresholds[`${K6_METRICS.opFailed}{op:${tag}}`] = [`rate<${bounds.maxErrorRate}`];
  }
  if ((scenario.mix['list-refresh'] ?? 0) > 0)
    thresholds[K6_METRICS.batchEntryOk] = [`rate>=${slo.minBatchEntrySuccess}`];
  // Availability: no 5xx, 429 or timeout (k6's http_req_failed is set by the scripts' responseCallback accordingly).
  thresholds.http_req_failed = [`rate<=${Math.round((1 - slo.minAvailability) * 1e6) / 1e6}`];
  thresholds.checks = [`rate>=${slo.minAvailability}`];
  thresholds.dropped_iterations = [`count<=${slo.maxDroppedIterations}`];
  return {
    scenarios: { [scenario.name]: executor },
    thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  };
}
