/**
 * Batched writer for the otel_* tables. Rows are queued per table and a table is flushed when it has
 * `batchRows` rows (default 10 000) or `flushIntervalMs` (default 200 ms) after its first queued row; flushes
 * run one at a time, so rows arriving during a flush go together in the next one. Memory is bounded by
 * `maxPendingRows`: past it `write` / `enqueue` throw FW_SINK_BUSY (the server answers 429 + Retry-After).
 *
 * What a write resolves to (and so what the OTLP answer means): each row ends up
 * - `stored`: committed to the store;
 * - `spooled`: the store is unavailable (or failed after retries), the row is in an fsynced spool file and is
 *   inserted when the store is back (replayed at recovery and at start, idempotently);
 * - `refused`: the store refused the row's values (a data error: a time outside DateTime64(9), a negative
 *   count, …). A refused batch is bisected until only the refused rows are left, so one bad row loses only
 *   itself; refusals are counted per table (`stats.refusedByTable`, metric `fhirwatch.sink.telemetry.refused`)
 *   and logged (`FW_SINK_TELEMETRY_REFUSED`, codes only, never values). Retrying them cannot help;
 * - `lost`: neither stored nor spooled (the spool is full or unwritable): the sender must retry (503).
 * Rows refused later, when a spool file is replayed, are isolated, counted and logged the same way.
 * A sink crash loses what is queued in memory and not yet answered: the sender has no answer and retries.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { SinkError } from '../../errors.ts';
import { type SinkLogger, stderrLogger } from '../../log.ts';
import { isDataError, type RetryOptions, withRetries } from './retry.ts';
import type { Spool } from './spool.ts';
import { describeStoreError, type StoreMonitor } from './store-monitor.ts';

export interface TelemetryWriterOptions {
  batchRows?: number;
  flushIntervalMs?: number;
  maxPendingRows?: number;
  retry?: RetryOptions;
  /** Where refusals and losses are reported (default: JSON lines on stderr). */
  logger?: SinkLogger;
}

export interface TelemetryWriterStats {
  /** Rows committed directly (not through the spool). */
  insertedRows: number;
  spooledRows: number;
  replayedRows: number;
  /** Rows neither stored nor spooled (the sender was told to retry), plus refused rows. */
  droppedRows: number;
  /** Rows the store refused (direct and replay). */
  refusedRows: number;
  /** Rows committed per table (direct and replayed). */
  readonly storedByTable: Record<string, number>;
  /** Rows refused per table (direct and replayed). */
  readonly refusedByTable: Record<string, number>;
}

/** What became of the rows of one write (each row is counted exactly once). */
export interface TelemetryWriteResult {
  stored: number;
  spooled: number;
  refused: number;
  lost: number;
  /** PHI-free descriptions of the store errors behind `refused` (deduplicated). */
  refusedErrors: string[];
}

type Row = Record<string, unknown>;

interface Ticket {
  remaining: number;
  readonly result: TelemetryWriteResult;
  readonly resolve: (result: TelemetryWriteResult) => void;
}

interface TableQueue {
  rows: Row[];
  tickets: Ticket[];
}

/** Row states during a flush (0 = lost: neither stored nor spooled). */
const STORED = 1;
const REFUSED = 2;
const UNAVAILABLE = 3;
const SPOOLED = 4;

interface InsertOutcome {
  /** Per row: STORED, REFUSED or UNAVAILABLE. */
  readonly status: Uint8Array;
  readonly refusedErrors: Set<string>;
  /** The error that made rows UNAVAILABLE. */
  unavailable?: unknown;
}

const emptyResult = (): TelemetryWriteResult => ({ stored: 0, spooled: 0, refused: 0, lost: 0, refusedErrors: [] });

