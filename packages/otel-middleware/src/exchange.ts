/**
 * One HTTP exchange as the middleware sees it (request, response, span, captured bodies, classification),
 * shared by its parts: response capture (capture.ts), the audit pipeline (audit-pipeline.ts), request
 * telemetry (request-telemetry.ts) and the adapters (middleware.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Classification, FhirVersion } from '@fhirwatch/contract';
import type { Context, Span } from '@opentelemetry/api';
import type { StreamScanner } from './stream-scan.ts';

export type Chunk = Buffer | string | Uint8Array;

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Path relative to the FHIR base, with query (PHI: classification only). */
  path: string;
  startMs: number;
  startPerf: number;
  span: Span;
  /** Classification from method + path (final for GET). */
  pre: Classification | undefined;
  preVersion: FhirVersion;
  auditable: boolean;
  /** A single read: its disclosure is the resource it names, no body needed. */
  readOnly: boolean;
  reqChunks: Buffer[] | undefined;
  reqBytes: number;
  reqTruncated: boolean;
  /** Strict mode: the response chunks held until the record is durable (as the host wrote them). */
  resChunks: Chunk[] | undefined;
  /** The encoding the host gave with each held string chunk. */
  resEncodings: (BufferEncoding | undefined)[] | undefined;
  /** The response as it passes: scanned by `scan` (streaming), or kept in `resBuffered` (see capture.ts). */
  resScan: number;
  scan: StreamScanner | undefined;
  /** Only for a body that cannot be scanned as it passes (compressed, or the request body not read yet). */
  resBuffered: Buffer[] | undefined;
  resBytes: number;
  resTruncated: boolean;
  done: boolean;
  /** When the host ended the response (performance.now()); set by `markEnd`. */
  endPerf: number;
  /** Socket facts read at the end (the socket may be gone by the time deferred work runs). */
  sourceIp: string;
  localAddress: string | undefined;
  localPort: number | undefined;
  encrypted: boolean;
  /** content-encoding given to `writeHead(status, headers)` (node does not keep those for getHeader). */
  encoding: string | undefined;
  /** The context with the server span (the handler runs in it; parent of the client spans). */
  spanCtx: Context | undefined;
  /** Final classification and record count, set by `finishAudit` (undefined: not audited yet). */
  cls: Classification | undefined;
  clsFinal: boolean;
  /** The FHIR version `cls` was made for. */
  clsVersion: FhirVersion | undefined;
  records: number;
  /** Status captured at `res.end`, for the deferred work of batched mode. */
  endStatus: number;
}

/** The content-encoding among `writeHead` arguments (`(status, headers)` or `(status, message, headers)`). */
export function encodingOfHeadArgs(args: readonly unknown[]): string | undefined {
  const headers = typeof args[1] === 'string' ? args[2] : args[1];
  if (headers === null || typeof headers !== 'object') return undefined;
  if (Array.isArray(headers)) {
    // [[name, value], …] or [name, value, name, value, …]
    const flat = Array.isArray(headers[0]) ? (headers as unknown[][]).flat() : headers;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      if (String(flat[i]).toLowerCase() === 'content-encoding') return String(flat[i + 1]);
    }
    return undefined;
  }
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (name.toLowerCase() === 'content-encoding') return Array.isArray(value) ? String(value[0]) : String(value);
  }
  return undefined;
}

export function headerValue(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? (v[0] ?? '') : v;
}

/** Response scan states (`Exchange.resScan`). */
export const SCAN_NOT_STARTED = 0;
/** Scanned as it passes (`Exchange.scan`). */
export const SCAN_STREAMING = 1;
/** Kept whole and scanned at the end (`Exchange.resBuffered`). */
export const SCAN_BUFFERED = 2;
/** Not needed: nothing in the body changes the record (not clinical, or a failed request). */
export const SCAN_NONE = 3;

export function toBuffer(chunk: Chunk, encoding?: BufferEncoding): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export function chunkLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? chunk.length : chunk.byteLength;
}

/** The end of the exchange: time, and the socket facts (the socket may be gone by the time deferred work runs). */
export function markEnd(ex: Exchange): void {
  ex.endPerf = performance.now();
  const socket = ex.req.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | undefined;
  if (socket === undefined || socket === null) return;
  ex.sourceIp = socket.remoteAddress ?? '';
  ex.localAddress = socket.localAddress;
  ex.localPort = socket.localPort;
  ex.encrypted = socket.encrypted === true;
}

// Deferred per-exchange work of batched mode (see teeEnd), drained DEFER_CHUNK at a time.
