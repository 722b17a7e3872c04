/**
 * What a run measures: HDR latency histograms per operation tag (microseconds, 3 significant digits),
 * check pass/fail counts, batch-entry statuses, required-field conformance per resource type, dropped
 * iterations, and the same per second of the run. A shard (one thread) records into its own `Metrics`;
 * snapshots are plain JSON (histograms as HDR's compressed base64) and merge exactly: counts add and
 * histograms are added bucket by bucket, so merged percentiles equal those of one histogram of every sample.
 */
import hdr from 'hdr-histogram-js';
import type { EntryTally } from './checks.ts';
import type { OpOutcome } from './session.ts';
import type { OpTag } from './slo.ts';

type Histogram = ReturnType<typeof hdr.build>;

export function newHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    numberOfSignificantValueDigits: 3,
  });
}

export interface OpStats {
  hist: Histogram;
  requests: number;
  /** Calls that failed: no response, non-2xx, or a failed check (a 200 whose entries failed included). */
  failures: number;
  /** Count per HTTP status (`0` = no response). */
  statuses: Record<string, number>;
}

export interface SecondStats {
  started: number;
  completed: number;
  failures: number;
  dropped: number;
  hist: Histogram;
}

export interface FieldStats {
  checked: number;
  ok: number;
  /** Count of resources missing each required path. */
  missing: Record<string, number>;
}

/** Serializable form of `Metrics` (worker → main thread, report.json). */
export interface MetricsSnapshot {
  ops: Record<string, { hist: string; requests: number; failures: number; statuses: Record<string, number> }>;
  checks: Record<string, { passes: number; fails: number }>;
  entries: EntryTally;
  fields: Record<string, FieldStats>;
  dropped: number;
  unavailable: number;
  seconds: Record<string, { started: number; completed: number; failures: number; dropped: number; hist: string }>;
}

/** Not available in slo.md's sense: no response (timeout, network), any 5xx, or 429. */
export function isUnavailable(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}

export class Metrics {
  readonly ops = new Map<OpTag, OpStats>();
  readonly checks = new Map<string, { passes: number; fails: number }>();
  readonly entries: EntryTally = { total: 0, failed: 0, statuses: {} };
  readonly fields = new Map<string, FieldStats>();
  readonly seconds = new Map<number, SecondStats>();
  dropped = 0;
  unavailable = 0;

