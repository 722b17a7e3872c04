/**
 * Ships sealed spool segments to the sink: `POST {sinkUrl}/v1/audit`, one segment per batch
 * (protocol: docs/wire.md). The body is the segment's bytes as they are on disk
 * (`application/x-fhirwatch-spool`: `<crc32> <request record JSON>` lines; the sink checks each CRC):
 * nothing is decoded or re-encoded on the way (a range of lines is a slice of the segment).
 * At-least-once: a segment is deleted only after a 200; the sink
 * deduplicates on `event_id`. 429/503 honour `Retry-After`; network errors and other 5xx back off
 * exponentially with jitter.
 *
 * A 400/413 rejects the whole batch (nothing written) but is usually caused by one record: the sink
 * names the first bad line (`error.line`, 1-based). The lines before it are shipped, the bad line is
 * quarantined (kept in `rejected/<segment>.rejected.ndjson` with the sink's PHI-free error code, never
 * shipped again: retrying would block every later record forever) and the rest is shipped in turn.
 * When the sink does not name a line (or names one out of range), the batch is bisected until each
 * refused piece is a single line. The segment is deleted only when every line has been either
 * acknowledged (200) or quarantined; a crash in between re-sends it (the sink deduplicates).
 * A 415 (media type / encoding refused) is about the request, not a record: the whole segment is
 * moved to `rejected/` as before.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { SPOOL_MEDIA_TYPE } from '@fhirwatch/contract';
import { AUDIT_ERROR_CODES, FhirAuditError } from './errors.ts';
import { type AuditSpool, type SegmentContents, type SegmentInfo, segmentLine } from './spool.ts';

/** Media type of spool-framed lines (the contract's wire module; re-exported for existing importers). */
export { SPOOL_MEDIA_TYPE };

const gzipAsync = promisify(gzip);

export interface ShipperOptions {
  /** Sink base URL; records go to `${sinkUrl}/v1/audit`. */
  sinkUrl: string;
  /** Seal and ship the active segment when it is this old (default 1000 ms; sooner when it fills up or drain() waits). */
  shipIntervalMs?: number;
  /** Timeout of one POST (default 30 s). */
  requestTimeoutMs?: number;
  /** First retry delay (default 200 ms), doubled per failure up to `maxBackoffMs` (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  gzip?: boolean;
  headers?: Record<string, string>;
  onError?: (error: FhirAuditError) => void;
  /** Called once per segment the sink acknowledged: seconds from its first write, records it held. */
  onShipped?: (lagS: number, records: number) => void;
}

export interface ShipperStats {
  shippedBatches: number;
  shippedRecords: number;
  duplicates: number;
  corruptLines: number;
  /** Batches (POSTs) the sink refused with 400/413/415. */
  rejectedBatches: number;
  /** Records quarantined in `rejected/` (the lines the sink named or bisection isolated). */
  rejectedRecords: number;
  failedAttempts: number;
}

/** One POST's outcome. */
type PostResult =
  | { kind: 'ok'; duplicates: number }
  | { kind: 'rejected'; status: number; code: string; line: number | undefined }
  | { kind: 'retry'; delayMs: number };

/** Progress through one segment, kept across retries so acknowledged lines are not sent again. */
interface SegmentProgress {
  name: string;
  /** Line ranges [start, end) still to ship, in order. */
  pending: [number, number][];
  /** Quarantined lines: index and the sink's error. */
  rejected: { index: number; status: number; code: string }[];
}

export class AuditShipper {
  private readonly spool: AuditSpool;
  private readonly url: string;
  private readonly options: ShipperOptions;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private controller: AbortController | undefined;
  private idleWaiters: (() => void)[] = [];
  readonly stats: ShipperStats = {
    shippedBatches: 0,
    shippedRecords: 0,
    duplicates: 0,
    corruptLines: 0,
    rejectedBatches: 0,
    rejectedRecords: 0,
    failedAttempts: 0,
  };
  private progress: SegmentProgress | undefined;

