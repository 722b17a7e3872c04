/**
 * The open-model runner (the SLO engine). Iterations start on the executor's schedule whether or not earlier
 * ones finished (k6's constant- and ramping-arrival-rate executors); each iteration's latency is measured
 * from its *scheduled* start, so time spent waiting (in the generator, in a queue, on a slow server) is in
 * the number (no coordinated omission). At most `maxInFlight` iterations run at once: an iteration that is
 * due when every slot is busy is not started and counts as a dropped iteration.
 *
 * Several cores: the global schedule T_0, T_1, … is dealt round-robin to `workers` worker threads (iteration j
 * to shard j mod W), each with its own undici pools and `Metrics`; their snapshots are merged exactly. By
 * default there is one worker per core less one (the main thread merges and reports); on ≤ 2 cores the
 * load is generated on this thread.
 *
 * Throughput mode (`checks: 'throughput'`): every answer's status, resource type and id, search semantics and
 * every batch entry's status are checked; the deep required-field checks of the returned resources (the
 * costliest part of a check) run on one answer in THROUGHPUT_DEEP_CHECK_EVERY; requests to a plain-HTTP
 * base go through the raw keep-alive client (raw-http.ts: one prebuilt Buffer per request, no undici
 * dispatcher objects, a callback from the answer to `complete` without promises).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { LoadtestError } from './errors.ts';
import { Metrics, type MetricsSnapshot, percentileMs } from './metrics.ts';
import { createRandom } from './random.ts';
import { type Executor, executorDurationS, mixPicker, type ScenarioDef } from './scenarios.ts';
import { FhirSession, type LoadTarget, type OpOutcome, type SessionSetup } from './session.ts';
import type { OpTag } from './slo.ts';

/**
 * Scheduled start (s since the run's start) of global iteration `j`: the time at which the executor's
 * cumulative arrivals reach j. Undefined once past the executor's end.
 */
export function scheduleTime(executor: Executor, j: number): number | undefined {
  if (executor.kind === 'constant-arrival-rate') {
    const t = j / executor.rate;
    return t < executor.durationS ? t : undefined;
  }
  let cum = 0;
  let start = 0;
  let r0 = executor.startRate;
  for (const stage of executor.stages) {
    const r1 = stage.target;
    const d = stage.durationS;
    const area = ((r0 + r1) / 2) * d;
    if (j < cum + area) {
      const x = j - cum;
      const a = (r1 - r0) / (2 * d);
      let tau: number;
      if (Math.abs(a) < 1e-12) tau = x / r0;
      else tau = (-r0 + Math.sqrt(Math.max(0, r0 * r0 + 4 * a * x))) / (2 * a);
      return start + Math.min(Math.max(tau, 0), d);
    }
    cum += area;
    start += d;
    r0 = r1;
  }
  return undefined;
}

/** Scheduled start in ms of global iteration j, undefined past the end. */
function dueMs(executor: Executor, j: number): number | undefined {
  const t = scheduleTime(executor, j);
  return t === undefined ? undefined : t * 1000;
}

/** Global iterations scheduled at or before t seconds (the count of j with T_j <= t). */
export function arrivalsBy(executor: Executor, t: number): number {
  if (executor.kind === 'constant-arrival-rate') {
    return Math.min(Math.floor(t * executor.rate) + 1, Math.ceil(executor.rate * executor.durationS));
  }
  let cum = 0;
  let start = 0;
  let r0 = executor.startRate;
  for (const stage of executor.stages) {
    const d = stage.durationS;
    const r1 = stage.target;
    if (t < start + d) {
      const tau = Math.max(0, t - start);
      return Math.floor(cum + r0 * tau + ((r1 - r0) * tau * tau) / (2 * d)) + 1;
    }
    cum += ((r0 + r1) / 2) * d;
    start += d;
    r0 = r1;
  }
  return Math.ceil(cum);
}

