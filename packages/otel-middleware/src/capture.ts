/**
 * Response capture (and the request tee) of one exchange, without changing what the host sees:
 *
 * - the request body is teed from the stream's own `data` events (emitted both in flowing mode and by
 *   `read()`), so the host reads its body exactly as before; only auditable POSTs are teed;
 * - batched mode: the response body is teed by wrapping `res.write`/`res.end` of that response object, only
 *   for traffic that can be clinical and is not a plain read, up to `maxResponseBodyBytes`; at `res.end` the
 *   exchange is handed on (`ended`) for the deferred audit and telemetry work;
 * - strict mode: status, headers and body are HELD until the audit record is durably spooled (`audit`), then
 *   released; a failure fails the request closed with a 503 OperationOutcome (no PHI), unless the policy is
 *   `onSpoolFailure: serve` (then the response is released and the record counted as dropped);
 * - batched mode with `onSpoolFailure: refuse`: the spool-health gate (`admit`, spool-health.ts) is asked once,
 *   when the head of an audited response would leave (first `writeHead`, `write`, `flushHeaders` or `end`);
 *   when the spool is failed, a 503 OperationOutcome goes out instead and the host's own response is swallowed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FHIR_JSON_MIME, type FhirVersion, operationOutcome } from '@fhirwatch/contract';
import { getRequestContext } from './context.ts';
import { AUDIT_ERROR_CODES, FhirAuditError } from './errors.ts';
import {
  type Chunk,
  chunkLength,
  type Exchange,
  encodingOfHeadArgs,
  markEnd,
  SCAN_BUFFERED,
  SCAN_NOT_STARTED,
  SCAN_STREAMING,
  toBuffer,
} from './exchange.ts';
import type { StreamScanner } from './stream-scan.ts';

type EndFn = ServerResponse['end'];
type WriteFn = ServerResponse['write'];
type WriteHeadFn = ServerResponse['writeHead'];

/** What response capture hands on, and the options it needs. */
export interface CaptureHooks {
  strict: boolean;
  maxResBytes: number;
  defaultVersion: FhirVersion;
  /** Batched mode: the host ended the response (audit + telemetry are deferred from here). */
  ended(ex: Exchange): void;
  /** Audit (unless `audited`) and telemetry of an exchange that is over; never throws. */
  finished(ex: Exchange, status: number, audited?: boolean): void;
  /** Strict mode: build and durably spool the exchange's audit record (undefined: nothing to audit). */
  audit(ex: Exchange, status: number): Promise<void> | undefined;
  /** An access whose record could not be spooled: `refused` (a 503 went out) or served without it. */
  auditFailed(refused: boolean): void;
  /** `onSpoolFailure: refuse` (else `serve`). */
  refuse: boolean;
  /** Batched mode: may the head of this audited response leave now? (counts a refusal) */
  admit(): boolean;
  /** The error code a refusal names (FW_AUDIT_SPOOL_FULL / FW_AUDIT_SPOOL_UNWRITABLE). */
  refusalCode(): string;
  /** The first body chunk of a captured response: set `ex.resScan` (and `ex.scan` / `ex.resBuffered`). */
  startScan(ex: Exchange): void;
}

// Host string chunks are scanned through one reusable buffer (latin1 is the gateway's byte-for-byte
// encoding: a copy into it costs a memcpy, no allocation and no garbage).
const SCRATCH = Buffer.allocUnsafe(64 * 1024);
/** String encodings whose `Buffer.from` bytes are exactly what node's response write sends for them. */
const SAME_BYTES_ENCODINGS = new Set(['utf8', 'utf-8', 'latin1', 'binary']);

/** Scan one chunk as the host wrote it (a Buffer as is; a string through SCRATCH, piece by piece). */
function scanChunk(scan: StreamScanner, chunk: Chunk, encoding: BufferEncoding | undefined): void {
  if (typeof chunk !== 'string') {
    scan.write(chunk);
    return;
  }
  if (encoding === 'latin1' || encoding === 'binary') {
    // one byte per UTF-16 unit
    for (let at = 0; at < chunk.length; at += SCRATCH.length) {
      const piece = at === 0 && chunk.length <= SCRATCH.length ? chunk : chunk.slice(at, at + SCRATCH.length);
      const n = SCRATCH.write(piece, 0, 'latin1');
      scan.write(SCRATCH, n);
    }
    return;
  }
  if ((encoding === undefined || encoding === 'utf8' || encoding === 'utf-8') && chunk.length * 3 <= SCRATCH.length) {
    scan.write(SCRATCH, SCRATCH.write(chunk, 0, 'utf8'));
    return;
  }
  scan.write(Buffer.from(chunk, encoding ?? 'utf8'));
}

