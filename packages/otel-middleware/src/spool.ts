/**
 * Append-only audit spool on local disk: the durable half of the audit exporter.
 *
 * Layout of the spool directory:
 *   seg-000000000001.log …  segments; one line per request record: `<crc32 as 8 hex> <record JSON>\n`
 *                           (the shipper sends these bytes as they are, `application/x-fhirwatch-spool`)
 *   chain.json              last `seq`/`hash` per writer, written before a shipped segment is deleted
 *   hmac.key                the chain key when none was configured (0600; refused when open to others)
 *   spool.lock              pid of the process that owns the directory
 *   rejected/               segments the sink refused as invalid (kept for an operator, never shipped again)
 *
 * Durability: records are appended in groups (group commit): every flush writes all the records
 * queued since the previous flush with one write and one fdatasync, and resolves every waiter of
 * that group at once. Strict-mode callers wait for that; batched-mode callers do not (their records
 * are flushed within `flushIntervalMs`).
 *
 * Crash safety: a process never appends to a segment it did not create, so a torn write (kill -9
 * mid-write) can only be the tail of the segment being written at the time; the per-line CRC makes
 * it detectable and it is skipped. The chain state is written after the records (records first,
 * `chain.json` only before a segment is deleted), so after a crash the state is the later of
 * `chain.json` and the last valid record of this writer in the spool.
 *
 * The chain (`seq`, `prev_hash`, `hash`) is assigned at flush time, in spool order, off the request path.
 * If a write fails, the segment is truncated back and the chain rolled back; if even the truncate
 * fails, the segment is abandoned and the chain keeps its advance, so the verifier sees a seq gap
 * (an honest "records were lost here") rather than a fork.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import {
  chmod,
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  type AuditRequestRecord,
  auditRequestCanonical,
  type ChainHasher,
  chainAppend,
  formatHmacKeyFile,
  frameSpoolLine,
  HMAC_KEY_FILE,
  parseHmacKeyFile,
  SPOOL_PREFIX_BYTES,
  spoolLineProblem,
  type UnchainedAuditRequest,
  writeSpoolPrefix,
} from '@fhirwatch/contract';
import { type ChainState, requestHasher } from './chain.ts';
import { AUDIT_ERROR_CODES, FhirAuditError } from './errors.ts';
import { readKeyFile } from './key-file.ts';
import type { SpoolHealth } from './spool-health.ts';

/** A request record before the chain fields are assigned (what the spool queues). */
export type UnchainedRecord = UnchainedAuditRequest;

export interface SpoolOptions {
  dir: string;
  recordedBy: string;
  /** HMAC key; when absent a random key is created once in `<dir>/hmac.key`. */
  hmacKey?: string | Buffer;
  /** Segment size at which a new segment is started (default 1 MiB; one segment = one shipped batch). */
  segmentMaxBytes?: number;
  /** Spool size (bytes on disk + queued) above which appends are refused (default 256 MiB). */
  maxSpoolBytes?: number;
  /** Batched mode: a record waits at most this long in memory before it is written (default 50 ms). */
  flushIntervalMs?: number;
  /** Told of every write's outcome and of every dropped record (spool-health.ts). */
  health?: SpoolHealth;
  /**
   * Batched records over `maxSpoolBytes` are kept instead of dropped (default false). Set when a gate in
   * front of the spool stops new records once it is full (`onSpoolFailure: refuse`): what is kept is then
   * bounded by the requests already served.
   */
  keepOverCap?: boolean;
}

export interface SpoolStats {
  segments: number;
  bytes: number;
  /** Records queued in memory, not yet written. */
  queued: number;
  written: number;
  /** Records refused (spool full) or lost to a failed write in batched mode. */
  dropped: number;
  /** Group commits done (one write + one fdatasync each). */
  flushes: number;
  lastSeq: number;
  /** Records written and not yet acknowledged by the sink or quarantined (what an earlier run left included). */
  unshipped: number;
  /** Write time of the oldest segment still waiting (ms since the epoch), if any. */
  oldestUnshippedMs: number | undefined;
}