  #second(index: number): SecondStats {
    let s = this.seconds.get(index);
    if (s === undefined) {
      s = { started: 0, completed: 0, failures: 0, dropped: 0, hist: newHistogram() };
      this.seconds.set(index, s);
    }
    return s;
  }

  #op(tag: OpTag): OpStats {
    let op = this.ops.get(tag);
    if (op === undefined) {
      op = { hist: newHistogram(), requests: 0, failures: 0, statuses: {} };
      this.ops.set(tag, op);
    }
    return op;
  }

  /** An iteration started (at `atMs` since the run's start). */
  started(atMs: number): void {
    this.#second(Math.floor(atMs / 1000)).started++;
  }

  /** `count` iterations that were due found every slot busy. */
  drop(atMs: number, count = 1): void {
    this.dropped += count;
    this.#second(Math.floor(atMs / 1000)).dropped += count;
  }

  /** One finished operation: latency (ms, from its scheduled start) and what its checks found. */
  record(outcome: OpOutcome, latencyMs: number, completedAtMs: number): void {
    const micros = Math.max(1, Math.round(latencyMs * 1000));
    const op = this.#op(outcome.tag);
    const failed = !(outcome.status >= 200 && outcome.status < 300) || outcome.verdict.checks.some((c) => !c.ok);
    op.hist.recordValue(micros);
    op.requests++;
    if (failed) op.failures++;
    const key = String(outcome.status);
    op.statuses[key] = (op.statuses[key] ?? 0) + 1;
    if (isUnavailable(outcome.status)) this.unavailable++;
    for (const check of outcome.verdict.checks) {
      let c = this.checks.get(check.name);
      if (c === undefined) {
        c = { passes: 0, fails: 0 };
        this.checks.set(check.name, c);
      }
      if (check.ok) c.passes++;
      else c.fails++;
    }
    const entries = outcome.verdict.entries;
    if (entries !== undefined) {
      this.entries.total += entries.total;
      this.entries.failed += entries.failed;
      for (const [status, n] of Object.entries(entries.statuses)) {
        this.entries.statuses[status] = (this.entries.statuses[status] ?? 0) + n;
      }
    }
    for (const field of outcome.verdict.fields) {
      let f = this.fields.get(field.resourceType);
      if (f === undefined) {
        f = { checked: 0, ok: 0, missing: {} };
        this.fields.set(field.resourceType, f);
      }
      f.checked++;
      if (field.ok) f.ok++;
      for (const path of field.missing) f.missing[path] = (f.missing[path] ?? 0) + 1;
    }
    const second = this.#second(Math.floor(completedAtMs / 1000));
    second.completed++;
    if (failed) second.failures++;
    second.hist.recordValue(micros);
  }

  snapshot(): MetricsSnapshot {
    const encode = (h: Histogram): string => hdr.encodeIntoCompressedBase64(h);
    return {
      ops: Object.fromEntries(
        [...this.ops].map(([tag, op]) => [
          tag,
          { hist: encode(op.hist), requests: op.requests, failures: op.failures, statuses: { ...op.statuses } },
        ]),
      ),
      checks: Object.fromEntries([...this.checks].map(([name, c]) => [name, { ...c }])),
      entries: { ...this.entries, statuses: { ...this.entries.statuses } },
      fields: Object.fromEntries([...this.fields].map(([type, f]) => [type, { ...f, missing: { ...f.missing } }])),
      dropped: this.dropped,
      unavailable: this.unavailable,
      seconds: Object.fromEntries(
        [...this.seconds].map(([i, s]) => [
          String(i),
          {
            started: s.started,
            completed: s.completed,
            failures: s.failures,
            dropped: s.dropped,
            hist: encode(s.hist),
          },
        ]),
      ),
    };
  }

  /** Add a snapshot (another shard's) into this one: exact. */
  merge(snapshot: MetricsSnapshot): this {
    const decode = (s: string): Histogram => hdr.decodeFromCompressedBase64(s, 32, false);
    for (const [tag, o] of Object.entries(snapshot.ops)) {
      const op = this.#op(tag as OpTag);
      op.hist.add(decode(o.hist));
      op.requests += o.requests;
      op.failures += o.failures;
      for (const [k, n] of Object.entries(o.statuses)) op.statuses[k] = (op.statuses[k] ?? 0) + n;
    }
    for (const [name, c] of Object.entries(snapshot.checks)) {
      const mine = this.checks.get(name) ?? { passes: 0, fails: 0 };
      mine.passes += c.passes;
      mine.fails += c.fails;
      this.checks.set(name, mine);
    }
    this.entries.total += snapshot.entries.total;
    this.entries.failed += snapshot.entries.failed;
    for (const [k, n] of Object.entries(snapshot.entries.statuses)) {
      this.entries.statuses[k] = (this.entries.statuses[k] ?? 0) + n;
    }
    for (const [type, f] of Object.entries(snapshot.fields)) {
      const mine = this.fields.get(type) ?? { checked: 0, ok: 0, missing: {} };
      mine.checked += f.checked;
      mine.ok += f.ok;
      for (const [p, n] of Object.entries(f.missing)) mine.missing[p] = (mine.missing[p] ?? 0) + n;
      this.fields.set(type, mine);
    }
    this.dropped += snapshot.dropped;
    this.unavailable += snapshot.unavailable;
    for (const [i, s] of Object.entries(snapshot.seconds)) {
      const mine = this.#second(Number(i));
      mine.started += s.started;
      mine.completed += s.completed;
      mine.failures += s.failures;
      mine.dropped += s.dropped;
      mine.hist.add(decode(s.hist));
    }
    return this;
  }

  /** One histogram of every operation's latency. */
  allLatency(): Histogram {
    const all = newHistogram();
    for (const op of this.ops.values()) all.add(op.hist);
    return all;
  }

  get requests(): number {
    let n = 0;
    for (const op of this.ops.values()) n += op.requests;
    return n;
  }

  get failures(): number {
    let n = 0;
    for (const op of this.ops.values()) n += op.failures;
    return n;
  }
}

/** Latency in ms at a percentile of a microsecond histogram (0 when empty). */
export function percentileMs(hist: Histogram, p: number): number {
  return hist.totalCount === 0 ? 0 : hist.getValueAtPercentile(p) / 1000;
}
