/**
 * The load-test scenarios, defined once as data. The open-model runner, the autocannon engine and the
 * bundled k6 scripts all read these definitions: the operation mix, the arrival-rate executor and the
 * SLO thresholds (slo.ts). Every knob can be overridden from flags or the environment (`resolveScenario`).
 */
import { LoadtestError } from './errors.ts';
import { OP_TAGS, type OpTag } from './slo.ts';

export const SCENARIO_NAMES = ['smoke', 'patients-app-mix', 'list-refresh', 'batch-capacity', 'soak', 'spike'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** One stage of a ramping arrival rate: go linearly to `target` iterations/s over `durationS`. */
export interface RampStage {
  target: number;
  durationS: number;
}

/** k6's `constant-arrival-rate` and `ramping-arrival-rate` executors. */
export type Executor =
  | { kind: 'constant-arrival-rate'; rate: number; durationS: number }
  | { kind: 'ramping-arrival-rate'; startRate: number; stages: readonly RampStage[] };

export interface ScenarioDef {
  name: ScenarioName;
  description: string;
  executor: Executor;
  /** Iterations in flight at most (k6's maxVUs); an iteration due when all are busy is dropped. */
  maxInFlight: number;
  /** Relative weight of each operation; an iteration is one operation. */
  mix: Partial<Record<OpTag, number>>;
  /** Patients per list-refresh batch (7 entries each). */
  listSize: number;
  /** Seconds per window when looking for the highest throughput that still met the SLO (batch-capacity). */
  capacityWindowS: number;
}

/** The knobs a user can set (flags or env); unset ones keep the scenario's defaults. */
export interface ScenarioKnobs {
  /** Constant rate (iterations/s); for a ramping scenario, scales the stages so the peak equals it. */
  rate?: number;
  /** Total duration in seconds (a ramping scenario's stages are scaled to fit). */
  durationS?: number;
  listSize?: number;
  maxInFlight?: number;
  /** Replace the mix, e.g. `{ 'list-refresh': 1 }`. */
  mix?: Partial<Record<OpTag, number>>;
}

const SESSION_MIX: Partial<Record<OpTag, number>> = {
  metadata: 2,
  token: 2,
  search: 30,
  'list-refresh': 40,
  read: 26,
};

/** The scenarios with their default knobs. */
export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioDef>> = {
  smoke: {
    name: 'smoke',
    description: 'A few iterations of every Patients-app request: does the service answer correctly at all',
    executor: { kind: 'constant-arrival-rate', rate: 5, durationS: 10 },
    maxInFlight: 20,
    mix: { metadata: 1, token: 1, search: 2, 'list-refresh': 2, read: 2 },
    listSize: 5,
    capacityWindowS: 5,
  },
  'patients-app-mix': {
    name: 'patients-app-mix',
    description: 'The Patients-app session mix (search, list refresh, detail reads, token, metadata) at a steady rate',
    executor: { kind: 'constant-arrival-rate', rate: 20, durationS: 60 },
    maxInFlight: 200,
    mix: SESSION_MIX,
    listSize: 5,
    capacityWindowS: 5,
  },
  'list-refresh': {
    name: 'list-refresh',
    description: 'List-refresh batches (N patients x 7 entries) at a constant arrival rate',
    executor: { kind: 'constant-arrival-rate', rate: 10, durationS: 30 },
    maxInFlight: 200,
    mix: { 'list-refresh': 1 },
    listSize: 5,
    capacityWindowS: 5,
  },
  'batch-capacity': {
    name: 'batch-capacity',
    description: 'List-refresh batches at a ramping arrival rate: the highest throughput that still met the SLO',
    executor: { kind: 'ramping-arrival-rate', startRate: 1, stages: [{ target: 200, durationS: 60 }] },
    maxInFlight: 400,
    mix: { 'list-refresh': 1 },
    listSize: 5,
    capacityWindowS: 3,
  },
  soak: {
    name: 'soak',
    description: 'The session mix at the go-live profile for 30 minutes (memory growth, error drift)',
    executor: { kind: 'constant-arrival-rate', rate: 20, durationS: 1800 },
    maxInFlight: 200,
    mix: SESSION_MIX,
    listSize: 5,
    capacityWindowS: 60,
  },
  spike: {
    name: 'spike',
    description: 'A sudden 10x burst of the session mix and back (ramp 5 → 50 → 5 iterations/s)',
    executor: {
      kind: 'ramping-arrival-rate',
      startRate: 5,
      stages: [
        { target: 5, durationS: 10 },
        { target: 50, durationS: 5 },
        { target: 50, durationS: 10 },
        { target: 5, durationS: 5 },
        { target: 5, durationS: 10 },
      ],
    },
    maxInFlight: 300,
    mix: SESSION_MIX,
    listSize: 5,
    capacityWindowS: 5,
  },
};

export function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(name);
}

