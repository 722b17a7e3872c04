/**
 * Writer for audit request records (audit_requests; the materialized view expands each into its per-patient
 * audit_events rows) with group commit and idempotency. Accepts request records (wire v2) and legacy
 * single records (lifted into v1 requests). Idempotency is per request `event_id` (= `request_id`); the
 * per-patient ids derive from it, so a request stored once yields its per-patient rows once.
 *
 * `write(records)` resolves with `{ accepted, duplicates }` only after the rows are committed (docs/wire.md: the
 * sink answers 200 only then). Writes queue up while a flush is in flight and the next flush takes them
 * together, up to `batchRows` (default 10 000) rows: under load batches grow, when idle a write is flushed at
 * once (the time bound is one flush). Memory is bounded by `maxPendingRows`: past it writes fail with
 * FW_SINK_BUSY (429 + Retry-After).
 *
 * Idempotency: one flush at a time; each flush drops event_ids repeated inside it and event_ids already in
 * audit_events, then inserts the rest; duplicates are counted back to the caller that sent them. The lookup
 * of stored ids asks the store (by id within the batch's event_time range; bloom-filter index on event_id),
 * except on the exclusive-writer fast path: when this process is the only writer (always true for chDB, which
 * binds a store to one process), every record stored before it started has event_time <= T0 = max(event_time)
 * at start, so records newer than T0 can only collide with ids this writer inserted itself, which it keeps in
 * a bounded set (when the set is full, T0 moves up to the newest id in it and the set is cleared). Records at
 * or before T0 (late or replayed ones) are still looked up in the store. Exact either way.
 *
 * Store unavailable: the insert is retried with backoff; if it still fails every write of the batch is
 * rejected with FW_SINK_STORE_UNAVAILABLE (503 + Retry-After) and, while the store is marked down, new
 * writes are refused at once. Audit records are NOT spooled by the sink: a spooled record is not committed,
 * and the sender (the middleware's durable spool) already keeps every unacknowledged batch and retries it.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { type AuditRecord, type AuditRequestRecord, expansionSize, requestFromAuditRecord } from '@fhirwatch/contract';
import { SinkError } from '../../errors.ts';
import {
  AUDIT_REQUEST_INSERT_COLUMNS,
  AUDIT_REQUEST_NATIVE_TYPES,
  auditRequestRowValues,
  encodeAuditRequestNative,
  encodeAuditRequestRows,
} from '../../store/audit-encode.ts';
import { type RawInsert, rawInsertOf } from '../../store/open.ts';
import { AUDIT_REQUESTS_TABLE } from '../../store/schema/audit-requests.ts';
import { auditRecordProblem, auditRequestProblem } from '../validate.ts';
import { isDataError, type RetryOptions, withRetries } from './retry.ts';
import { describeStoreError, type StoreMonitor } from './store-monitor.ts';

export interface AuditWriterOptions {
  /** Rows per insert, at most (default 10 000; a single larger write is inserted whole). */
  batchRows?: number;
  /** Rows accepted but not yet committed, at most (default 100 000). */
  maxPendingRows?: number;
  /** Retry-After (s) sent when the store is unavailable (default 2). */
  unavailableRetryAfterS?: number;
  retry?: RetryOptions;
  /** Validate each record (default true; only a caller that validated already may turn it off). */
  validate?: boolean;
  /**
   * This process is the store's only writer (default true: chDB binds a store to one process). Enables the
   * fast duplicate check described above; set false when several sinks write the same ClickHouse.
   */
  exclusive?: boolean;
  /** Ids kept for the exclusive fast path (default 200 000). */
  recentIdsMax?: number;
  /**
   * Insert through the store's raw insert when it has one (a chDB store from openStore; default true): the
   * rows are encoded once into a Buffer that goes to the engine as is. false, or a server client: the same
   * JSONCompactEachRow rows through `client.insert`.
   */
  rawInsert?: boolean;
  /**
   * The raw insert's format (default `Native`; `JSONCompactEachRow` = the text rows, as before: bench/writer.ts
   * runs both in the same run).
   */
  rawFormat?: 'Native' | 'JSONCompactEachRow';
}

export interface WriteResult {
  accepted: number;
  duplicates: number;
}