interface Pending {
  record: UnchainedAuditRequest;
  durable: boolean;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface SegmentInfo {
  name: string;
  path: string;
  number: number;
  size: number;
  /** When its first record was written (ms since the epoch; the file's mtime for a segment found at open). */
  firstWriteMs: number;
  /** Lines (records) it holds: counted as written, or by its newlines for a segment found at open. */
  records: number;
}

export interface SegmentContents {
  /** The segment's bytes as read. */
  bytes: Buffer;
  /** Byte range [start, end) of each valid framed line (CRC prefix and newline included), in order. */
  ranges: [number, number][];
  /** Lines whose CRC or framing was wrong (a torn tail after a crash). */
  corrupt: number;
  /** Last valid record of each writer in the segment. */
  tails: Map<string, ChainState>;
}

const OPEN_DIRS = new Set<string>();
const SEGMENT_RE = /^seg-(\d{12})\.log$/;
const CHAIN_FILE = 'chain.json';
const LOCK_FILE = 'spool.lock';

function segmentName(n: number): string {
  return `seg-${String(n).padStart(12, '0')}.log`;
}

/** Frame one record JSON as a spool line (the contract's wire framing). */
export function frameLine(json: string): string {
  return frameSpoolLine(json, crc32);
}

/** The record JSON text of valid line `i`. */
export function segmentLine(contents: SegmentContents, i: number): string {
  const [start, end] = contents.ranges[i] as [number, number];
  return contents.bytes.toString('utf8', start + SPOOL_PREFIX_BYTES, end - 1);
}

/**
 * Parse a segment's bytes: the byte range of each valid line (CRC checked over the bytes, nothing
 * decoded), count of corrupt ones, and the chain tail per writer (only the last valid line is parsed).
 */
export function parseSegment(input: Buffer | string): SegmentContents {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const ranges: [number, number][] = [];
  const tails = new Map<string, ChainState>();
  let corrupt = 0;
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(10, start);
    if (nl === -1) {
      corrupt++; // torn tail: no newline
      break;
    }
    const lineStart = start;
    start = nl + 1;
    if (spoolLineProblem(bytes, lineStart, nl, crc32) !== undefined) {
      corrupt++;
      continue;
    }
    ranges.push([lineStart, nl + 1]);
  }
  const contents: SegmentContents = { bytes, ranges, corrupt, tails };
  // A segment is written by one process, so one writer: its tail is the last valid line. Only that
  // line is parsed (parsing every line cost ~1 % of the gateway's CPU in the bench profile).
  for (let i = ranges.length - 1; i >= 0; i--) {
    try {
      const r = JSON.parse(segmentLine(contents, i)) as Partial<AuditRequestRecord>;
      if (typeof r.recorded_by === 'string' && typeof r.seq === 'number' && typeof r.hash === 'string') {
        tails.set(r.recorded_by, { seq: r.seq, hash: r.hash });
        break;
      }
    } catch {
      // CRC matched, so the line is what was written; a non-JSON line is the sink's to reject.
    }
  }
  return contents;
}

/**
 * The chain key of a spool directory (the contract's key-file format): read from `path` (mode checked,
 * key-file.ts), or created once (random, 0600) when missing. A file that does not hold a hex key is refused.
 */