/**
 * Answer 503 OperationOutcome (no PHI) in place of the host's response, through the response's own
 * `writeHead`/`end` (passed in: the host-facing ones are wrapped). Headers the host set are dropped.
 */
function writeRefusal(
  ex: Exchange,
  defaultVersion: FhirVersion,
  code: string,
  writeHead: WriteHeadFn,
  end: EndFn,
): void {
  const res = ex.res;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const body = JSON.stringify(
    operationOutcome('transient', 'the access could not be audited; it was refused', { code }),
  );
  (writeHead as (...a: unknown[]) => ServerResponse).call(res, 503, {
    'content-type': FHIR_JSON_MIME[getRequestContext(ex.req)?.fhirVersion ?? defaultVersion],
    'content-length': Buffer.byteLength(body),
    'retry-after': '1',
  });
  (end as (chunk: string) => ServerResponse).call(res, body);
}

export function teeRequest(ex: Exchange, maxReqBytes: number): void {
  const req = ex.req;
  const emit = req.emit;
  ex.reqChunks = [];
  req.emit = function teeEmit(this: IncomingMessage, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'data' && ex.reqChunks !== undefined && !ex.reqTruncated) {
      const chunk = args[0] as Chunk;
      const len = chunkLength(chunk);
      if (ex.reqBytes + len > maxReqBytes) ex.reqTruncated = true;
      else {
        ex.reqBytes += len;
        ex.reqChunks.push(toBuffer(chunk));
      }
    }
    return emit.call(this, event, ...args);
  } as IncomingMessage['emit'];
}