  constructor(spool: AuditSpool, options: ShipperOptions) {
    this.spool = spool;
    this.options = options;
    this.url = `${options.sinkUrl.replace(/\/+$/, '')}/v1/audit`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stop after the current attempt (an in-flight POST is aborted; its segment stays in the spool). */
  async stop(): Promise<void> {
    this.running = false;
    this.controller?.abort();
    this.poke();
    await this.loop;
  }

  /** Wake the loop now (e.g. after a flush) instead of at the next interval. */
  poke(): void {
    if (this.sleepTimer !== undefined) clearTimeout(this.sleepTimer);
    this.sleepTimer = undefined;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolve once everything spooled so far has been shipped (used by tests and shutdown). */
  drained(): Promise<void> {
    if (!this.spool.hasUnshipped()) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.poke();
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = undefined;
        this.wake = undefined;
        resolve();
      }, ms);
      this.sleepTimer.unref();
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    const interval = this.options.shipIntervalMs ?? 1000;
    while (this.running) {
      let segment = this.spool.oldestSegment();
      if (segment === undefined) {
        // The active segment is sealed and shipped once it is `interval` old (sooner when it fills up, or
        // when drain() waits): under steady traffic, one segment (one POST, one chain-file write, one new
        // segment) per interval, not one per loop turn with the few records that came in meanwhile.
        const draining = this.idleWaiters.length > 0;
        const first = this.spool.activeFirstWriteMs();
        if (draining || (first !== undefined && Date.now() - first >= interval)) {
          await this.spool.flush().catch(() => undefined);
          if (await this.spool.sealIfIdle(draining ? 0 : interval)) segment = this.spool.oldestSegment();
        }
      }
      if (segment === undefined) {
        if (!this.spool.hasUnshipped()) for (const w of this.idleWaiters.splice(0)) w();
        const first = this.spool.activeFirstWriteMs();
        const due = first === undefined ? interval : first + interval - Date.now();
        await this.sleep(this.idleWaiters.length > 0 ? 10 : Math.max(10, Math.min(interval, due)));
        continue;
      }
      const delay = await this.shipOne(segment);
      if (delay === 0) {
        failures = 0;
        continue;
      }
      failures++;
      const backoff =
        delay > 0
          ? delay
          : Math.min(this.options.maxBackoffMs ?? 30_000, (this.options.minBackoffMs ?? 200) * 2 ** (failures - 1));
      // Full jitter on computed backoff; a server's Retry-After is honoured as given.
      await this.sleep(delay > 0 ? backoff : backoff / 2 + Math.random() * (backoff / 2));
    }
  }

  /** Ship one segment. Returns 0 on success/quarantine, -1 for computed backoff, >0 for a Retry-After in ms. */
  private async shipOne(segment: SegmentInfo): Promise<number> {
    let contents: Awaited<ReturnType<AuditSpool['readSegment']>>;
    try {
      contents = await this.spool.readSegment(segment);
    } catch (cause) {
      this.report(new FhirAuditError(AUDIT_ERROR_CODES.spoolUnwritable, 'cannot read audit spool segment', { cause }));
      return -1;
    }
    const lineCount = contents.ranges.length;
    if (this.progress?.name !== segment.name) {
      this.stats.corruptLines += contents.corrupt;
      this.progress = { name: segment.name, pending: lineCount > 0 ? [[0, lineCount]] : [], rejected: [] };
    }
    const progress = this.progress;
    while (progress.pending.length > 0) {
      const [start, end] = progress.pending[0] as [number, number];
      const result = await this.post(contents, start, end);
      if (result.kind === 'retry') return result.delayMs;
      progress.pending.shift();
      if (result.kind === 'ok') {
        this.stats.duplicates += result.duplicates;
        this.stats.shippedBatches++;
        this.stats.shippedRecords += end - start;
        continue;
      }
      this.stats.rejectedBatches++;
      if (result.status === 415) {
        // The request's encoding/media type was refused, not a record: keep the whole segment aside.
        this.progress = undefined;
        await this.spool.quarantine(segment, contents);
        this.stats.rejectedRecords += lineCount;
        this.report(
          new FhirAuditError(
            AUDIT_ERROR_CODES.sinkRejected,
            `audit sink rejected segment ${segment.name} with 415 ${result.code}`.trim(),
            { status: 415 },
          ),
        );
        return 0;
      }
      const named = result.line === undefined ? -1 : start + result.line - 1;
      const next: [number, number][] = [];
      if (named >= start && named < end) {
        // Lines before the named one were valid (the sink reports the first bad line).
        if (named > start) next.push([start, named]);
        this.quarantineLine(progress, named, result.status, result.code);
        if (named + 1 < end) next.push([named + 1, end]);
      } else if (end - start === 1) {
        this.quarantineLine(progress, start, result.status, result.code);
      } else {
        const mid = start + Math.ceil((end - start) / 2);
        next.push([start, mid], [mid, end]);
      }
      progress.pending.unshift(...next);
    }
    if (progress.rejected.length > 0) {
      // Kept for an operator: the sink's error code (PHI-free) next to the record as spooled.
      let text = '';
      for (const r of progress.rejected) {
        text += `{"error":{"status":${r.status},"code":${JSON.stringify(r.code)},"line":${r.index + 1}},"record":${segmentLine(contents, r.index)}}\n`;
      }
      try {
        // Named after the first refused record's event_id: the same name when a crash makes us redo
        // this segment, never the name of another segment's file (segment numbers restart at 1).
        let id = '';
        try {
          id = String(
            (JSON.parse(segmentLine(contents, progress.rejected[0]?.index ?? 0)) as { event_id?: unknown }).event_id ??
              '',
          );
        } catch {
          // not JSON (that may be why it was refused)
        }
        const name = `${segment.name}.${/^[0-9a-f-]{36}$/.test(id) ? id : Date.now()}.rejected.ndjson`;
        await writeFile(join(this.spool.dir, 'rejected', name), text, { mode: 0o600 });
      } catch (cause) {
        this.report(
          new FhirAuditError(AUDIT_ERROR_CODES.spoolUnwritable, 'cannot write rejected audit records', { cause }),
        );
        return -1;
      }
      this.stats.rejectedRecords += progress.rejected.length;
      const codes = [...new Set(progress.rejected.map((r) => r.code))].join(',');
      this.report(
        new FhirAuditError(
          AUDIT_ERROR_CODES.sinkRejected,
          `audit sink rejected ${progress.rejected.length} of ${lineCount} records of segment ${segment.name} (${codes}); kept in rejected/`,
          { status: progress.rejected[0]?.status ?? 400 },
        ),
      );
    }
    this.progress = undefined;
    await this.spool.acknowledge(segment, contents);
    try {
      this.options.onShipped?.((Date.now() - segment.firstWriteMs) / 1000, lineCount);
    } catch {
      // a metrics hook never breaks shipping
    }
    return 0;
  }