/** Expected number of iterations of an executor (its cumulative arrivals at the end). */
export function expectedIterations(executor: Executor): number {
  if (executor.kind === 'constant-arrival-rate') return Math.ceil(executor.rate * executor.durationS);
  let r0 = executor.startRate;
  let total = 0;
  for (const s of executor.stages) {
    total += ((r0 + s.target) / 2) * s.durationS;
    r0 = s.target;
  }
  return Math.ceil(total);
}

export interface ShardConfig {
  target: LoadTarget;
  scenario: ScenarioDef;
  shardIndex: number;
  shardCount: number;
  seed: number;
  timeoutMs: number;
  /** Connections per origin for this shard. */
  connections: number;
  /** Deep (required-field) checks on one answer in this many (1: every answer). */
  deepCheckEvery: number;
}

/** What a shard reports about once a second. */
export interface ShardTick {
  elapsedS: number;
  started: number;
  completed: number;
  failures: number;
  dropped: number;
  /** p95 (ms) of the iterations completed in the last full second. */
  lastSecondP95Ms: number;
  /** Iterations completed in the last full second. */
  lastSecondCompleted: number;
}

export interface ShardResult {
  snapshot: MetricsSnapshot;
  iterations: number;
}

/** Run one shard of a scenario on this thread. */
export async function runShard(
  config: ShardConfig,
  setup: SessionSetup,
  options: { signal?: AbortSignal; onTick?: (tick: ShardTick) => void; startAt?: number } = {},
): Promise<ShardResult> {
  const { scenario, shardIndex, shardCount } = config;
  const session = new FhirSession(config.target, {
    connections: config.connections,
    timeoutMs: config.timeoutMs,
    listSize: scenario.listSize,
    deepCheckEvery: config.deepCheckEvery,
    // Throughput mode: the raw keep-alive client (prebuilt request bytes) for the base origin.
    rawHttp: config.deepCheckEvery > 1,
  });
  session.adopt(setup);
  const metrics = new Metrics();
  const random = createRandom(config.seed * 1009 + shardIndex);
  const pick = mixPicker(scenario.mix);
  const maxInFlight = Math.max(1, Math.ceil(scenario.maxInFlight / shardCount));
  if (options.startAt !== undefined) {
    const wait = options.startAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  let inFlight = 0;
  let started = 0;
  let lastTick = 0;
  const tick = (): void => {
    const elapsed = now();
    if (elapsed - lastTick < 1000) return;
    lastTick = elapsed;
    const previous = metrics.seconds.get(Math.floor(elapsed / 1000) - 1);
    options.onTick?.({
      elapsedS: elapsed / 1000,
      started,
      completed: metrics.requests,
      failures: metrics.failures,
      dropped: metrics.dropped,
      lastSecondP95Ms: previous === undefined ? 0 : percentileMs(previous.hist, 95),
      lastSecondCompleted: previous?.completed ?? 0,
    });
  };
  const executor = scenario.executor;
  const total = expectedIterations(executor);
  /** Next global iteration of this shard, and its scheduled start (ms), undefined when the schedule is over. */
  let j = shardIndex;
  let nextDueMs = dueMs(executor, j);
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  let timer: NodeJS.Timeout | undefined;
  let immediate = false;
  let scheduleOver = false;
  let scheduleEndMs: number | undefined;

  const complete = (tag: OpTag, dueAt: number, outcome: OpOutcome | undefined): void => {
    const end = now();
    // op() never rejects for a server's answer; anything else is a bug worth a failed iteration.
    metrics.record(
      outcome ?? { tag, status: 0, verdict: { checks: [{ name: 'iteration ran', ok: false }], fields: [] } },
      end - dueAt,
      end,
    );
    inFlight--;
    pump();
  };
  const launch = (dueAt: number): void => {
    inFlight++;
    started++;
    metrics.started(dueAt);
    const tag = pick(random);
    session.run(tag, random, (outcome) => complete(tag, dueAt, outcome));
  };
  /**
   * Start every iteration that is due, while a slot is free; when none is, the iterations due by now are
   * dropped (counted in bulk). Runs on every completion and on a timer for the next scheduled start, so a
   * freed slot is used at once and nothing spins.
   */
  function pump(): void {
    if (scheduleOver) {
      if (inFlight === 0) finished();
      return;
    }
    if (options.signal?.aborted === true) nextDueMs = undefined;
    const current = now();
    while (nextDueMs !== undefined && nextDueMs <= current) {
      if (inFlight < maxInFlight) {
        launch(nextDueMs);
        j += shardCount;
        nextDueMs = dueMs(executor, j);
        continue;
      }
      // Full: every iteration of this shard due by now is dropped.
      const dueGlobal = Math.min(total, arrivalsBy(executor, current / 1000));
      const mine = dueGlobal > j ? Math.ceil((dueGlobal - j) / shardCount) : 1;
      metrics.drop(nextDueMs, mine);
      j += mine * shardCount;
      nextDueMs = dueMs(executor, j);
    }
    tick();
    if (nextDueMs === undefined) {
      scheduleOver = true;
      scheduleEndMs = current;
      if (timer !== undefined) clearTimeout(timer);
      if (inFlight === 0) finished();
      return;
    }
    const wait = nextDueMs - current;
    if (inFlight < maxInFlight && wait < 1) {
      // Due within a millisecond and a slot is free: check again right after pending I/O (timers are 1 ms coarse).
      if (!immediate) {
        immediate = true;
        setImmediate(() => {
          immediate = false;
          pump();
        });
      }
      return;
    }
    if (timer !== undefined) return;
    // A free slot waits for the next start; a full pool is pumped by completions, this only keeps the drop count current.
    timer = setTimeout(
      () => {
        timer = undefined;
        pump();
      },
      inFlight < maxInFlight ? Math.min(wait, 100) : 100,
    );
  }
  pump();
  // After the last scheduled start, wait for the iterations in flight (each bounded by the request timeout).
  const grace = config.timeoutMs + 5000;
  let waiter: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    waiter = setInterval(() => {
      tick();
      if (scheduleEndMs !== undefined && now() - scheduleEndMs > grace) resolve();
    }, 1000);
  });
  await Promise.race([done, gaveUp]);
  clearInterval(waiter);
  if (timer !== undefined) clearTimeout(timer);
  const snapshot = metrics.snapshot();
  // Closed after the snapshot: an iteration still out past the grace is not recorded as a failure here.
  void session.close().catch(() => {});
  return { snapshot, iterations: started + metrics.dropped };
}

