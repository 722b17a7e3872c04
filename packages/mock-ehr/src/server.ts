/**
 * node:http adapter of the mock EHR: routing, body limits, media types, injected latency and errors.
 * FHIR behaviour lives in fhir.ts; this file only moves bytes. Nothing a client sends may crash it:
 * every failure becomes an OperationOutcome, aborted requests are dropped silently.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FHIR_JSON_MIME, operationOutcome } from '@fhirwatch/contract';
import { MOCK_EHR_ERROR, MockEhrError } from './errors.ts';
import { createFhirApi, errorResponse, type FhirResponse, prefersLenient, type Route } from './fhir.ts';
import { handleOAuth, OAUTH_PATHS } from './oauth.ts';
import { generatePopulation } from './population.ts';
import { createRng, type Rng } from './prng.ts';
import { createStore } from './store.ts';
import type { LatencyOption, MockEhrOptions, MockEhrServer } from './types.ts';

const SOFTWARE = { name: 'fhirwatch mock-ehr', version: '0.1.0' } as const;
const DEFAULT_MAX_BODY = 1024 * 1024;
const STREAM_LATENCY = 3;
const STREAM_ERRORS = 4;
/** z-score of the 99th percentile of a standard normal. */
const Z99 = 2.3263478740408408;
const MAX_LATENCY_MS = 60_000;

const JSON_TYPES = new Set(['application/fhir+json', 'application/json+fhir', 'application/json']);
const FORM_TYPE = 'application/x-www-form-urlencoded';

interface ResolvedOptions {
  port: number;
  host: string;
  basePath: string;
  latency: (() => number) | undefined;
  errorRate: number;
  maxBodyBytes: number;
  cachePatients: number;
  stringSearch: 'seed' | 'fhir';
}

function optionError(message: string): MockEhrError {
  return new MockEhrError(MOCK_EHR_ERROR.options, message);
}

function latencySampler(latency: LatencyOption | undefined, rng: Rng): (() => number) | undefined {
  if (latency === undefined || latency === 0) return undefined;
  if (typeof latency === 'number') {
    if (!Number.isFinite(latency) || latency < 0) throw optionError('latency must be a non-negative number of ms');
    return () => latency;
  }
  const { p50Ms, p99Ms } = latency;
  if (!(p50Ms > 0) || !(p99Ms >= p50Ms) || !Number.isFinite(p99Ms)) {
    throw optionError('latency distribution needs 0 < p50Ms <= p99Ms');
  }
  // Lognormal with median p50 and 99th percentile p99.
  const mu = Math.log(p50Ms);
  const sigma = (Math.log(p99Ms) - mu) / Z99;
  return () => Math.min(MAX_LATENCY_MS, Math.exp(mu + sigma * rng.normal()));
}

function stringSearchOption(value: unknown): 'seed' | 'fhir' {
  if (value === undefined || value === 'seed' || value === 'fhir') return value ?? 'seed';
  throw optionError("stringSearch must be 'seed' or 'fhir'");
}

function resolveOptions(options: MockEhrOptions, seed: number): ResolvedOptions {
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  if (basePath !== '' && !/^\/[A-Za-z0-9._~\-/]*$/.test(basePath)) {
    throw optionError("basePath must start with '/' and contain only URL path characters");
  }
  const errorRate = options.errorRate ?? 0;
  if (!(errorRate >= 0 && errorRate <= 1)) throw optionError('errorRate must be in [0, 1]');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) throw optionError('maxBodyBytes must be a positive integer');
  return {
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    basePath,
    latency: latencySampler(options.latency, createRng(seed, STREAM_LATENCY)),
    errorRate,
    maxBodyBytes,
    cachePatients: options.cachePatients ?? 2_000,
    stringSearch: stringSearchOption(options.stringSearch),
  };
}

