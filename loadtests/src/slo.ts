/**
 * Service-level objectives a partner's FHIR service is load-tested against (../../../shared/spec/slo.md),
 * as data: one table drives the open-model runner's verdicts, the report and the k6 thresholds.
 * Every number can be overridden (`--slo <op>.<p95|p99|errors>=<value>`).
 */
import { LoadtestError } from './errors.ts';

/** Operation tags: every request of a run carries one; latency histograms and thresholds are per tag. */
export const OP_TAGS = ['metadata', 'token', 'search', 'list-refresh', 'read', 'export'] as const;
export type OpTag = (typeof OP_TAGS)[number];

export interface OpSlo {
  /** p95 latency bound in ms (undefined: no latency objective for this tag). */
  p95Ms?: number;
  /** p99 latency bound in ms. */
  p99Ms?: number;
  /** Largest share of failed calls (0..1): non-2xx, network errors, failed checks. */
  maxErrorRate: number;
}

export interface SloTable {
  ops: Record<OpTag, OpSlo>;
  /** Smallest share of batch entries answered 2xx (0..1). */
  minBatchEntrySuccess: number;
  /** Smallest share of calls answered without 5xx, 429 or timeout (0..1). */
  minAvailability: number;
  /** Most dropped iterations tolerated (the open model's pool ran out). */
  maxDroppedIterations: number;
}

/** slo.md's list-refresh p95 by patients per batch; p99 is twice the p95. */
export const LIST_REFRESH_P95_MS: readonly { patients: number; p95Ms: number }[] = [
  { patients: 1, p95Ms: 1000 },
  { patients: 5, p95Ms: 2000 },
  { patients: 10, p95Ms: 3000 },
  { patients: 20, p95Ms: 5000 },
];

/** The p95 bound of a list refresh of `patients` patients: the row of the smallest listed N ≥ patients (beyond 20: 250 ms per patient). */
export function listRefreshP95Ms(patients: number): number {
  for (const row of LIST_REFRESH_P95_MS) if (patients <= row.patients) return row.p95Ms;
  return Math.ceil(patients * 250);
}

/** slo.md's defaults for a run whose list refreshes carry `listSize` patients. */
export function defaultSlo(listSize: number): SloTable {
  const batchP95 = listRefreshP95Ms(listSize);
  return {
    ops: {
      metadata: { p95Ms: 300, p99Ms: 800, maxErrorRate: 0.001 },
      token: { p95Ms: 500, p99Ms: 1000, maxErrorRate: 0.001 },
      search: { p95Ms: 800, p99Ms: 1500, maxErrorRate: 0.005 },
      'list-refresh': { p95Ms: batchP95, p99Ms: 2 * batchP95, maxErrorRate: 0.005 },
      // slo.md sets no latency for direct reads and export kick-offs: they count toward errors and availability.
      read: { maxErrorRate: 0.005 },
      export: { maxErrorRate: 0.005 },
    },
    minBatchEntrySuccess: 0.999,
    minAvailability: 0.999,
    maxDroppedIterations: 0,
  };
}

/**
 * Apply overrides such as `list-refresh.p95=1500`, `search.errors=0.01`, `availability=0.99`,
 * `batch-entries=0.99`, `dropped=10`. Unknown keys are a usage error.
 */
export function applySloOverrides(table: SloTable, overrides: readonly string[]): SloTable {
  const out: SloTable = {
    ...table,
    ops: Object.fromEntries(OP_TAGS.map((t) => [t, { ...table.ops[t] }])) as Record<OpTag, OpSlo>,
  };
  for (const text of overrides) {
    const match = /^([a-z-]+)(?:\.(p95|p99|errors))?=([0-9.]+)$/.exec(text.trim());
    const value = match === null ? Number.NaN : Number(match[3]);
    if (match === null || !Number.isFinite(value) || value < 0) {
      throw new LoadtestError(
        'FW_LOAD_SLO',
        `bad SLO override '${text}' (e.g. list-refresh.p95=1500, search.errors=0.01)`,
      );
    }
    const [, key, field] = match;
    if (field !== undefined && (OP_TAGS as readonly string[]).includes(key!)) {
      const op = out.ops[key as OpTag];
      if (field === 'p95') op.p95Ms = value;
      else if (field === 'p99') op.p99Ms = value;
      else op.maxErrorRate = value;
    } else if (field === undefined && key === 'availability') out.minAvailability = value;
    else if (field === undefined && key === 'batch-entries') out.minBatchEntrySuccess = value;
    else if (field === undefined && key === 'dropped') out.maxDroppedIterations = value;
    else throw new LoadtestError('FW_LOAD_SLO', `unknown SLO '${text.split('=')[0]}'`);
  }
  return out;
}

/** One SLO verdict of a run (also the shape stored in `loadtest_runs.slo_verdicts`). */
export interface SloVerdict {
  name: string;
  /** Human-readable bound (`p95 <= 2000 ms`). */
  threshold: string;
  /** Observed value in the threshold's unit. */
  observed: number;
  passed: boolean;
}
