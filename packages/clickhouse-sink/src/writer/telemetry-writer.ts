/**
 * Batched writer for the otel_* tables: rows are queued per table and flushed when a table has
 * `batchRows` rows (default 10 000) or `flushIntervalMs` (default 1 s) after its first queued row.
 * Memory is bounded by `maxPendingRows`: past it `enqueue` throws FW_SINK_BUSY (the server answers 429 +
 * Retry-After). A flush that fails after retries, or any flush while the store is down, goes to the disk
 * spool; the spool is replayed when the store is back and when the sink starts.
 *
 * Durability: OTLP requests are answered once their rows are queued, so a sink crash can lose up to one
 * flush interval of telemetry (audit records never take this path: see AuditWriter).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { SinkError } from '../errors.ts';
import { isDataError, type RetryOptions, withRetries } from './retry.ts';
import type { Spool } from './spool.ts';
import type { StoreMonitor } from './store-monitor.ts';

export interface TelemetryWriterOptions {
  batchRows?: number;
  flushIntervalMs?: number;
  maxPendingRows?: number;
  retry?: RetryOptions;
}

export interface TelemetryWriterStats {
  insertedRows: number;
  spooledRows: number;
  replayedRows: number;
  droppedRows: number;
}

type Row = Record<string, unknown>;

export class TelemetryWriter {
  private readonly client: ClickHouseClient;
  private readonly monitor: StoreMonitor;
  private readonly spool: Spool;
  private readonly batchRows: number;
  private readonly flushIntervalMs: number;
  private readonly maxPendingRows: number;
  private readonly retry: RetryOptions;
  private readonly queues = new Map<string, Row[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private pendingRows = 0;
  private chain: Promise<void> = Promise.resolve();
  private replaying: Promise<void> | undefined;
  readonly stats: TelemetryWriterStats = { insertedRows: 0, spooledRows: 0, replayedRows: 0, droppedRows: 0 };

  constructor(client: ClickHouseClient, monitor: StoreMonitor, spool: Spool, options: TelemetryWriterOptions = {}) {
    this.client = client;
    this.monitor = monitor;
    this.spool = spool;
    this.batchRows = options.batchRows ?? 10_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxPendingRows = options.maxPendingRows ?? 200_000;
    this.retry = options.retry ?? {};
    monitor.onUp(() => void this.replay());
  }

  get pending(): number {
    return this.pendingRows;
  }

  get maxPending(): number {
    return this.maxPendingRows;
  }

  /** Queue rows for a table (all or nothing). Throws FW_SINK_BUSY when memory is full. */
  enqueue(table: string, rows: readonly Row[]): void {
    if (rows.length === 0) return;
    if (this.pendingRows + rows.length > this.maxPendingRows) {
      throw new SinkError('FW_SINK_BUSY', 'telemetry queue is full', { retryAfter: 1 });
    }
    let queue = this.queues.get(table);
    if (queue === undefined) {
      queue = [];
      this.queues.set(table, queue);
    }
    for (const row of rows) queue.push(row);
    this.pendingRows += rows.length;
    if (queue.length >= this.batchRows) this.scheduleFlush(table, 0);
    else this.scheduleFlush(table, this.flushIntervalMs);
  }

  /** Flush every queue now; resolves when the rows are stored or spooled. */
  async flush(): Promise<void> {
    for (const table of [...this.queues.keys()]) this.scheduleFlush(table, 0);
    await this.chain;
  }

  /** Insert every spooled file (oldest first); stops at the first failure. */
  replay(): Promise<void> {
    if (this.replaying !== undefined) return this.replaying;
    this.replaying = (async () => {
      // yield first: with an empty spool the body would finish before `this.replaying` is assigned
      await Promise.resolve();
      try {
        for (const file of this.spool.files()) {
          const rows = await this.spool.read(file);
          try {
            await this.client.insert({
              table: file.table,
              values: rows,
              format: 'JSONEachRow',
              clickhouse_settings: { insert_deduplication_token: `${file.table}/${file.name}` },
            });
          } catch (error) {
            if (isDataError(error)) {
              // a file the store refuses can never be replayed: keep the rest flowing
              this.stats.droppedRows += rows.length;
              await this.spool.remove(file);
              continue;
            }
            this.monitor.markDown(error);
            return;
          }
          await this.spool.remove(file);
          this.stats.replayedRows += rows.length;
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
    if (queue === undefined || queue.length === 0) return;
    const rows = queue.splice(0, this.batchRows);
    try {
      if (!this.monitor.up) throw new SinkError('FW_SINK_STORE_UNAVAILABLE', 'store unavailable');
      await withRetries(
        () => this.client.insert({ table, values: rows, format: 'JSONEachRow' }),
        this.retry,
        (error) => !isDataError(error),
      );
      this.stats.insertedRows += rows.length;
    } catch (error) {
      if (isDataError(error)) {
        this.stats.droppedRows += rows.length;
      } else {
        if (!(error instanceof SinkError)) this.monitor.markDown(error);
        try {
          this.spool.append(table, rows);
          this.stats.spooledRows += rows.length;
        } catch {
          this.stats.droppedRows += rows.length;
        }
      }
    } finally {
      this.pendingRows -= rows.length;
    }
    if (queue.length > 0) this.scheduleFlush(table, queue.length >= this.batchRows ? 0 : this.flushIntervalMs);
  }
}