function mediaType(header: string | undefined): string {
  if (header === undefined) return '';
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

class Aborted extends Error {}

/** Read a request body up to `limit` bytes; rejects with a 413 MockEhrError beyond it, with Aborted when the client goes away. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error: Error | undefined, body?: Buffer): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(body!);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish(tooLarge(limit));
      } else chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    const onClose = (): void => finish(new Aborted('client closed the request'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

function tooLarge(limit: number): MockEhrError {
  return new MockEhrError(MOCK_EHR_ERROR.bodyTooLarge, `request body larger than ${limit} bytes`);
}

/** Start the mock EHR on 127.0.0.1 (by default) and resolve once it listens. */
export async function startMockEhr(options: MockEhrOptions = {}): Promise<MockEhrServer> {
  const population = generatePopulation(options);
  const version = population.fhirVersion;
  const resolved = resolveOptions(options, population.seed);
  const errorRng = createRng(population.seed, STREAM_ERRORS);
  const contentType = `${FHIR_JSON_MIME[version]};charset=utf-8`;

  // The store needs the base URL (fullUrl, paging links), known once the port is bound.
  let api: ReturnType<typeof createFhirApi> | undefined;

  const write = (res: ServerResponse, response: FhirResponse, close: boolean): void => {
    if (res.destroyed || res.headersSent) return;
    // A flat [name, value, …] list: the cheapest form writeHead takes (this is the read hot path).
    const headers: string[] = ['content-type', contentType, 'content-length', String(response.body.length)];
    if (response.headers !== undefined) {
      for (const name in response.headers) headers.push(name, response.headers[name]!);
    }
    if (close) headers.push('connection', 'close');
    res.writeHead(response.status, headers);
    res.end(response.body);
  };

  const respond = (res: ServerResponse, response: FhirResponse, close = false): void => {
    const delay = resolved.latency === undefined ? 0 : resolved.latency();
    if (delay > 0) {
      res.on('error', noop);
      setTimeout(() => write(res, response, close), delay);
    } else write(res, response, close);
  };

  const fail = (res: ServerResponse, error: unknown, close = false): void => {
    if (error instanceof Aborted) return;
    if (error instanceof MockEhrError) {
      respond(res, errorResponse(error), close);
      return;
    }
    // A bug of ours: answer 500 without details (they could carry request data).
    respond(res, errorResponse(new MockEhrError(MOCK_EHR_ERROR.internal, 'internal error')), close);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // No 'error' listeners on the GET path: node does not emit 'error' on an aborted IncomingMessage
    // without listeners, and responses are written only while the socket is open. The body-reading
    // path adds them (handleBody).
    const current = api;
    if (current === undefined) {
      fail(res, new MockEhrError(MOCK_EHR_ERROR.internal, 'starting', { status: 503, issue: 'transient' }));
      return;
    }
    try {
      const rawUrl = req.url ?? '/';
      const q = rawUrl.indexOf('?');
      let path = q === -1 ? rawUrl : rawUrl.slice(0, q);
      const query = q === -1 ? '' : rawUrl.slice(q + 1);
      if (resolved.basePath !== '') {
        if (path === resolved.basePath) path = '/';
        else if (path.startsWith(`${resolved.basePath}/`)) path = path.slice(resolved.basePath.length);
        else throw new MockEhrError(MOCK_EHR_ERROR.notFound, 'outside the FHIR base path');
      }
      const method = req.method ?? 'GET';
      if (OAUTH_PATHS.has(path)) {
        void handleOAuth(req, res, path);
        return;
      }
      const route = current.route(method, path);
      checkFormat(query);
      if (resolved.errorRate > 0 && route.kind !== 'metadata' && errorRng.next() < resolved.errorRate) {
        const unavailable = errorRng.chance(0.5);
        const error = new MockEhrError(
          MOCK_EHR_ERROR.injected,
          'injected error (mock EHR errorRate)',
          unavailable ? { status: 503, issue: 'transient' } : {},
        );
        const response = errorResponse(error);
        if (unavailable) response.headers = { 'retry-after': '1' };
        respond(res, response, method === 'POST');
      } else if (route.kind === 'batch' || route.kind === 'search-post') {
        void handleBody(req, res, route, query);
      } else {
        respond(res, current.run(route, query, undefined, prefersLenient(req.headers.prefer)));
      }
    } catch (error) {
      fail(res, error, req.method === 'POST');
    }
  };

  const handleBody = async (req: IncomingMessage, res: ServerResponse, route: Route, query: string): Promise<void> => {
    req.on('error', noop);
    res.on('error', noop);
    try {
      const declared = Number(req.headers['content-length'] ?? '0');
      if (declared > resolved.maxBodyBytes) return fail(res, tooLarge(resolved.maxBodyBytes), true);
      const type = mediaType(req.headers['content-type']);
      const accepted = route.kind === 'batch' ? JSON_TYPES.has(type) : type === FORM_TYPE || type === '';
      if (!accepted) {
        return fail(
          res,
          new MockEhrError(
            MOCK_EHR_ERROR.mediaType,
            route.kind === 'batch'
              ? `batch Bundles must be ${FHIR_JSON_MIME[version]} or application/json`
              : `POST _search expects ${FORM_TYPE}`,
          ),
          true,
        );
      }
      const body = await readBody(req, resolved.maxBodyBytes);
      if (route.kind === 'search-post' && type === '' && body.length > 0) {
        return fail(res, new MockEhrError(MOCK_EHR_ERROR.mediaType, `POST _search expects ${FORM_TYPE}`));
      }
      respond(res, api!.run(route, query, body, prefersLenient(req.headers.prefer)));
    } catch (error) {
      fail(res, error, true);
    }
  };

  const server = createServer({ keepAliveTimeout: 5000, requestTimeout: 30_000, headersTimeout: 20_000 }, handle);
  // Malformed requests (bad request line, header overflow …) never reach `handle`: answer and close.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (error.code === 'ECONNRESET' && socket.destroyed)) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const issue = status === 431 ? 'too-long' : 'structure';
    const body = JSON.stringify(
      operationOutcome(issue, status === 431 ? 'request headers too large' : 'malformed HTTP request', {
        code: status === 431 ? MOCK_EHR_ERROR.bodyTooLarge : MOCK_EHR_ERROR.badEncoding,
      }),
    );
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `content-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}${resolved.basePath}`;
  api = createFhirApi(createStore(population, url, resolved.cachePatients), url, {
    software: SOFTWARE,
    oauth: { tokenUrl: `${url}/token`, authorizeUrl: `${url}/authorize` },
    stringSearch: resolved.stringSearch,
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return {
    url,
    fhirVersion: version,
    port: address.port,
    population,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** `_format`: JSON only (the server speaks no XML). */
function checkFormat(query: string): void {
  if (!query.includes('_format=')) return;
  const match = /(?:^|&)_format=([^&]*)/.exec(query);
  if (match === null) return;
  let value: string;
  try {
    value = decodeURIComponent(match[1]!.replaceAll('+', ' ')).toLowerCase();
  } catch {
    value = match[1]!.toLowerCase();
  }
  if (!value.includes('json')) {
    throw new MockEhrError(MOCK_EHR_ERROR.mediaType, 'only JSON formats are supported', { status: 406 });
  }
}

function noop(): void {}
