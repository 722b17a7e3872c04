/**
 * Spool health: the one place that decides whether an audited request may be served when its record
 * might not reach the spool, and that says so in the log. (The spool reports every write's outcome here;
 * response capture asks `admit()` before the head of an audited response leaves; /readyz reads `snapshot()`.)
 *
 * States: `ok` → `failed` when a spool write (or fdatasync) fails (ENOSPC, EDQUOT, EROFS, EACCES, EIO…),
 * when the spool reaches `maxSpoolBytes`, or when it cannot be opened; `failed` → `ok` when a later write
 * succeeds (the records kept for retry, or a strict request's own record) or the spool is back under its cap.
 *
 * Policy `audit.onSpoolFailure` (`refuse`, the default in both modes, or `serve`):
 * - `refuse`: while failed, an audited request is answered 503 OperationOutcome (FW_AUDIT_SPOOL_FULL /
 *   FW_AUDIT_SPOOL_UNWRITABLE, `retry-after: 1`) instead of its own response: no PHI leaves. Strict mode
 *   decides per request from its own durable write; batched mode decides when the response head would
 *   leave (first `writeHead`/`write`/`flushHeaders`/`end`). Batched in-flight window: a request whose
 *   head left while the spool was still `ok` has been served; if the write of its record then fails, the
 *   record is kept in memory and retried (it is NOT dropped, whatever `maxSpoolBytes` says) until a write
 *   succeeds; it is lost only if the process ends before that, and then counted as dropped.
 * - `serve`: the explicit opt-in to serve PHI unaudited: requests are served, records that cannot be kept
 *   are dropped and counted (`dropped`, metric `fhirwatch.audit.records.rejected{outcome=dropped}`).
 *
 * Entering and leaving `failed` is logged as one JSON line (`level` error / info) whatever the host's log
 * level, rate-limited to `logBurst` lines per `logWindowMs` (default 4 per minute: a flapping disk cannot
 * flood the log); suppressed transitions are counted in the next line, and the state at the end of the
 * window is always logged when it differs from the last line, so the last line never lies. The lines carry codes, errno names,
 * counts and the spool directory: never PHI.
 */
import { AUDIT_ERROR_CODES } from './errors.ts';

export type SpoolFailurePolicy = 'refuse' | 'serve';

/** Why the spool cannot take records. */
export type SpoolFailureCode = typeof AUDIT_ERROR_CODES.spoolFull | typeof AUDIT_ERROR_CODES.spoolUnwritable;

export interface SpoolHealthSnapshot {
  state: 'ok' | 'failed';
  policy: SpoolFailurePolicy;
  /** Why it failed (while failed). */
  code: SpoolFailureCode | undefined;
  /** errno name of the last failure (`ENOSPC`, `EROFS`…), or `cap` (maxSpoolBytes), `open`. */
  errno: string | undefined;
  /** Since when it is failed (ms since the epoch). */
  failedSinceMs: number | undefined;
  /** Last successful spool write (ms since the epoch). */
  lastWriteOkMs: number | undefined;
  /** Requests answered 503 because their record could not be spooled (cumulative). */
  refused: number;
  /** Records lost: served unaudited (`serve`), or still unwritten when the process ended (cumulative). */
  dropped: number;
}

export interface SpoolHealthOptions {
  policy: SpoolFailurePolicy;
  /** The spool directory (named in the log lines). */
  dir: string;
  /** Where a log line goes (one JSON line, no newline). Default: stderr. */
  log?: (line: string) => void;
  /** At most `logBurst` lines (default 4) per `logWindowMs` (default 60 000). */
  logBurst?: number;
  logWindowMs?: number;
  /** Whether the spool is over its size cap right now (read at each `admit()`). */
  overCap?: () => boolean;
}

const FULL_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

function errnoOf(error: unknown): string {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    e = e.cause;
  }
  return 'EIO';
}

export class SpoolHealth {
  readonly policy: SpoolFailurePolicy;
  private readonly dir: string;
  private readonly log: (line: string) => void;
  private readonly logBurst: number;
  private readonly logWindowMs: number;
  private readonly overCap: () => boolean;
  private writeFailure: { code: SpoolFailureCode; errno: string } | undefined;
  private capFull = false;
  private openFailedFlag = false;
  private failedSinceMs: number | undefined;
  private lastWriteOkMs: number | undefined;
  private refused = 0;
  private dropped = 0;
  private refusedAtEntry = 0;
  private droppedAtEntry = 0;
  // rate limit of the log lines
  private recentLines: number[] = [];
  private lastLoggedFailed = false;
  private suppressed = 0;
  private pendingLog: NodeJS.Timeout | undefined;

  constructor(options: SpoolHealthOptions) {
    this.policy = options.policy;
    this.dir = options.dir;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.logBurst = options.logBurst ?? 4;
    this.logWindowMs = options.logWindowMs ?? 60_000;
    this.overCap = options.overCap ?? (() => false);
  }

  failed(): boolean {
    return this.openFailedFlag || this.writeFailure !== undefined || this.capFull;
  }

  /** The code a refused response names. */
  code(): SpoolFailureCode {
    if (this.capFull) return AUDIT_ERROR_CODES.spoolFull;
    return this.writeFailure?.code ?? AUDIT_ERROR_CODES.spoolUnwritable;
  }