export interface OpenModelOptions {
  target: LoadTarget;
  scenario: ScenarioDef;
  /** Worker threads (default `defaultWorkers()`: one per core less one, so 1 = this thread on ≤ 2 cores). */
  workers?: number;
  /**
   * `full` (default): every answer gets every check. `throughput`: every status, resource identity and
   * batch entry is still checked, the deep required-field checks run on one answer in
   * `THROUGHPUT_DEEP_CHECK_EVERY` (the report's field tallies say how many were checked).
   */
  checks?: CheckMode;
  seed?: number;
  timeoutMs?: number;
  /** Connections per origin in all (default maxInFlight, at least 1). */
  connections?: number;
  signal?: AbortSignal;
  /** About once a second: merged counters; p95 is the highest of the shards' last-second p95. */
  onProgress?: (tick: ShardTick) => void;
  /** Reuse a setup (otherwise one is done: discovery, token, patient sample). */
  setup?: SessionSetup;
}

export interface OpenModelResult {
  metrics: Metrics;
  setup: SessionSetup;
  startedAt: Date;
  finishedAt: Date;
  workers: number;
  /** Iterations due in all (started + dropped). */
  iterations: number;
}

export type CheckMode = 'full' | 'throughput';
/** Throughput mode: one answer in this many gets the deep required-field checks. */
export const THROUGHPUT_DEEP_CHECK_EVERY = 16;

/** The default worker count: one per core, less one for the main thread, at least 1. */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