export class TelemetryWriter {
  private readonly client: ClickHouseClient;
  private readonly monitor: StoreMonitor;
  private readonly spool: Spool;
  private readonly batchRows: number;
  private readonly flushIntervalMs: number;
  private readonly maxPendingRows: number;
  private readonly retry: RetryOptions;
  private readonly log: SinkLogger;
  private readonly queues = new Map<string, TableQueue>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private pendingRows = 0;
  private chain: Promise<void> = Promise.resolve();
  private replaying: Promise<void> | undefined;
  readonly stats: TelemetryWriterStats = {
    insertedRows: 0,
    spooledRows: 0,
    replayedRows: 0,
    droppedRows: 0,
    refusedRows: 0,
    storedByTable: {},
    refusedByTable: {},
  };

  constructor(client: ClickHouseClient, monitor: StoreMonitor, spool: Spool, options: TelemetryWriterOptions = {}) {
    this.client = client;
    this.monitor = monitor;
    this.spool = spool;
    this.batchRows = options.batchRows ?? 10_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxPendingRows = options.maxPendingRows ?? 200_000;
    this.retry = options.retry ?? {};
    const logger = options.logger ?? stderrLogger;
    // a throwing logger must not break the flush chain
    this.log = (entry) => {
      try {
        logger(entry);
      } catch {}
    };
    monitor.onUp(() => void this.replay());
  }

  get pending(): number {
    return this.pendingRows;
  }

  get maxPending(): number {
    return this.maxPendingRows;
  }

  /**
   * Queue the rows of one request (all tables or none: throws FW_SINK_BUSY when memory is full) and resolve
   * when every row is stored, spooled, refused or lost.
   */
  write(rowsByTable: ReadonlyMap<string, readonly Row[]>): Promise<TelemetryWriteResult> {
    let total = 0;
    for (const rows of rowsByTable.values()) total += rows.length;
    this.reserve(total);
    const writes = [...rowsByTable].map(([table, rows]) => this.enqueue(table, rows));
    return Promise.all(writes).then((results) => {
      const sum = emptyResult();
      for (const result of results) addResult(sum, result);
      return sum;
    });
  }

  /** Queue rows for one table (all or nothing: throws FW_SINK_BUSY when memory is full). */
  enqueue(table: string, rows: readonly Row[]): Promise<TelemetryWriteResult> {
    if (rows.length === 0) return Promise.resolve(emptyResult());
    this.reserve(rows.length);
    let queue = this.queues.get(table);
    if (queue === undefined) {
      queue = { rows: [], tickets: [] };
      this.queues.set(table, queue);
    }
    const done = new Promise<TelemetryWriteResult>((resolve) => {
      const ticket: Ticket = { remaining: rows.length, result: emptyResult(), resolve };
      for (const row of rows) {
        queue.rows.push(row);
        queue.tickets.push(ticket);
      }
    });
    this.pendingRows += rows.length;
    this.scheduleFlush(table, queue.rows.length >= this.batchRows ? 0 : this.flushIntervalMs);
    return done;
  }

  /** Flush every queue now; resolves when the rows are stored, spooled, refused or lost. */
  async flush(): Promise<void> {
    for (const table of [...this.queues.keys()]) this.scheduleFlush(table, 0);
    await this.chain;
  }

  /** Insert every spooled file (oldest first); stops at the first unavailability. */
  replay(): Promise<void> {
    if (this.replaying !== undefined) return this.replaying;
    this.replaying = (async () => {
      // yield first: with an empty spool the body would finish before `this.replaying` is assigned
      await Promise.resolve();
      try {
        for (const file of this.spool.files()) {
          const rows = (await this.spool.read(file)) as Row[];
          // the token keeps a replay that crashed between insert and delete from inserting twice; a bisected
          // file inserts its halves under tokens derived from it, and bisects the same way every time
          const outcome = await this.insertIsolating(file.table, rows, `${file.table}/${file.name}`, false);
          if (outcome.unavailable !== undefined) {
            this.monitor.markDown(outcome.unavailable);
            return;
          }
          const refused = this.countRefused(file.table, outcome, 'spool replay');
          const stored = rows.length - refused;
          this.stats.replayedRows += stored;
          this.addStored(file.table, stored);
          await this.spool.remove(file);
        }
      } finally {
        this.replaying = undefined;
      }
    })();
    return this.replaying;
  }