  private quarantineLine(progress: SegmentProgress, index: number, status: number, code: string): void {
    progress.rejected.push({ index, status, code }); // code: sinkError's, FW_… or ''
  }

  /** POST lines [start, end) as one batch: the segment's bytes, contiguous runs sliced, never re-encoded. */
  private async post(contents: SegmentContents, start: number, end: number): Promise<PostResult> {
    const parts: Buffer[] = [];
    let runStart = -1;
    let runEnd = -1;
    for (let i = start; i < end; i++) {
      const [a, b] = contents.ranges[i] as [number, number];
      if (a === runEnd) runEnd = b;
      else {
        if (runStart !== -1) parts.push(contents.bytes.subarray(runStart, runEnd));
        runStart = a;
        runEnd = b;
      }
    }
    if (runStart !== -1) parts.push(contents.bytes.subarray(runStart, runEnd));
    let body: Buffer = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    const headers: Record<string, string> = { 'content-type': SPOOL_MEDIA_TYPE, ...this.options.headers };
    if (this.options.gzip === true) {
      body = await gzipAsync(body);
      headers['content-encoding'] = 'gzip';
    }
    this.controller = new AbortController();
    const timeout = setTimeout(() => this.controller?.abort(), this.options.requestTimeoutMs ?? 30_000);
    let status = 0;
    let answer = '';
    let retryAfter: string | null = null;
    try {
      const res = await fetch(this.url, { method: 'POST', headers, body, signal: this.controller.signal });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      answer = await res.text();
    } catch (cause) {
      this.stats.failedAttempts++;
      this.report(new FhirAuditError(AUDIT_ERROR_CODES.sinkUnavailable, 'audit sink unreachable', { cause }));
      return { kind: 'retry', delayMs: -1 };
    } finally {
      clearTimeout(timeout);
      this.controller = undefined;
    }
    if (status === 200) {
      let duplicates = 0;
      try {
        duplicates = Number((JSON.parse(answer) as { duplicates?: number }).duplicates ?? 0) || 0;
      } catch {
        // a 200 is the commitment; the counts are informational
      }
      return { kind: 'ok', duplicates };
    }
    const { code, line } = sinkError(answer);
    if (status === 400 || status === 413 || status === 415) return { kind: 'rejected', status, code, line };
    this.stats.failedAttempts++;
    // 401/403: this writer's credential (FHIRWATCH_INGEST_TOKEN) is missing or is not the one of its recordedBy
    const hint =
      status === 401 || status === 403
        ? ': check the ingest credential and that recordedBy is the name the sink gives it; records stay spooled'
        : '';
    this.report(
      new FhirAuditError(
        AUDIT_ERROR_CODES.sinkUnavailable,
        `audit sink answered ${status}${code === '' ? '' : ` ${code}`}${hint}`,
        { status },
      ),
    );
    const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
    if ((status === 429 || status === 503) && Number.isFinite(seconds) && seconds >= 0) {
      return { kind: 'retry', delayMs: Math.max(1, Math.min(seconds * 1000, this.options.maxBackoffMs ?? 30_000)) };
    }
    return { kind: 'retry', delayMs: -1 };
  }

  private report(error: FhirAuditError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // a user hook never breaks shipping
    }
  }
}

/** The sink's error code (`FW_…`, nothing else: the answer is not echoed) and record line, from its JSON body. */
function sinkError(answer: string): { code: string; line: number | undefined } {
  try {
    const error = (JSON.parse(answer) as { error?: { code?: unknown; line?: unknown } }).error;
    const code = typeof error?.code === 'string' && /^FW_[A-Z0-9_]{1,64}$/.test(error.code) ? error.code : '';
    const line =
      typeof error?.line === 'number' && Number.isInteger(error.line) && error.line >= 1 ? error.line : undefined;
    return { code, line };
  } catch {
    return { code: '', line: undefined }; // not the documented error shape (a rejected batch is bisected)
  }
}