  /**
   * May the response of an audited request leave now? Always under `serve`; under `refuse` only while the
   * spool takes records. A refusal is counted; the caller answers 503 with `code()`.
   */
  admit(): boolean {
    this.checkCap();
    if (this.policy === 'serve' || !this.failed()) return true;
    this.refused++;
    return false;
  }

  /** A request refused by the caller itself (strict mode: its own durable write failed). */
  refusedOne(): void {
    this.refused++;
  }

  /** Records that will never reach the spool. */
  droppedRecords(n: number): void {
    this.dropped += n;
  }

  /** The spool wrote (and fdatasync'ed) a batch. */
  writeSucceeded(): void {
    this.lastWriteOkMs = Date.now();
    if (this.writeFailure === undefined) return;
    const wasFailed = this.failed();
    this.writeFailure = undefined;
    this.transition(wasFailed);
  }

  /** A spool write, fdatasync or segment creation failed. */
  writeFailed(error: unknown): void {
    const errno = errnoOf(error);
    const code = FULL_ERRNOS.has(errno) ? AUDIT_ERROR_CODES.spoolFull : AUDIT_ERROR_CODES.spoolUnwritable;
    const wasFailed = this.failed();
    const changed = this.writeFailure?.errno !== errno;
    this.writeFailure = { code, errno };
    if (!wasFailed || changed) this.transition(wasFailed);
  }

  /** The spool could not be opened (no recovery in this process). */
  openFailed(error: unknown): void {
    const wasFailed = this.failed();
    this.openFailedFlag = true;
    this.writeFailure = { code: AUDIT_ERROR_CODES.spoolUnwritable, errno: errnoOf(error) };
    this.transition(wasFailed);
  }

  /** Re-read the size cap (cheap: a few additions); logs on a change. */
  checkCap(): void {
    const over = this.overCap();
    if (over === this.capFull) return;
    const wasFailed = this.failed();
    this.capFull = over;
    this.transition(wasFailed);
  }

  snapshot(): SpoolHealthSnapshot {
    this.checkCap();
    const failed = this.failed();
    return {
      state: failed ? 'failed' : 'ok',
      policy: this.policy,
      code: failed ? this.code() : undefined,
      errno: failed ? (this.capFull ? 'cap' : this.writeFailure?.errno) : undefined,
      failedSinceMs: this.failedSinceMs,
      lastWriteOkMs: this.lastWriteOkMs,
      refused: this.refused,
      dropped: this.dropped,
    };
  }

  /** Stop the pending rate-limited line (shutdown); the current state is logged if it was not yet. */
  close(): void {
    if (this.pendingLog === undefined) return;
    clearTimeout(this.pendingLog);
    this.pendingLog = undefined;
    if (this.failed() !== this.lastLoggedFailed || this.suppressed > 0) this.emit();
  }

  private transition(wasFailed: boolean): void {
    const failed = this.failed();
    if (failed && !wasFailed) {
      this.failedSinceMs = Date.now();
      this.refusedAtEntry = this.refused;
      this.droppedAtEntry = this.dropped;
    } else if (!failed && wasFailed) {
      this.failedSinceMs = undefined;
    } else if (!failed) return;
    const now = Date.now();
    while (this.recentLines.length > 0 && (this.recentLines[0] as number) <= now - this.logWindowMs) {
      this.recentLines.shift();
    }
    if (this.pendingLog === undefined && this.recentLines.length < this.logBurst) {
      this.emit();
      return;
    }
    this.suppressed++;
    // the state at the end of the window is always logged, so the last line never lies
    this.pendingLog ??= setTimeout(
      () => {
        this.pendingLog = undefined;
        if (this.failed() !== this.lastLoggedFailed || this.suppressed > 0) this.emit();
      },
      (this.recentLines[0] ?? now) + this.logWindowMs - now,
    );
    this.pendingLog.unref();
  }

  private emit(): void {
    const failed = this.failed();
    const line: Record<string, unknown> = {
      time: new Date().toISOString(),
      level: failed ? 'error' : 'info',
      event: failed ? 'fhirwatch.audit.spool.failed' : 'fhirwatch.audit.spool.recovered',
      spoolDir: this.dir,
    };
    if (failed) {
      line.code = this.code();
      line.errno = this.capFull ? 'cap' : this.writeFailure?.errno;
      line.policy = this.policy;
      line.effect =
        this.policy === 'refuse'
          ? 'audited requests are refused with 503 until the spool takes records again'
          : 'audited requests are SERVED WITHOUT AUDIT RECORDS (onSpoolFailure: serve); lost records are counted';
    } else {
      line.refused = this.refused - this.refusedAtEntry;
      line.dropped = this.dropped - this.droppedAtEntry;
    }
    line.refusedTotal = this.refused;
    line.droppedTotal = this.dropped;
    if (this.suppressed > 0) line.suppressedTransitions = this.suppressed;
    this.suppressed = 0;
    this.recentLines.push(Date.now());
    this.lastLoggedFailed = failed;
    try {
      this.log(JSON.stringify(line));
    } catch {
      // a broken log sink never breaks a request
    }
  }
}
