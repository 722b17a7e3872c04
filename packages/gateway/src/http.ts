/** Small node:http helpers shared by the endpoints. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FHIR_JSON_MIME, type FhirVersion, operationOutcome } from '@fhirwatch/contract';
import { GatewayError } from './errors.ts';

/** Bodies are drained (and dropped) up to this size so a 413 reaches the client; bigger ones are cut off. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json; charset=utf-8',
  headers?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = Buffer.from(JSON.stringify(body));
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', payload.length);
  if (headers !== undefined) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(payload);
}

/** Answer with a one-issue OperationOutcome for `error`. */
export function sendOutcome(
  res: ServerResponse,
  error: GatewayError,
  version: FhirVersion,
  headers?: Record<string, string>,
): void {
  sendJson(
    res,
    error.status,
    operationOutcome(error.issue, error.message, { code: error.code }),
    `${FHIR_JSON_MIME[version]}; charset=utf-8`,
    headers,
  );
}

/**
 * Read a request body of at most `limit` bytes. Above the limit it rejects with
 * FW_GATEWAY_BODY_TOO_LARGE once the rest was drained (so the client reads the 413), and marks the
 * connection to close.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    const tooLarge = (): void => {
      res.setHeader('connection', 'close');
      req.removeAllListeners('data');
      reject(new GatewayError('FW_GATEWAY_BODY_TOO_LARGE', `request body larger than ${limit} bytes`));
    };
    if (declared > limit) {
      if (declared > DRAIN_LIMIT) {
        tooLarge();
        return;
      }
      req.resume();
      req.once('end', tooLarge);
      req.once('error', tooLarge);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) {
        size += chunk.length;
        if (size > DRAIN_LIMIT) req.destroy();
        return;
      }
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (over) tooLarge();
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.once('error', (cause) => {
      if (over) tooLarge();
      else reject(new GatewayError('FW_GATEWAY_INVALID_REQUEST', 'request body aborted', { cause }));
    });
  });
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string {
  if (header === undefined) return '';
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

export const JSON_MEDIA_TYPES = new Set(['application/fhir+json', 'application/json+fhir', 'application/json']);
export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
