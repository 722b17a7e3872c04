/**
 * The closed-model engine on autocannon: `connections` connections each send a request, wait for its
 * answer, then send the next. It finds peak throughput quickly, but it hides queueing: when the server
 * slows down, the load slows down with it (coordinated omission), so its latencies are service times, not
 * what a user waiting in line would see. SLO verdicts for go-live come from the open model.
 *
 * Requests are built per request (`setupRequest`): each list refresh asks for other patients, each search
 * another name, and the bearer token is the session's current one (refreshed in the background before it
 * expires). Every answer goes through the same checks as the open model (`onResponse`).
 */
import autocannon from 'autocannon';
import { LoadtestError } from './errors.ts';
import { Metrics } from './metrics.ts';
import { createRandom } from './random.ts';
import { executorDurationS, mixPicker, type ScenarioDef } from './scenarios.ts';
import { FhirSession, type LoadTarget, type PlannedOp, type SessionSetup } from './session.ts';
import { OP_TAGS } from './slo.ts';

export const CLOSED_MODEL_NOTE =
  'Closed model (autocannon): each connection waits for an answer before sending the next request, so a slow ' +
  'server slows the load down and queueing is hidden (coordinated omission). Latencies here are service times; ' +
  'use the open-model engine for go-live SLO verdicts.';

export interface AutocannonOptions {
  target: LoadTarget;
  scenario: ScenarioDef;
  /** Concurrent connections (default 10). */
  connections?: number;
  /** Seconds (default: the scenario's duration). */
  durationS?: number;
  seed?: number;
  timeoutMs?: number;
  setup?: SessionSetup;
  signal?: AbortSignal;
  onProgress?: (tick: {
    elapsedS: number;
    completed: number;
    failures: number;
    lastSecondP95Ms: number;
    lastSecondCompleted: number;
  }) => void;
}

export interface AutocannonRunResult {
  metrics: Metrics;
  setup: SessionSetup;
  startedAt: Date;
  finishedAt: Date;
  /** autocannon's own result (its request count, non-2xx, errors, timeouts). */
  raw: { requests: number; non2xx: number; errors: number; timeouts: number; rps: number };
}

interface Context {
  t0?: number;
  planned?: PlannedOp;
}

export async function runAutocannon(options: AutocannonOptions): Promise<AutocannonRunResult> {
  const { scenario } = options;
  const connections = options.connections ?? 10;
  const durationS = options.durationS ?? executorDurationS(scenario.executor);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const session = new FhirSession(options.target, { connections: 4, timeoutMs, listSize: scenario.listSize });
  const setup = options.setup ?? (await session.setup());
  session.adopt(setup);
  const base = new URL(options.target.baseUrl);
  const random = createRandom((options.seed ?? 1) * 7717);
  const pick = mixPicker(scenario.mix);
  // Operations outside the target's origin (a token endpoint on another host) cannot go through one autocannon target.
  const sameOrigin = (op: PlannedOp): boolean => new URL(op.url).origin === base.origin;
  if (
    session.tokenUrl !== undefined &&
    new URL(session.tokenUrl).origin !== base.origin &&
    (scenario.mix.token ?? 0) > 0
  ) {
    throw new LoadtestError(
      'FW_LOAD_AUTOCANNON',
      'the token endpoint is on another origin: leave `token` out of the mix',
    );
  }
  const sequence = Array.from({ length: 20 }, () => pick(random));
  const metrics = new Metrics();
  let t0Run = performance.now();
  const refresher = setInterval(() => {
    session.token().catch(() => undefined);
  }, 5_000);
  refresher.unref();
  const requests: autocannon.Request[] = sequence.map((tag) => ({
    method: 'GET',
    path: '/',
    setupRequest: (request: autocannon.Request, context: object) => {
      const planned = session.buildOp(tag, random, session.cachedToken);
      if (!sameOrigin(planned)) return request;
      const url = new URL(planned.url);
      const ctx = context as Context;
      ctx.planned = planned;
      ctx.t0 = performance.now();
      return {
        ...request,
        method: planned.method,
        path: url.pathname + url.search,
        headers: planned.headers,
        ...(planned.body === undefined ? { body: '' } : { body: planned.body }),
      } as autocannon.Request;
    },
    onResponse: (status: number, body: string, context: object, headers: object | undefined) => {
      const ctx = context as Context;
      if (ctx.planned === undefined || ctx.t0 === undefined) return;
      const end = performance.now();
      const verdict = ctx.planned.check(status, body, () => (headers ?? {}) as Record<string, string>);
      metrics.record({ tag: ctx.planned.tag, status, verdict }, end - ctx.t0, end - t0Run);
      ctx.planned = undefined;
    },
  }));
  const startedAt = new Date();
  t0Run = performance.now();
  const instance = autocannon({
    url: base.origin,
    connections,
    pipelining: 1,
    duration: durationS,
    timeout: Math.ceil(timeoutMs / 1000),
    requests,
  });
  const abort = (): void => (instance as unknown as { stop(): void }).stop();
  options.signal?.addEventListener('abort', abort, { once: true });
  const ticker = setInterval(() => {
    const elapsed = performance.now() - t0Run;
    const last = metrics.seconds.get(Math.floor(elapsed / 1000) - 1);
    options.onProgress?.({
      elapsedS: elapsed / 1000,
      completed: metrics.requests,
      lastSecondCompleted: last?.completed ?? 0,
      failures: metrics.failures,
      lastSecondP95Ms: last === undefined || last.hist.totalCount === 0 ? 0 : last.hist.getValueAtPercentile(95) / 1000,
    });
  }, 1000);
  let result: autocannon.Result;
  try {
    result = await instance;
  } finally {
    clearInterval(ticker);
    clearInterval(refresher);
    options.signal?.removeEventListener('abort', abort);
    await session.close();
  }
  // Requests autocannon gave up on (timeouts, socket errors) never reached onResponse: count them as failed, unattributed.
  const lost = result.errors + result.timeouts;
  for (let i = 0; i < lost; i++) {
    const tag = sequence[i % sequence.length] ?? OP_TAGS[0];
    metrics.record(
      { tag, status: 0, verdict: { checks: [{ name: 'answered before the timeout', ok: false }], fields: [] } },
      timeoutMs,
      performance.now() - t0Run,
    );
  }
  return {
    metrics,
    setup,
    startedAt,
    finishedAt: new Date(),
    raw: {
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      rps: result.requests.average,
    },
  };
}