export interface AuditWriterStats {
  flushes: number;
  /** Request rows inserted into audit_requests. */
  insertedRows: number;
  /** Per-patient audit_events rows those requests expand to. */
  insertedEvents: number;
  duplicateRows: number;
  rejectedWrites: number;
}

interface PendingWrite {
  records: readonly AuditRequestRecord[];
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
}

/**
 * `optimize_on_insert = 0`: a ReplacingMergeTree otherwise collapses equal sort keys inside each inserted
 * block, an extra pass over every block (about 10 % of the insert's CPU in bench/writer.ts). The rows of a
 * flush never repeat an event_id (deduped above), and duplicates from racing writers collapse at merge as before.
 */
const INSERT_SETTINGS = { optimize_on_insert: 0 } as const;

/** `2026-11-25T13:11:30.123Z` → `2026-11-25 13:11:30.123` (a DateTime64 literal). */
function dateTimeLiteral(iso: string): string {
  return iso.slice(0, 10) + ' ' + iso.slice(11, 23);
}

export class AuditWriter {
  private readonly client: ClickHouseClient;
  private readonly monitor: StoreMonitor;
  private readonly batchRows: number;
  private readonly maxPendingRows: number;
  private readonly retryAfterS: number;
  private readonly retry: RetryOptions;
  private readonly validate: boolean;
  private readonly queue: PendingWrite[] = [];
  private pendingRows = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly exclusive: boolean;
  private readonly recentIdsMax: number;
  private readonly raw: RawInsert | undefined;
  private readonly rawNative: boolean;
  /** Exclusive fast path: ISO time at or before which a record may already be stored; undefined until read. */
  private horizon: string | undefined;
  private readonly recentIds = new Set<string>();
  private recentMaxTime = '';
  readonly stats: AuditWriterStats = {
    flushes: 0,
    insertedRows: 0,
    insertedEvents: 0,
    duplicateRows: 0,
    rejectedWrites: 0,
  };

  constructor(client: ClickHouseClient, monitor: StoreMonitor, options: AuditWriterOptions = {}) {
    this.client = client;
    this.monitor = monitor;
    this.batchRows = options.batchRows ?? 10_000;
    this.maxPendingRows = options.maxPendingRows ?? 100_000;
    this.retryAfterS = options.unavailableRetryAfterS ?? 2;
    this.retry = options.retry ?? {};
    this.validate = options.validate ?? true;
    this.exclusive = options.exclusive ?? true;
    this.recentIdsMax = options.recentIdsMax ?? 200_000;
    this.raw = options.rawInsert === false ? undefined : rawInsertOf(client);
    this.rawNative = (options.rawFormat ?? 'Native') === 'Native';
  }

  /** Rows accepted and not yet committed. */
  get pending(): number {
    return this.pendingRows;
  }