export function hookResponse(ex: Exchange, hooks: CaptureHooks): void {
  const { strict, maxResBytes } = hooks;
  const res = ex.res;
  const origWrite = res.write;
  const origEnd = res.end;
  const hold = ex.auditable && strict;
  const capture = hold || (ex.auditable && !ex.readOnly);
  if (hold) {
    ex.resChunks = [];
    ex.resEncodings = [];
  }

  // The response body as it passes: scanned at once (hooks.startScan decides how), never copied for
  // the audit. Strict mode holds the host's chunks as they were written (released once durable).
  // `len`: the length the cap counts (the host's chunk as written: a string's length when `chunk` is its
  // encoded copy from `encoded`).
  const keep = (chunk: Chunk | undefined, encoding: unknown, len = chunk == null ? 0 : chunkLength(chunk)): void => {
    if (chunk === undefined || chunk === null || !capture || ex.resTruncated) return;
    try {
      if (ex.resBytes + len > maxResBytes) {
        truncate();
        return;
      }
      ex.resBytes += len;
      const enc = typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : undefined;
      if (hold) {
        (ex.resChunks as Chunk[]).push(chunk);
        (ex.resEncodings as (BufferEncoding | undefined)[]).push(enc);
      }
      if (ex.readOnly || len === 0) return;
      if (ex.resScan === SCAN_NOT_STARTED) hooks.startScan(ex);
      if (ex.resScan === SCAN_STREAMING) scanChunk(ex.scan as StreamScanner, chunk, enc);
      else if (ex.resScan === SCAN_BUFFERED) (ex.resBuffered as Buffer[]).push(toBuffer(chunk, enc));
    } catch {
      // an odd chunk type: let the host's own write report it; the disclosure becomes unknown
      truncate();
    }
  };
  /**
   * A string chunk that will be read (scanned, or kept whole for a compressed body): encoded to bytes once,
   * here, and the host's write is given those same bytes as a Buffer. Node encodes a string for the socket
   * anyway, so the body is encoded once instead of twice, and the scanner reads the bytes in place (no copy
   * through a scratch buffer, and no flattening of the host's string: the gateway's rewritten body is a rope
   * of hundreds of pieces). Only the encodings whose bytes `Buffer.from` gives exactly as node's write does
   * (utf8, latin1); anything else goes through unchanged. undefined = leave the chunk as it is.
   */
  const encoded = (chunk: unknown, encoding: unknown): Buffer | undefined => {
    if (typeof chunk !== 'string' || chunk.length === 0 || !capture || ex.readOnly || ex.resTruncated) return undefined;
    if (encoding !== undefined && !SAME_BYTES_ENCODINGS.has(encoding as string)) return undefined;
    if (ex.resBytes + chunk.length > maxResBytes) return undefined; // past the cap: keep() truncates
    try {
      if (ex.resScan === SCAN_NOT_STARTED) hooks.startScan(ex);
      if (ex.resScan !== SCAN_STREAMING && ex.resScan !== SCAN_BUFFERED) return undefined;
      return Buffer.from(chunk, (encoding as BufferEncoding | undefined) ?? 'utf8');
    } catch {
      return undefined;
    }
  };
  const truncate = (): void => {
    ex.resTruncated = true;
    ex.scan = undefined;
    ex.resBuffered = undefined;
    if (hold) {
      ex.resChunks = [];
      ex.resEncodings = [];
    }
  };

  res.once('close', () => {
    if (!ex.done) {
      // The connection closed before the host ended the response. If headers (and maybe part of
      // the body) went out, PHI may have been disclosed: audit it with its status; else status 0.
      ex.done = true;
      markEnd(ex);
      hooks.finished(ex, res.headersSent ? res.statusCode : 0);
    }
  });

  if (!hold) {
    // The spool-health gate (refuse policy): decided once, when the head would leave; `refused` then
    // swallows whatever the host still writes.
    const gated = ex.auditable && hooks.refuse;
    let decided = !gated;
    let refused = false;
    const origWriteHeadGate = res.writeHead;
    const admitted = (): boolean => {
      if (decided) return !refused;
      decided = true;
      if (hooks.admit()) return true;
      refused = true;
      ex.done = true;
      markEnd(ex);
      writeRefusal(ex, hooks.defaultVersion, hooks.refusalCode(), origWriteHeadGate, origEnd);
      hooks.finished(ex, 503, true);
      return false;
    };
    if (gated) {
      const origFlushHeaders = res.flushHeaders;
      res.flushHeaders = function gateFlushHeaders(this: ServerResponse): void {
        if (admitted()) origFlushHeaders.call(this);
      };
    }
    if (capture || gated) {
      res.writeHead = function teeWriteHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
        if (!admitted()) return this;
        try {
          ex.encoding = encodingOfHeadArgs(args);
        } catch {
          // odd header shapes: getHeader is asked at the end
        }
        return (origWriteHeadGate as (...a: unknown[]) => ServerResponse).apply(this, args);
      } as WriteHeadFn;
      res.write = function teeWrite(this: ServerResponse, chunk: Chunk, ...rest: unknown[]): boolean {
        if (!admitted()) {
          const cb = rest[rest.length - 1];
          if (typeof cb === 'function') process.nextTick(cb as () => void);
          return true;
        }
        // the host's write first (the same bytes: a string that is read is handed on encoded), then the
        // chunk is scanned as it passes
        const encoding = typeof rest[0] === 'string' ? rest[0] : undefined;
        const bytes = encoded(chunk, encoding);
        const out = (origWrite as (...a: unknown[]) => boolean).call(this, bytes ?? chunk, ...rest);
        if (capture) {
          if (bytes === undefined) keep(chunk, encoding);
          else keep(bytes, undefined, chunkLength(chunk));
        }
        return out;
      } as WriteFn;
    }
    res.end = function teeEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
      const first = args[0];
      if (!admitted()) {
        const cb = args[args.length - 1];
        if (typeof cb === 'function') process.nextTick(cb as () => void);
        return this;
      }
      const bytes = encoded(first, typeof args[1] === 'string' ? args[1] : undefined);
      if (bytes !== undefined) args[0] = bytes;
      const out = (origEnd as (...a: unknown[]) => ServerResponse).apply(this, args);
      if (capture && typeof first !== 'function') {
        if (bytes === undefined) keep(first as Chunk, args[1]);
        else keep(bytes, undefined, chunkLength(first as Chunk));
      }
      if (!ex.done) {
        ex.done = true;
        markEnd(ex);
        ex.endStatus = res.statusCode;
        // Batched mode: the audit and telemetry work runs after the response has been handed to
        // the socket (node writes it at the next tick; setImmediate runs after that), off the
        // request's latency path; still within the same event-loop turn, so the bounded window holds.
        hooks.ended(ex);
      }
      return out;
    } as EndFn;
    return;
  }

  // Strict mode: hold status, headers and body until the records are durably spooled.
  const origWriteHead = res.writeHead;
  const origFlushHeaders = res.flushHeaders;
  let headArgs: unknown[] | undefined;
  const callbacks: (() => void)[] = [];
  res.writeHead = function holdWriteHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
    headArgs = args;
    try {
      ex.encoding = encodingOfHeadArgs(args);
    } catch {
      // odd header shapes: getHeader is asked at the end
    }
    if (typeof args[0] === 'number') this.statusCode = args[0];
    return this;
  } as WriteHeadFn;
  res.flushHeaders = function holdFlushHeaders(): void {
    // held: headers go out with the body once the audit records are durable
  };
  res.write = function holdWrite(this: ServerResponse, chunk: Chunk, ...rest: unknown[]): boolean {
    const encoding = typeof rest[0] === 'string' ? rest[0] : undefined;
    const bytes = encoded(chunk, encoding);
    if (bytes === undefined) keep(chunk, encoding);
    else keep(bytes, undefined, chunkLength(chunk));
    const cb = rest[rest.length - 1];
    if (typeof cb === 'function') callbacks.push(cb as () => void);
    return true;
  } as WriteFn;
  res.end = function holdEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (ex.done) return this;
    ex.done = true;
    let endCb: (() => void) | undefined;
    const first = args[0];
    if (typeof first === 'function') endCb = first as () => void;
    else {
      const encoding = typeof args[1] === 'string' ? args[1] : undefined;
      const bytes = encoded(first, encoding);
      if (bytes === undefined) keep(first as Chunk | undefined, encoding);
      else keep(bytes, undefined, chunkLength(first as Chunk));
      const last = args[args.length - 1];
      if (typeof last === 'function') endCb = last as () => void;
    }
    const restore = (): void => {
      res.writeHead = origWriteHead;
      res.write = origWrite;
      res.end = origEnd;
      res.flushHeaders = origFlushHeaders;
    };
    const release = (): void => {
      restore();
      if (headArgs !== undefined) (origWriteHead as (...a: unknown[]) => void).apply(res, headArgs);
      const chunks = ex.resChunks ?? [];
      const encodings = ex.resEncodings ?? [];
      const write = origWrite as (this: ServerResponse, chunk: Chunk, encoding?: BufferEncoding) => boolean;
      const end = origEnd as (this: ServerResponse, cb?: () => void) => ServerResponse;
      for (let i = 0; i < chunks.length; i++) {
        const encoding = encodings[i];
        if (encoding === undefined) write.call(res, chunks[i] as Chunk);
        else write.call(res, chunks[i] as Chunk, encoding);
      }
      ex.resChunks = undefined;
      ex.resEncodings = undefined;
      for (const cb of callbacks) cb();
      end.call(res, endCb);
    };
    const failClosed = (code: string): void => {
      restore();
      writeRefusal(ex, hooks.defaultVersion, code, origWriteHead, origEnd);
      for (const cb of callbacks) cb();
      endCb?.();
    };
    const status = this.statusCode;
    markEnd(ex);
    if (ex.resTruncated) {
      hooks.auditFailed(true);
      failClosed(AUDIT_ERROR_CODES.bodyTooLarge);
      hooks.finished(ex, 503, true);
      return this;
    }
    let pending: Promise<void> | undefined;
    try {
      pending = hooks.audit(ex, status);
    } catch (error) {
      pending = Promise.reject(error);
    }
    if (pending === undefined) {
      release();
      hooks.finished(ex, status, true);
      return this;
    }
    pending.then(
      () => {
        release();
        hooks.finished(ex, status, true);
      },
      (error: unknown) => {
        if (!hooks.refuse) {
          // onSpoolFailure: serve — the explicit opt-in: the PHI goes out without its record
          hooks.auditFailed(false);
          release();
          hooks.finished(ex, status, true);
          return;
        }
        hooks.auditFailed(true);
        const code =
          error instanceof FhirAuditError && error.code === AUDIT_ERROR_CODES.spoolFull
            ? AUDIT_ERROR_CODES.spoolFull
            : AUDIT_ERROR_CODES.spoolUnwritable;
        failClosed(code);
        hooks.finished(ex, 503, true);
      },
    );
    return this;
  } as EndFn;
}