  async close(): Promise<void> {
    await this.flush();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private reserve(rows: number): void {
    if (this.pendingRows + rows > this.maxPendingRows) {
      throw new SinkError('FW_SINK_BUSY', 'telemetry queue is full', { retryAfter: 1 });
    }
  }

  private scheduleFlush(table: string, delayMs: number): void {
    const existing = this.timers.get(table);
    if (existing !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(existing);
      this.timers.delete(table);
    }
    if (delayMs === 0) {
      this.chain = this.chain.then(() => this.flushTable(table));
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(table);
      this.chain = this.chain.then(() => this.flushTable(table));
    }, delayMs);
    this.timers.set(table, timer);
  }

  private async flushTable(table: string): Promise<void> {
    const queue = this.queues.get(table);
    if (queue === undefined || queue.rows.length === 0) return;
    const rows = queue.rows.splice(0, this.batchRows);
    const tickets = queue.tickets.splice(0, rows.length);
    const status = new Uint8Array(rows.length);
    let refusedErrors: string[] = [];
    try {
      let outcome: InsertOutcome;
      if (this.monitor.up) {
        outcome = await this.insertIsolating(table, rows, undefined, true);
      } else {
        outcome = { status: status.fill(UNAVAILABLE), refusedErrors: new Set(), unavailable: undefined };
      }
      status.set(outcome.status);
      refusedErrors = [...outcome.refusedErrors];
      if (outcome.unavailable !== undefined) this.monitor.markDown(outcome.unavailable);
      const refused = this.countRefused(table, outcome, 'insert');
      const stored = rows.length - refused - countOf(status, UNAVAILABLE);
      this.stats.insertedRows += stored;
      this.addStored(table, stored);
      this.spoolUnavailable(table, rows, status);
    } catch (error) {
      // unexpected (spool and insert failures are handled above): rows not known to be stored, refused or
      // spooled are reported lost, so their senders get a 503 and retry
      for (let i = 0; i < status.length; i++) if (status[i] === UNAVAILABLE) status[i] = 0;
      this.log({
        level: 'error',
        event: 'FW_SINK_TELEMETRY_LOST',
        message: 'telemetry rows could not be stored or spooled; the senders are told to retry',
        table,
        rows: countOf(status, 0),
        errors: [describeStoreError(error)],
      });
    } finally {
      this.pendingRows -= rows.length;
      this.settle(tickets, status, refusedErrors);
    }
    if (queue.rows.length > 0)
      this.scheduleFlush(table, queue.rows.length >= this.batchRows ? 0 : this.flushIntervalMs);
  }

  /** Spool the UNAVAILABLE rows (marking them 4 = spooled, or 0 = lost when the spool refuses them). */
  private spoolUnavailable(table: string, rows: readonly Row[], status: Uint8Array): void {
    const pending: Row[] = [];
    for (let i = 0; i < rows.length; i++) if (status[i] === UNAVAILABLE) pending.push(rows[i]!);
    if (pending.length === 0) return;
    let spooled = true;
    try {
      this.spool.append(table, pending);
      this.stats.spooledRows += pending.length;
    } catch (error) {
      spooled = false;
      this.stats.droppedRows += pending.length;
      this.log({
        level: 'error',
        event: 'FW_SINK_TELEMETRY_LOST',
        message: 'store unavailable and telemetry spool full or unwritable; the senders are told to retry',
        table,
        rows: pending.length,
        errors: [error instanceof SinkError ? error.code : describeStoreError(error)],
      });
    }
    for (let i = 0; i < status.length; i++) if (status[i] === UNAVAILABLE) status[i] = spooled ? SPOOLED : 0;
  }