async function spoolKey(path: string): Promise<Buffer> {
  let text: string | undefined;
  try {
    text = readKeyFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text === undefined) {
    const key = randomBytes(32);
    await writeFile(path, formatHmacKeyFile(key), { mode: 0o600, flag: 'wx' });
    return key;
  }
  const key = parseHmacKeyFile(text);
  if (key === undefined) {
    throw new FhirAuditError(
      AUDIT_ERROR_CODES.invalidOption,
      `audit spool key file ${path} does not hold a hex key of at least 16 bytes`,
    );
  }
  return Buffer.from(key);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class AuditSpool {
  readonly dir: string;
  readonly recordedBy: string;
  private readonly hasher: ChainHasher;
  private readonly segmentMaxBytes: number;
  private readonly maxSpoolBytes: number;
  private readonly flushIntervalMs: number;
  private readonly health: SpoolHealth | undefined;
  private readonly keepOverCap: boolean;

  private closedSegments: SegmentInfo[] = [];
  private active: { info: SegmentInfo; fh: FileHandle } | undefined;
  private nextSegment: number;
  private bytesOnDisk = 0;
  private queue: Pending[] = [];
  private queueWaiters: Waiter[] = [];
  private queuedBytesEstimate = 0;
  private avgLineBytes = 800;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private chain: ChainState;
  private persistedChain: Record<string, ChainState>;
  private closed = false;
  private written = 0;
  /** Records written and not yet acknowledged or quarantined (spool depth). */
  private unshipped = 0;
  private dropped = 0;
  private flushes = 0;
  private segmentListeners: (() => void)[] = [];

  private constructor(
    options: SpoolOptions,
    key: Buffer,
    state: {
      segments: SegmentInfo[];
      bytes: number;
      next: number;
      chain: ChainState;
      persisted: Record<string, ChainState>;
      unshipped: number;
    },
  ) {
    this.dir = options.dir;
    this.recordedBy = options.recordedBy;
    this.hasher = requestHasher(key);
    this.segmentMaxBytes = options.segmentMaxBytes ?? 1024 * 1024;
    this.maxSpoolBytes = options.maxSpoolBytes ?? 256 * 1024 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 50;
    this.health = options.health;
    this.keepOverCap = options.keepOverCap ?? false;
    this.closedSegments = state.segments;
    this.bytesOnDisk = state.bytes;
    this.nextSegment = state.next;
    this.chain = state.chain;
    this.persistedChain = state.persisted;
    this.unshipped = state.unshipped;
  }

  /** Open (or create) a spool directory: take the lock, recover the chain state, list unshipped segments. */
  static async open(options: SpoolOptions): Promise<AuditSpool> {
    const dir = options.dir;
    // PHI lives here: directories 0700, files 0600 (whatever the umask); an existing directory is tightened
    await mkdir(join(dir, 'rejected'), { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    await chmod(join(dir, 'rejected'), 0o700);
    // The pid lock cannot tell two writers of one process apart: keep an in-process registry too.
    const key = resolve(dir);
    if (OPEN_DIRS.has(key)) {
      throw new FhirAuditError(AUDIT_ERROR_CODES.spoolLocked, `audit spool ${dir} is already open in this process`);
    }
    acquireLock(dir);
    OPEN_DIRS.add(key);
    try {
      const hmacKey =
        options.hmacKey !== undefined ? Buffer.from(options.hmacKey) : await spoolKey(join(dir, HMAC_KEY_FILE));
      const names = (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort();
      const segments: SegmentInfo[] = [];
      let bytes = 0;
      let unshipped = 0;
      for (const name of names) {
        const path = join(dir, name);
        const st = await stat(path);
        // what an earlier run left unshipped counts in the spool depth (newlines: a torn tail has none)
        const content = await readFile(path);
        let records = 0;
        for (let at = content.indexOf(10); at !== -1; at = content.indexOf(10, at + 1)) records++;
        segments.push({
          name,
          path,
          number: Number(SEGMENT_RE.exec(name)?.[1]),
          size: st.size,
          firstWriteMs: st.mtimeMs,
          records,
        });
        bytes += st.size;
        unshipped += records;
      }
      let persisted: Record<string, ChainState> = {};
      try {
        persisted = JSON.parse(await readFile(join(dir, CHAIN_FILE), 'utf8')) as Record<string, ChainState>;
      } catch {
        // no chain state yet
      }
      let chain: ChainState = persisted[options.recordedBy] ?? { seq: 0, hash: '' };
      // Records reach the spool before chain.json: the newest segment holding this writer's records wins.
      for (let i = segments.length - 1; i >= 0; i--) {
        const seg = segments[i] as SegmentInfo;
        const tail = parseSegment(await readFile(seg.path)).tails.get(options.recordedBy);
        if (tail !== undefined) {
          if (tail.seq > chain.seq) chain = tail;
          break;
        }
      }
      const last = segments[segments.length - 1];
      return new AuditSpool(options, hmacKey, {
        segments,
        bytes,
        next: last === undefined ? 1 : last.number + 1,
        chain,
        persisted,
        unshipped,
      });
    } catch (error) {
      OPEN_DIRS.delete(key);
      releaseLock(dir);
      throw error;
    }
  }

  /** Current chain state (last assigned seq/hash). */
  chainState(): ChainState {
    return { ...this.chain };
  }

  stats(): SpoolStats {
    return {
      segments: this.closedSegments.length + (this.active === undefined ? 0 : 1),
      bytes: this.bytesOnDisk,
      queued: this.queue.length,
      written: this.written,
      dropped: this.dropped,
      flushes: this.flushes,
      lastSeq: this.chain.seq,
      unshipped: this.unshipped,
      oldestUnshippedMs: this.oldestUnshippedMs(),
    };
  }

  /** When the oldest record not yet acknowledged was written (undefined when nothing waits). */
  private oldestUnshippedMs(): number | undefined {
    const first = this.closedSegments[0] ?? this.active?.info;
    return first === undefined || first.size === 0 ? undefined : first.firstWriteMs;
  }

  /**
   * Queue records. `durable: true` (strict mode) returns a promise resolved once they are written and
   * fdatasync'ed (group commit), rejected with FW_AUDIT_SPOOL_FULL / FW_AUDIT_SPOOL_UNWRITABLE.
   * `durable: false` (batched mode) returns undefined at once; the records are written within
   * `flushIntervalMs`, or counted as dropped when the spool is full.
   */
  append(records: readonly UnchainedAuditRequest[], durable: boolean): Promise<void> | undefined {
    if (this.closed) {
      const error = new FhirAuditError(AUDIT_ERROR_CODES.closed, 'audit spool is closed');
      if (durable) return Promise.reject(error);
      this.drop(records.length);
      return undefined;
    }
    const estimate = records.length * this.avgLineBytes;
    if (this.bytesOnDisk + this.queuedBytesEstimate + estimate > this.maxSpoolBytes) {
      if (durable) {
        this.health?.checkCap();
        return Promise.reject(
          new FhirAuditError(AUDIT_ERROR_CODES.spoolFull, 'audit spool is full; the access is refused'),
        );
      }
      if (!this.keepOverCap) {
        this.drop(records.length);
        this.health?.checkCap();
        return undefined;
      }
    }
    this.queuedBytesEstimate += estimate;
    for (const record of records) this.queue.push({ record, durable });
    if (durable) {
      const promise = new Promise<void>((resolve, reject) => {
        this.queueWaiters.push({ resolve, reject });
      });
      this.scheduleFlush(true);
      return promise;
    }
    this.scheduleFlush(false);
    return undefined;
  }

  /**
   * Readiness probe: can the spool's file system take a write right now? Writes, fdatasyncs and removes a
   * 4 KiB file next to the segments and reports the outcome to the spool health like any write (so a full
   * disk is noticed without traffic, and a recovered one ends the failed state).
   */
  async probe(): Promise<void> {
    const path = join(this.dir, `.probe-${process.pid}.tmp`);
    try {
      const fh = await open(path, 'w', 0o600);
      try {
        await fh.write(Buffer.alloc(4096), 0, 4096, 0);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      this.health?.writeSucceeded();
    } catch (error) {
      this.health?.writeFailed(error);
    } finally {
      await unlink(path).catch(() => undefined);
    }
  }

  /** Would one more record go over `maxSpoolBytes`? (What the spool-health gate reads.) */
  overCap(): boolean {
    return this.bytesOnDisk + this.queuedBytesEstimate + this.avgLineBytes > this.maxSpoolBytes;
  }

  private drop(n: number): void {
    this.dropped += n;
    this.health?.droppedRecords(n);
  }

  private scheduleFlush(now: boolean): void {
    if (now) {
      if (this.immediate === undefined && this.flushing === undefined) {
        this.immediate = setImmediate(() => {
          this.immediate = undefined;
          void this.flush();
        });
      }
      return;
    }
    if (this.timer === undefined && this.immediate === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Write everything queued so far (one write + one fdatasync). Concurrent calls share the flush in progress. */
  flush(): Promise<void> {
    if (this.flushing !== undefined) {
      // Group commit: whatever arrives during this flush goes in the next one.
      return this.flushing.then(() => (this.queue.length > 0 ? this.flush() : undefined));
    }
    if (this.queue.length === 0) return Promise.resolve();
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.queue;
    const waiters = this.queueWaiters;
    this.queue = [];
    this.queueWaiters = [];
    this.queuedBytesEstimate = 0;
    this.flushing = this.writeBatch(batch, waiters).finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0) this.scheduleFlush(this.queueWaiters.length > 0);
    });
    return this.flushing;
  }

  private async writeBatch(batch: Pending[], waiters: Waiter[]): Promise<void> {
    const before = { ...this.chain };
    let state: ChainState = this.chain;
    // Lines are encoded straight into one buffer (UTF-8 is at most 3 bytes per UTF-16 unit): each
    // record's JSON is encoded once and its CRC taken over those bytes (frameLine's format).
    const jsons: string[] = new Array(batch.length);
    let capacity = 0;
    for (let i = 0; i < batch.length; i++) {
      const record = (batch[i] as Pending).record;
      record.recorded_by = this.recordedBy;
      state = chainAppend(this.hasher, state, record, auditRequestCanonical);
      const json = JSON.stringify(record);
      jsons[i] = json;
      capacity += 10 + 3 * json.length;
    }
    const { seq, hash } = state;
    this.chain = { seq, hash };
    const out = Buffer.allocUnsafe(capacity);
    let end = 0;
    for (const json of jsons) {
      const start = end;
      end += SPOOL_PREFIX_BYTES;
      end += out.write(json, end, 'utf8');
      writeSpoolPrefix(out, start, end, crc32);
      out[end++] = 10;
    }
    const buf = out.subarray(0, end);
    let segment: { info: SegmentInfo; fh: FileHandle } | undefined;
    let offset = 0;
    try {
      segment = await this.activeSegment();
      offset = segment.info.size;
      let done = 0;
      while (done < buf.length) {
        const { bytesWritten } = await segment.fh.write(buf, done, buf.length - done, offset + done);
        done += bytesWritten;
      }
      await segment.fh.datasync();
      this.flushes++;
      if (segment.info.size === 0) segment.info.firstWriteMs = Date.now();
      segment.info.size += buf.length;
      this.unshipped += batch.length;
      segment.info.records += batch.length;
      this.bytesOnDisk += buf.length;
      this.written += batch.length;
      this.avgLineBytes = Math.max(64, Math.ceil(buf.length / batch.length));
      this.health?.writeSucceeded();
      for (const w of waiters) w.resolve();
      if (segment.info.size >= this.segmentMaxBytes) await this.seal();
    } catch (cause) {
      this.health?.writeFailed(cause);
      await this.recoverFromWriteFailure(segment, offset, before);
      const full = ['ENOSPC', 'EDQUOT', 'EFBIG'].includes(String((cause as NodeJS.ErrnoException).code));
      const error = full
        ? new FhirAuditError(AUDIT_ERROR_CODES.spoolFull, 'audit spool file system is full', { cause })
        : new FhirAuditError(AUDIT_ERROR_CODES.spoolUnwritable, 'audit spool write failed', { cause });
      for (const w of waiters) w.reject(error);
      // Batched records have no one waiting: keep them for the next attempt while under the size cap.
      const retry = batch.filter((p) => !p.durable);
      if (retry.length > 0 && !this.closed) {
        this.queue = retry.concat(this.queue);
        this.queuedBytesEstimate += retry.length * this.avgLineBytes;
        this.timer ??= setTimeout(
          () => {
            this.timer = undefined;
            void this.flush();
          },
          Math.max(this.flushIntervalMs, 200),
        ).unref();
      } else if (retry.length > 0) this.drop(retry.length);
    }
  }

  private async recoverFromWriteFailure(
    segment: { info: SegmentInfo; fh: FileHandle } | undefined,
    offset: number,
    before: ChainState,
  ): Promise<void> {
    if (segment === undefined) {
      this.chain = before; // nothing reached the disk
      return;
    }
    try {
      await segment.fh.truncate(offset);
      await segment.fh.datasync();
      this.chain = before;
    } catch {
      // Cannot take the partial write back: abandon the segment, keep the chain advanced (seq gap).
    }
    // Either way, never append after a failed write: start a new segment next time.
    await this.seal().catch(() => undefined);
  }

  private async activeSegment(): Promise<{ info: SegmentInfo; fh: FileHandle }> {
    if (this.active !== undefined) return this.active;
    const number = this.nextSegment++;
    const name = segmentName(number);
    const path = join(this.dir, name);
    const fh = await open(path, 'wx', 0o600);
    // Make the new directory entry durable once per segment (the records themselves are fdatasync'ed).
    const dirFh = await open(this.dir, 'r');
    try {
      await dirFh.sync();
    } finally {
      await dirFh.close();
    }
    this.active = { info: { name, path, number, size: 0, firstWriteMs: Date.now(), records: 0 }, fh };
    return this.active;
  }

  /** Close the active segment so it can be shipped. No-op while a flush is in progress or when it is empty. */
  async seal(): Promise<void> {
    const active = this.active;
    if (active === undefined) return;
    this.active = undefined;
    // Listed as closed before any await, so the segment is never invisible to hasUnshipped().
    if (active.info.size > 0) this.closedSegments.push(active.info);
    await active.fh.close().catch(() => undefined);
    if (active.info.size === 0) {
      await unlink(active.info.path).catch(() => undefined);
      return;
    }
    for (const l of this.segmentListeners.splice(0)) l();
  }

  /** Seal the active segment if it holds records and no flush is running (called by the shipper when idle). */
  async sealIfIdle(minAgeMs = 0): Promise<boolean> {
    if (this.flushing !== undefined || this.active === undefined || this.active.info.size === 0) return false;
    if (minAgeMs > 0 && Date.now() - this.active.info.firstWriteMs < minAgeMs) return false;
    await this.seal();
    return true;
  }

  /** When the active segment got its first record (ms since the epoch), if it holds any. */
  activeFirstWriteMs(): number | undefined {
    const active = this.active;
    return active === undefined || active.info.size === 0 ? undefined : active.info.firstWriteMs;
  }

  /** Oldest closed segment, if any. */
  oldestSegment(): SegmentInfo | undefined {
    return this.closedSegments[0];
  }

  /** Resolve when a segment is sealed (or at once when one is waiting). */
  whenSegment(): Promise<void> {
    if (this.closedSegments.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.segmentListeners.push(resolve));
  }

  hasUnshipped(): boolean {
    return (
      this.closedSegments.length > 0 ||
      (this.active !== undefined && this.active.info.size > 0) ||
      this.queue.length > 0
    );
  }

  async readSegment(info: SegmentInfo): Promise<SegmentContents> {
    return parseSegment(await readFile(info.path));
  }

  /**
   * The sink confirmed the segment (200): persist the chain tails it carries, then delete it.
   * The chain state is written before the unlink so it is never lost with the segment.
   */
  async acknowledge(info: SegmentInfo, contents: SegmentContents): Promise<void> {
    await this.persistTails(contents);
    await unlink(info.path);
    this.removeClosed(info);
  }

  /** The sink refused the segment as invalid: move it aside (kept for an operator, never shipped again). */
  async quarantine(info: SegmentInfo, contents: SegmentContents): Promise<void> {
    await this.persistTails(contents);
    await rename(info.path, join(this.dir, 'rejected', info.name));
    this.removeClosed(info);
  }

  /** Persist the chain tails a segment carries (before the segment leaves the spool, so they are never lost with it). */
  private async persistTails(contents: SegmentContents): Promise<void> {
    let changed = false;
    for (const [writer, tail] of contents.tails) {
      const prev = this.persistedChain[writer];
      if (prev === undefined || tail.seq > prev.seq) {
        this.persistedChain[writer] = tail;
        changed = true;
      }
    }
    if (changed) await this.writeChainFile();
  }

  private removeClosed(info: SegmentInfo): void {
    this.unshipped = Math.max(0, this.unshipped - info.records);
    const i = this.closedSegments.indexOf(info);
    if (i !== -1) this.closedSegments.splice(i, 1);
    this.bytesOnDisk -= info.size;
  }

  private async writeChainFile(): Promise<void> {
    const path = join(this.dir, CHAIN_FILE);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(this.persistedChain));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }

  /** Flush what is queued, seal the active segment, release the lock. Appends after close are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
    await this.flushing?.catch(() => undefined);
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    // records kept for a retry that never succeeded (the disk stayed full): lost, and counted
    if (this.queue.length > 0) {
      this.drop(this.queue.length);
      for (const w of this.queueWaiters)
        w.reject(new FhirAuditError(AUDIT_ERROR_CODES.closed, 'audit spool is closed'));
      this.queue = [];
      this.queueWaiters = [];
      this.queuedBytesEstimate = 0;
    }
    await this.seal().catch(() => undefined);
    releaseLock(this.dir);
    OPEN_DIRS.delete(resolve(this.dir));
  }
}

function acquireLock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let pid = 0;
      try {
        const fd = openSync(path, 'r');
        const buf = Buffer.alloc(32);
        const n = readSync(fd, buf, 0, 32, 0);
        closeSync(fd);
        pid = Number(buf.subarray(0, n).toString('utf8').trim());
      } catch {
        // unreadable lock: treat as stale
      }
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new FhirAuditError(AUDIT_ERROR_CODES.spoolLocked, `audit spool ${dir} is held by process ${pid}`);
      }
      // Stale lock (its process died, e.g. kill -9): take it over.
      try {
        unlinkSync(path);
      } catch {
        // raced with another taker; the next attempt decides
      }
    }
  }
  throw new FhirAuditError(AUDIT_ERROR_CODES.spoolLocked, `audit spool ${dir} is locked`);
}

function releaseLock(dir: string): void {
  try {
    unlinkSync(join(dir, LOCK_FILE));
  } catch {
    // already gone
  }
}
