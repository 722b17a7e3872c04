/**
 * Ships sealed spool segments to the sink: `POST {sinkUrl}/v1/audit`, NDJSON, one segment per batch
 * (protocol: notes/wire.md). At-least-once: a segment is deleted only after a 200; the sink
 * deduplicates on `event_id`. 429/503 honour `Retry-After`; network errors and other 5xx back off
 * exponentially with jitter. 400/413/415 mean the batch itself is invalid: it is moved to
 * `rejected/` (retrying would block every later record forever) and reported through `onError`.
 */

import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { AUDIT_ERROR_CODES, FhirAuditError } from './errors.ts';
import type { AuditSpool, SegmentInfo } from './spool.ts';

const gzipAsync = promisify(gzip);

export interface ShipperOptions {
  /** Sink base URL; records go to `${sinkUrl}/v1/audit`. */
  sinkUrl: string;
  /** Seal and ship the active segment when it is this old (default 1000 ms). */
  shipIntervalMs?: number;
  /** Timeout of one POST (default 30 s). */
  requestTimeoutMs?: number;
  /** First retry delay (default 200 ms), doubled per failure up to `maxBackoffMs` (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  gzip?: boolean;
  headers?: Record<string, string>;
  onError?: (error: FhirAuditError) => void;
}

export interface ShipperStats {
  shippedBatches: number;
  shippedRecords: number;
  duplicates: number;
  corruptLines: number;
  rejectedBatches: number;
  failedAttempts: number;
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
    failedAttempts: 0,
  };

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
        await this.spool.flush().catch(() => undefined);
        if (await this.spool.sealIfIdle()) segment = this.spool.oldestSegment();
      }
      if (segment === undefined) {
        if (!this.spool.hasUnshipped()) for (const w of this.idleWaiters.splice(0)) w();
        await this.sleep(this.idleWaiters.length > 0 ? 10 : interval);
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
    this.stats.corruptLines += contents.corrupt;
    if (contents.lines.length === 0) {
      await this.spool.acknowledge(segment, contents);
      return 0;
    }
    let body: Buffer = Buffer.from(`${contents.lines.join('\n')}\n`, 'utf8');
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', ...this.options.headers };
    if (this.options.gzip === true) {
      body = await gzipAsync(body);
      headers['content-encoding'] = 'gzip';
    }
    this.controller = new AbortController();
    const timeout = setTimeout(() => this.controller?.abort(), this.options.requestTimeoutMs ?? 30_000);
    let status = 0;
    let text = '';
    let retryAfter: string | null = null;
    try {
      const res = await fetch(this.url, { method: 'POST', headers, body, signal: this.controller.signal });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (cause) {
      this.stats.failedAttempts++;
      this.report(new FhirAuditError(AUDIT_ERROR_CODES.sinkUnavailable, 'audit sink unreachable', { cause }));
      return -1;
    } finally {
      clearTimeout(timeout);
      this.controller = undefined;
    }
    if (status === 200) {
      try {
        const ack = JSON.parse(text) as { accepted?: number; duplicates?: number };
        this.stats.duplicates += ack.duplicates ?? 0;
      } catch {
        // a 200 is the commitment; the counts are informational
      }
      await this.spool.acknowledge(segment, contents);
      this.stats.shippedBatches++;
      this.stats.shippedRecords += contents.lines.length;
      return 0;
    }
    if (status === 400 || status === 413 || status === 415) {
      let code = '';
      try {
        code = String((JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '');
      } catch {
        // body is not the documented error shape
      }
      await this.spool.quarantine(segment, contents);
      this.stats.rejectedBatches++;
      this.report(
        new FhirAuditError(
          AUDIT_ERROR_CODES.sinkRejected,
          `audit sink rejected segment ${segment.name} with ${status} ${code}`.trim(),
          { status },
        ),
      );
      return 0;
    }
    this.stats.failedAttempts++;
    this.report(new FhirAuditError(AUDIT_ERROR_CODES.sinkUnavailable, `audit sink answered ${status}`, { status }));
    const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
    if ((status === 429 || status === 503) && Number.isFinite(seconds) && seconds >= 0) {
      return Math.max(1, Math.min(seconds * 1000, this.options.maxBackoffMs ?? 30_000));
    }
    return -1;
  }

  private report(error: FhirAuditError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // a user hook never breaks shipping
    }
  }
}