/** Run a scenario with the open model on `workers` threads and merge the shards. */
export async function runOpenModel(options: OpenModelOptions): Promise<OpenModelResult> {
  const workers = options.workers ?? defaultWorkers();
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new LoadtestError('FW_LOAD_KNOB', 'workers must be an integer in [1, 64]');
  }
  const scenario = options.scenario;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const seed = options.seed ?? 1;
  const connections = Math.max(1, Math.ceil((options.connections ?? scenario.maxInFlight) / workers));
  let setup = options.setup;
  if (setup === undefined) {
    const session = new FhirSession(options.target, { timeoutMs, listSize: scenario.listSize, connections: 4 });
    try {
      setup = await session.setup();
    } finally {
      await session.close();
    }
  }
  const startedAt = new Date();
  const configs: ShardConfig[] = Array.from({ length: workers }, (_, shardIndex) => ({
    target: options.target,
    scenario,
    shardIndex,
    shardCount: workers,
    seed,
    timeoutMs,
    connections,
    deepCheckEvery: options.checks === 'throughput' ? THROUGHPUT_DEEP_CHECK_EVERY : 1,
  }));
  const metrics = new Metrics();
  let iterations = 0;
  if (workers === 1) {
    const result = await runShard(configs[0]!, setup, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onProgress === undefined ? {} : { onTick: options.onProgress }),
    });
    metrics.merge(result.snapshot);
    iterations = result.iterations;
  } else {
    const ticks: (ShardTick | undefined)[] = new Array(workers).fill(undefined);
    const startAt = Date.now() + 250;
    // Running from the TypeScript source: workers resolve workspace packages to their source too.
    const fromSource = import.meta.url.endsWith('.ts');
    const execArgv =
      !fromSource || process.execArgv.includes('--conditions=fhirwatch-source')
        ? process.execArgv
        : [...process.execArgv, '--conditions=fhirwatch-source'];
    const results = await Promise.all(
      configs.map(
        (config, i) =>
          new Promise<ShardResult>((resolve, reject) => {
            const worker = new Worker(WORKER_URL, { workerData: { config, setup, startAt }, execArgv });
            const abort = (): void => worker.postMessage({ type: 'abort' });
            options.signal?.addEventListener('abort', abort, { once: true });
            worker.on(
              'message',
              (message: { type: 'tick'; tick: ShardTick } | { type: 'done'; result: ShardResult }) => {
                if (message.type === 'tick') {
                  ticks[i] = message.tick;
                  if (options.onProgress !== undefined && i === 0) options.onProgress(mergeTicks(ticks));
                } else {
                  options.signal?.removeEventListener('abort', abort);
                  resolve(message.result);
                }
              },
            );
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (code !== 0) reject(new LoadtestError('FW_LOAD_WORKER', `load worker ${i} exited with ${code}`));
            });
          }),
      ),
    );
    for (const r of results) {
      metrics.merge(r.snapshot);
      iterations += r.iterations;
    }
  }
  const finishedAt = new Date();
  return { metrics, setup, startedAt, finishedAt, workers, iterations };
}

function mergeTicks(ticks: readonly (ShardTick | undefined)[]): ShardTick {
  const out: ShardTick = {
    elapsedS: 0,
    started: 0,
    completed: 0,
    failures: 0,
    dropped: 0,
    lastSecondP95Ms: 0,
    lastSecondCompleted: 0,
  };
  for (const t of ticks) {
    if (t === undefined) continue;
    out.elapsedS = Math.max(out.elapsedS, t.elapsedS);
    out.started += t.started;
    out.completed += t.completed;
    out.failures += t.failures;
    out.dropped += t.dropped;
    out.lastSecondP95Ms = Math.max(out.lastSecondP95Ms, t.lastSecondP95Ms);
    out.lastSecondCompleted += t.lastSecondCompleted;
  }
  return out;
}

/** Planned duration of a scenario in seconds. */
export function scenarioDurationS(scenario: ScenarioDef): number {
  return executorDurationS(scenario.executor);
}
