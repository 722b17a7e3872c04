/**
 * One HTTP request exactly as written, for the security tests of every server: the path is sent as is (no `..`
 * resolution, no percent-decoding, unlike `fetch`), any `Host` header can be set, and transport errors come back
 * as `status: 0` with the error code instead of a throw.
 */
import { request } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The transport error (ECONNRESET …) when there was no answer. */
  error?: string;
}

export interface RawInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export function rawRequest(base: string, path: string, init: RawInit = {}): Promise<RawAnswer> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const req = request(
      { host: url.hostname, port: url.port, method: init.method ?? 'GET', path, headers: init.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (error: NodeJS.ErrnoException) =>
          resolve({ status: 0, headers: {}, text: '', error: error.code ?? error.message }),
        );
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: 0, headers: {}, text: '', error: error.code ?? error.message }),
    );
    req.end(init.body);
  });
}