  private settle(tickets: readonly Ticket[], status: Uint8Array, refusedErrors: readonly string[]): void {
    for (let i = 0; i < tickets.length; i++) {
      const ticket = tickets[i]!;
      const result = ticket.result;
      switch (status[i]) {
        case STORED:
          result.stored++;
          break;
        case REFUSED:
          result.refused++;
          break;
        case SPOOLED:
          result.spooled++;
          break;
        default:
          result.lost++;
      }
      if (status[i] === REFUSED) {
        for (const error of refusedErrors) if (!result.refusedErrors.includes(error)) result.refusedErrors.push(error);
      }
      ticket.remaining--;
      if (ticket.remaining === 0) ticket.resolve(result);
    }
  }

  /** Count and log the refused rows of an outcome; returns how many there were. */
  private countRefused(table: string, outcome: InsertOutcome, during: string): number {
    const refused = countOf(outcome.status, REFUSED);
    if (refused === 0) return 0;
    this.stats.refusedRows += refused;
    this.stats.droppedRows += refused;
    this.stats.refusedByTable[table] = (this.stats.refusedByTable[table] ?? 0) + refused;
    this.log({
      level: 'warn',
      event: 'FW_SINK_TELEMETRY_REFUSED',
      message: `the store refused telemetry rows (${during}); the other rows of the batch were stored`,
      table,
      rows: refused,
      errors: [...outcome.refusedErrors],
    });
    return refused;
  }

  private addStored(table: string, rows: number): void {
    if (rows > 0) this.stats.storedByTable[table] = (this.stats.storedByTable[table] ?? 0) + rows;
  }

  /**
   * Insert rows; on a data error split the batch in halves and insert each, down to single rows, so only the
   * refused rows are left out (k bad rows among n cost about 2k·log2(n) extra inserts; none when all are good).
   * Once the store looks unavailable the remaining rows are marked UNAVAILABLE without further attempts.
   */
  private async insertIsolating(
    table: string,
    rows: readonly Row[],
    token: string | undefined,
    retry: boolean,
  ): Promise<InsertOutcome> {
    const outcome: InsertOutcome = { status: new Uint8Array(rows.length), refusedErrors: new Set() };
    const attempt = async (start: number, end: number, part: string | undefined): Promise<void> => {
      if (outcome.unavailable !== undefined) {
        outcome.status.fill(UNAVAILABLE, start, end);
        return;
      }
      const values = start === 0 && end === rows.length ? rows : rows.slice(start, end);
      try {
        const insert = (): Promise<unknown> =>
          this.client.insert({
            table,
            values: values as Row[],
            format: 'JSONEachRow',
            ...(part === undefined ? {} : { clickhouse_settings: { insert_deduplication_token: part } }),
          });
        if (retry) await withRetries(insert, this.retry, (error) => !isDataError(error));
        else await insert();
        outcome.status.fill(STORED, start, end);
      } catch (error) {
        if (!isDataError(error)) {
          outcome.unavailable = error;
          outcome.status.fill(UNAVAILABLE, start, end);
          return;
        }
        if (end - start === 1) {
          outcome.status[start] = REFUSED;
          outcome.refusedErrors.add(describeStoreError(error));
          return;
        }
        const mid = start + Math.ceil((end - start) / 2);
        await attempt(start, mid, part === undefined ? undefined : `${token}/${start}-${mid}`);
        await attempt(mid, end, part === undefined ? undefined : `${token}/${mid}-${end}`);
      }
    };
    await attempt(0, rows.length, token);
    return outcome;
  }
}

function countOf(status: Uint8Array, value: number): number {
  let n = 0;
  for (const s of status) if (s === value) n++;
  return n;
}

function addResult(sum: TelemetryWriteResult, result: TelemetryWriteResult): void {
  sum.stored += result.stored;
  sum.spooled += result.spooled;
  sum.refused += result.refused;
  sum.lost += result.lost;
  for (const error of result.refusedErrors) if (!sum.refusedErrors.includes(error)) sum.refusedErrors.push(error);
}