function positive(name: string, value: number | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new LoadtestError('FW_LOAD_KNOB', `${name} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

/** Total duration of an executor in seconds. */
export function executorDurationS(executor: Executor): number {
  return executor.kind === 'constant-arrival-rate'
    ? executor.durationS
    : executor.stages.reduce((sum, s) => sum + s.durationS, 0);
}

/** Peak arrival rate of an executor (iterations/s). */
export function executorPeakRate(executor: Executor): number {
  return executor.kind === 'constant-arrival-rate'
    ? executor.rate
    : Math.max(executor.startRate, ...executor.stages.map((s) => s.target));
}

/** The scenario with the knobs applied (validated). */
export function resolveScenario(name: string, knobs: ScenarioKnobs = {}): ScenarioDef {
  if (!isScenarioName(name)) {
    throw new LoadtestError('FW_LOAD_SCENARIO', `unknown scenario '${name}' (one of ${SCENARIO_NAMES.join(', ')})`);
  }
  const base = SCENARIOS[name];
  const rate = positive('rate', knobs.rate, false);
  const durationS = positive('duration', knobs.durationS, false);
  const listSize = positive('patients per batch', knobs.listSize, true);
  const maxInFlight = positive('max in flight', knobs.maxInFlight, true);
  if (listSize !== undefined && listSize > 1000) throw new LoadtestError('FW_LOAD_KNOB', 'patients per batch ≤ 1000');
  let executor: Executor = base.executor;
  if (executor.kind === 'constant-arrival-rate') {
    executor = { ...executor, rate: rate ?? executor.rate, durationS: durationS ?? executor.durationS };
  } else {
    const peak = executorPeakRate(executor);
    const total = executorDurationS(executor);
    const rateScale = rate === undefined ? 1 : rate / peak;
    const timeScale = durationS === undefined ? 1 : durationS / total;
    executor = {
      kind: 'ramping-arrival-rate',
      startRate: executor.startRate * rateScale,
      stages: executor.stages.map((s) => ({ target: s.target * rateScale, durationS: s.durationS * timeScale })),
    };
  }
  let mix = base.mix;
  if (knobs.mix !== undefined) {
    for (const [tag, weight] of Object.entries(knobs.mix)) {
      if (!(OP_TAGS as readonly string[]).includes(tag))
        throw new LoadtestError('FW_LOAD_KNOB', `unknown operation '${tag}'`);
      if (!(Number.isFinite(weight) && weight >= 0)) throw new LoadtestError('FW_LOAD_KNOB', `bad weight for '${tag}'`);
    }
    mix = knobs.mix;
  }
  if (!Object.values(mix).some((w) => w !== undefined && w > 0)) {
    throw new LoadtestError('FW_LOAD_KNOB', 'the operation mix has no positive weight');
  }
  return {
    ...base,
    executor,
    mix,
    listSize: listSize ?? base.listSize,
    maxInFlight: maxInFlight ?? base.maxInFlight,
  };
}

/** Parse `search=3,list-refresh=5` into a mix. */
export function parseMix(text: string): Partial<Record<OpTag, number>> {
  const mix: Partial<Record<OpTag, number>> = {};
  for (const part of text.split(',')) {
    const [tag, weight] = part.split('=');
    if (tag === undefined || !(OP_TAGS as readonly string[]).includes(tag.trim())) {
      throw new LoadtestError('FW_LOAD_KNOB', `unknown operation in mix '${part}' (one of ${OP_TAGS.join(', ')})`);
    }
    mix[tag.trim() as OpTag] = weight === undefined ? 1 : Number(weight);
  }
  return mix;
}

/** Weighted pick of an operation. */
export function mixPicker(mix: Partial<Record<OpTag, number>>): (random: { next(): number }) => OpTag {
  const tags = OP_TAGS.filter((t) => (mix[t] ?? 0) > 0);
  const cumulative: number[] = [];
  let sum = 0;
  for (const t of tags) {
    sum += mix[t]!;
    cumulative.push(sum);
  }
  return (random) => {
    const x = random.next() * sum;
    for (let i = 0; i < tags.length; i++) if (x < cumulative[i]!) return tags[i]!;
    return tags[tags.length - 1]!;
  };
}