  /** Store the records (all or none; request records and/or legacy single records); resolves after the commit. */
  write(input: readonly (AuditRequestRecord | AuditRecord)[]): Promise<WriteResult> {
    if (this.closed) return Promise.reject(new SinkError('FW_SINK_CLOSED', 'audit writer is closed'));
    if (input.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0 });
    const records: AuditRequestRecord[] = new Array(input.length);
    for (let i = 0; i < input.length; i++) {
      const item = input[i] as AuditRequestRecord | AuditRecord;
      const isRequest = (item as { entries?: unknown }).entries !== undefined;
      if (this.validate) {
        const problem = isRequest ? auditRequestProblem(item) : auditRecordProblem(item);
        if (problem !== undefined) {
          return Promise.reject(
            new SinkError('FW_SINK_BAD_RECORD', `record ${i + 1}: field '${problem.field}' ${problem.rule}`, {
              line: i + 1,
            }),
          );
        }
      }
      records[i] = isRequest ? (item as AuditRequestRecord) : requestFromAuditRecord(item as AuditRecord);
    }
    if (!this.monitor.up) {
      this.stats.rejectedWrites++;
      return Promise.reject(this.unavailable());
    }
    if (this.pendingRows > 0 && this.pendingRows + records.length > this.maxPendingRows) {
      this.stats.rejectedWrites++;
      return Promise.reject(new SinkError('FW_SINK_BUSY', 'audit writer is full', { retryAfter: 1 }));
    }
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.pendingRows += records.length;
      this.kick();
    });
  }

  /** Resolves when everything queued so far is committed or rejected. */
  async flush(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private unavailable(cause?: unknown): SinkError {
    return new SinkError('FW_SINK_STORE_UNAVAILABLE', `audit store unavailable (${this.monitor.lastError})`, {
      retryAfter: this.retryAfterS,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  private kick(): void {
    if (this.flushing !== undefined) return;
    this.flushing = (async () => {
      try {
        // let writes that arrive in the same turn of the event loop join the first batch
        await new Promise((resolve) => setImmediate(resolve));
        while (this.queue.length > 0) await this.flushOnce();
      } finally {
        this.flushing = undefined;
      }
    })();
  }

  private async flushOnce(): Promise<void> {
    const batch: PendingWrite[] = [];
    let rows = 0;
    while (this.queue.length > 0 && (batch.length === 0 || rows + this.queue[0]!.records.length <= this.batchRows)) {
      const next = this.queue.shift()!;
      batch.push(next);
      rows += next.records.length;
    }
    this.stats.flushes++;
    try {
      if (!this.monitor.up) throw this.unavailable();
      const results = await this.commit(batch);
      for (const [i, write] of batch.entries()) write.resolve(results[i]!);
    } catch (error) {
      let failure: unknown = error;
      if (!(error instanceof SinkError)) {
        if (isDataError(error)) {
          failure = new SinkError('FW_SINK_BAD_RECORD', `the store refused the batch (${describeStoreError(error)})`, {
            cause: error,
          });
        } else {
          this.monitor.markDown(error);
          failure = this.unavailable(error);
        }
      }
      this.stats.rejectedWrites += batch.length;
      for (const write of batch) write.reject(failure);
    } finally {
      this.pendingRows -= rows;
    }
  }

  /**
   * Look up, dedupe and insert, retried as a whole: an insert that failed may still have been committed
   * (a timeout after the commit), so a retry must look the ids up again rather than re-send them. After such
   * a failure the fast-path state is dropped (the horizon is re-read from the store), and ids of the failed
   * attempt that turn out to be stored count as accepted, not as duplicates.
   */
  private async commit(batch: readonly PendingWrite[]): Promise<WriteResult[]> {
    const attempted = new Set<string>();
    return withRetries(
      async () => {
        try {
          return await this.commitOnce(batch, attempted);
        } catch (error) {
          this.horizon = undefined;
          this.recentIds.clear();
          this.recentMaxTime = '';
          throw error;
        }
      },
      this.retry,
      (e) => !isDataError(e),
    );
  }

  private async commitOnce(batch: readonly PendingWrite[], attempted: Set<string>): Promise<WriteResult[]> {
    const horizon = this.exclusive ? await this.readHorizon() : undefined;
    // records that may collide with rows this process did not insert (or inserted in a failed attempt)
    const lookup: AuditRequestRecord[] = [];
    for (const write of batch) {
      for (const record of write.records) {
        if (horizon === undefined || record.event_time <= horizon || attempted.has(record.event_id))
          lookup.push(record);
      }
    }
    const stored = lookup.length === 0 ? new Set<string>() : await this.storedIds(lookup);
    const seen = new Set<string>();
    const toInsert: AuditRequestRecord[] = [];
    const results: WriteResult[] = [];
    for (const write of batch) {
      let accepted = 0;
      for (const record of write.records) {
        const id = record.event_id;
        if (seen.has(id)) continue;
        seen.add(id);
        if (stored.has(id) || this.recentIds.has(id)) {
          // stored by an earlier attempt of this very flush: it is this write's record, accepted
          if (attempted.has(id)) accepted++;
          continue;
        }
        toInsert.push(record);
        accepted++;
      }
      results.push({ accepted, duplicates: write.records.length - accepted });
    }
    if (toInsert.length > 0) {
      try {
        await this.insert(toInsert);
      } catch (error) {
        // it may still have been committed: the retry looks these ids up (attempted is read only by retries)
        for (const record of toInsert) attempted.add(record.event_id);
        throw error;
      }
    }
    if (horizon !== undefined) this.remember(toInsert, horizon);
    this.stats.insertedRows += toInsert.length;
    for (const record of toInsert) this.stats.insertedEvents += expansionSize(record);
    this.stats.duplicateRows += results.reduce((sum, r) => sum + r.duplicates, 0);
    return results;
  }

  /**
   * One INSERT of the request rows; the view expands them. A chDB store gets one Native block (the engine reads
   * it ~4x cheaper than the same rows as text, bench/ingest-parts.ts) unless a value has no exact binary form
   * (an unvalidated record: then the JSONCompactEachRow rows, for the engine to store or refuse as before); a
   * server client gets JSONCompactEachRow (audit-encode.ts). Both store the same rows (test/audit-native.test.ts).
   */
  private async insert(records: readonly AuditRequestRecord[]): Promise<void> {
    if (this.raw !== undefined) {
      const native = this.rawNative ? encodeAuditRequestNative(records) : undefined;
      if (native !== undefined) {
        await this.raw(
          AUDIT_REQUESTS_TABLE,
          AUDIT_REQUEST_INSERT_COLUMNS,
          'Native',
          native,
          INSERT_SETTINGS,
          AUDIT_REQUEST_NATIVE_TYPES,
        );
        return;
      }
      await this.raw(
        AUDIT_REQUESTS_TABLE,
        AUDIT_REQUEST_INSERT_COLUMNS,
        'JSONCompactEachRow',
        encodeAuditRequestRows(records),
        INSERT_SETTINGS,
      );
      return;
    }
    await this.client.insert({
      table: AUDIT_REQUESTS_TABLE,
      columns: AUDIT_REQUEST_INSERT_COLUMNS as [string, ...string[]],
      values: records.map(auditRequestRowValues),
      format: 'JSONCompactEachRow',
      clickhouse_settings: INSERT_SETTINGS,
    });
  }

  /** Exclusive fast path: keep the ids newer than the horizon; move the horizon up when the set is full. */
  private remember(inserted: readonly AuditRequestRecord[], horizon: string): void {
    for (const record of inserted) {
      if (record.event_time <= horizon) continue;
      this.recentIds.add(record.event_id);
      if (record.event_time > this.recentMaxTime) this.recentMaxTime = record.event_time;
    }
    if (this.recentIds.size > this.recentIdsMax) {
      this.horizon = this.recentMaxTime;
      this.recentIds.clear();
    }
  }

  private async readHorizon(): Promise<string> {
    if (this.horizon !== undefined) return this.horizon;
    const rows = await withRetries(
      async () =>
        (
          await this.client.query({
            query: `SELECT toString(max(event_time)) AS t FROM ${AUDIT_REQUESTS_TABLE}`,
            format: 'JSONEachRow',
          })
        ).json<{ t: string }>(),
      this.retry,
      (e) => !isDataError(e),
    );
    const t = rows[0]?.t ?? '1970-01-01 00:00:00.000';
    // '2026-11-01 00:00:00.000' -> '2026-11-01T00:00:00.000Z', comparable with event_time strings
    this.horizon = `${t.slice(0, 10)}T${t.slice(11, 23)}Z`;
    return this.horizon;
  }

  /** event_ids of these records already stored. */
  private async storedIds(records: readonly AuditRequestRecord[]): Promise<Set<string>> {
    let minTime = records[0]!.event_time;
    let maxTime = minTime;
    const ids: string[] = [];
    for (const record of records) {
      ids.push(record.event_id);
      if (record.event_time < minTime) minTime = record.event_time;
      if (record.event_time > maxTime) maxTime = record.event_time;
    }
    const result = await this.client.query({
      query: `SELECT DISTINCT toString(request_id) AS id FROM ${AUDIT_REQUESTS_TABLE}
              WHERE event_time BETWEEN {lo:DateTime64(3, 'UTC')} AND {hi:DateTime64(3, 'UTC')}
                AND request_id IN {ids:Array(UUID)}`,
      query_params: { lo: dateTimeLiteral(minTime), hi: dateTimeLiteral(maxTime), ids },
      format: 'JSONCompactEachRow',
    });
    const rows = await result.json<[string]>();
    return new Set(rows.map((row) => row[0]));
  }
}
