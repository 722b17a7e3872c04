/**
 * The throughput-mode HTTP/1.1 client: keep-alive sockets to one plain-HTTP origin, each request written as
 * one prebuilt Buffer (request line, headers and body serialized once; a read's bytes are reused for every
 * read of the same patient under the same token), answers parsed by http-parser-js (the parser autocannon
 * uses: content-length, chunked, `Connection: close`) straight from each read (`onread`: one read buffer
 * per connection, no Readable stream or `data` event). No per-request dispatcher objects: what a request
 * costs is the write, the parse and one callback. The undici pool stays the client of the full-check mode,
 * the setup and the conformance tool.
 *
 * At most `connections` sockets; a request that finds every socket busy waits in a FIFO queue. A socket
 * error, a close before the answer completes or no byte for `timeoutMs` while a request is out answers
 * status 0 (never throws), as the undici path does.
 *
 * One exception, as browsers do it: a request written on a reused keep-alive socket that closes or fails
 * before any byte of its answer arrived is sent again once, on a new socket. That is the race of a server
 * closing an idle connection while our request is on its way (the server never read it); a fresh socket,
 * a partial answer, a timeout or a second failure still answer status 0.
 */
import { Socket } from 'node:net';
import { HTTPParser } from 'http-parser-js';

export interface RawAnswer {
  status: number;
  body: Buffer;
  /** Header names and values alternating, as received. */
  rawHeaders: readonly string[];
  /** Why status is 0 (error name), else undefined. */
  error?: string;
}

type Done = (answer: RawAnswer) => void;

const EMPTY = Buffer.alloc(0);
/** Bytes per socket read (an answer larger than this arrives in several reads). */
const READ_BUFFER_BYTES = 64 * 1024;
const NO_HEADERS: readonly string[] = [];

class Connection {
  readonly #pool: RawHttpPool;
  readonly socket: Socket;
  readonly #parser = new HTTPParser(HTTPParser.RESPONSE);
  #done: Done | undefined;
  /** The request out on this connection (sent again once if a reused socket dies before answering). */
  #bytes: Buffer = EMPTY;
  #retried = false;
  /** Answers completed on this socket (0: fresh). */
  #served = 0;
  /** A byte of the current answer arrived. */
  #answering = false;
  #status = 0;
  #headers: readonly string[] = NO_HEADERS;
  #chunks: Buffer[] = [];
  #keepAlive = true;
  #closed = false;

  constructor(pool: RawHttpPool, host: string, port: number, timeoutMs: number) {
    this.#pool = pool;
    const parser = this.#parser;
    parser[HTTPParser.kOnHeadersComplete] = (info) => {
      this.#status = info.statusCode;
      this.#headers = info.headers;
      this.#keepAlive = info.shouldKeepAlive;
    };
    parser[HTTPParser.kOnBody] = (chunk, offset, length) => {
      // The parser hands out views of the read buffer, which the next read reuses: copy them out.
      this.#chunks.push(Buffer.from(chunk.subarray(offset, offset + length)));
    };
    parser[HTTPParser.kOnMessageComplete] = () => this.#complete();
    // Reads land in one buffer per connection and go straight to the parser (`onread`: no Readable
    // stream, no 'data' event, no Buffer per read).
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const socket = new Socket({
      onread: {
        buffer: readBuffer,
        callback: (nread: number, buf: Uint8Array): boolean => {
          if (nread > 0) this.#answering = true;
          const result = parser.execute(buf as Buffer, 0, nread);
          if (result instanceof Error) this.#fail('ParseError');
          return true;
        },
      },
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(timeoutMs);
    socket.on('timeout', () => {
      if (this.#done !== undefined) this.#fail('TimeoutError');
    });
    socket.on('error', (error: Error) => this.#fail(error.name));
    socket.on('close', () => {
      // An answer without length or chunking ends with the connection: the parser completes it at EOF.
      if (this.#done !== undefined && !this.#closed) parser.finish();
      this.#fail('SocketClosed');
    });
    socket.connect(port, host);
  }

  send(bytes: Buffer, done: Done, retried = false): void {
    this.#done = done;
    this.#bytes = bytes;
    this.#retried = retried;
    this.#answering = false;
    this.#status = 0;
    this.#headers = NO_HEADERS;
    this.#chunks = [];
    this.socket.write(bytes);
  }

  #complete(): void {
    const done = this.#done;
    if (done === undefined) return;
    this.#done = undefined;
    const chunks = this.#chunks;
    const body = chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
    this.#chunks = [];
    const keep = this.#keepAlive;
    this.#served++;
    this.#bytes = EMPTY;
    if (!keep) this.#destroy();
    done({ status: this.#status, body, rawHeaders: this.#headers });
    if (keep) this.#pool.release(this);
  }

  #fail(reason: string): void {
    const done = this.#done;
    this.#done = undefined;
    const resend =
      done !== undefined &&
      this.#served > 0 &&
      !this.#answering &&
      !this.#retried &&
      reason !== 'TimeoutError' &&
      reason !== 'ParseError';
    const bytes = this.#bytes;
    this.#bytes = EMPTY;
    // the socket's slot goes to the request sent again (before any queued one: it was sent first)
    this.#destroy(resend ? { bytes, done } : undefined);
    if (done !== undefined && !resend) done({ status: 0, body: EMPTY, rawHeaders: NO_HEADERS, error: reason });
  }

  #destroy(resend?: { bytes: Buffer; done: Done }): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.destroy();
    this.#pool.forget(this, resend);
  }

  get closed(): boolean {
    return this.#closed;
  }
}

export class RawHttpPool {
  readonly #host: string;
  readonly #port: number;
  readonly #connections: number;
  readonly #timeoutMs: number;
  readonly #all = new Set<Connection>();
  readonly #idle: Connection[] = [];
  readonly #queue: { bytes: Buffer; done: Done }[] = [];
  #queueHead = 0;
  #closed = false;

  /** `origin`: an `http:` origin (the caller keeps https on undici). */
  constructor(origin: string, options: { connections: number; timeoutMs: number }) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new Error(`raw client: http only, not ${url.protocol}`);
    this.#host = url.hostname.replace(/^\[|\]$/g, '');
    this.#port = url.port === '' ? 80 : Number(url.port);
    this.#connections = Math.max(1, options.connections);
    this.#timeoutMs = options.timeoutMs;
  }

  /** Send one prebuilt request; the answer (or status 0) comes to `done`. */
  request(bytes: Buffer, done: Done): void {
    if (this.#closed) {
      done({ status: 0, body: EMPTY, rawHeaders: NO_HEADERS, error: 'ClientClosed' });
      return;
    }
    let connection = this.#idle.pop();
    while (connection?.closed === true) connection = this.#idle.pop();
    if (connection === undefined && this.#all.size < this.#connections) {
      connection = new Connection(this, this.#host, this.#port, this.#timeoutMs);
      this.#all.add(connection);
    }
    if (connection === undefined) this.#queue.push({ bytes, done });
    else connection.send(bytes, done);
  }

  /** A connection finished its answer and may take the next request. */
  release(connection: Connection): void {
    if (this.#queueHead < this.#queue.length) {
      const next = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = undefined as never;
      if (this.#queueHead === this.#queue.length) {
        this.#queue.length = 0;
        this.#queueHead = 0;
      }
      connection.send(next.bytes, next.done);
      return;
    }
    this.#idle.push(connection);
  }

  /**
   * A connection closed: a request to send again (its reused socket died before answering) gets a new socket,
   * once; else a queued request gets one.
   */
  forget(connection: Connection, resend?: { bytes: Buffer; done: Done }): void {
    this.#all.delete(connection);
    if (resend !== undefined) {
      if (this.#closed) {
        resend.done({ status: 0, body: EMPTY, rawHeaders: NO_HEADERS, error: 'ClientClosed' });
        return;
      }
      const fresh = new Connection(this, this.#host, this.#port, this.#timeoutMs);
      this.#all.add(fresh);
      fresh.send(resend.bytes, resend.done, true);
      return;
    }
    if (this.#closed || this.#queueHead >= this.#queue.length) return;
    const next = this.#queue[this.#queueHead]!;
    this.#queue[this.#queueHead++] = undefined as never;
    this.request(next.bytes, next.done);
  }

  close(): void {
    this.#closed = true;
    for (const c of [...this.#all]) c.socket.destroy();
    this.#idle.length = 0;
    const pending = this.#queue.slice(this.#queueHead);
    this.#queue.length = 0;
    this.#queueHead = 0;
    for (const p of pending) p.done({ status: 0, body: EMPTY, rawHeaders: NO_HEADERS, error: 'ClientClosed' });
  }
}

/**
 * The bytes of one HTTP/1.1 request: request line, `host`, the given headers (lower-case names, values
 * without CR/LF), `content-length` when there is a body, then the body. One Buffer, written with one call.
 */
export function serializeRequest(
  method: string,
  path: string,
  host: string,
  headers: Record<string, string>,
  body?: string,
): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const name in headers) {
    const value = headers[name]!;
    if (/[\r\n]/.test(value) || /[\r\n:]/.test(name)) throw new Error(`header ${name}: CR/LF not allowed`);
    head += `${name}: ${value}\r\n`;
  }
  if (body === undefined) return Buffer.from(`${head}\r\n`, 'latin1');
  const bodyLength = Buffer.byteLength(body);
  const out = Buffer.allocUnsafe(Buffer.byteLength(head, 'latin1') + 40 + bodyLength);
  let n = out.write(`${head}content-length: ${bodyLength}\r\n\r\n`, 0, 'latin1');
  n += out.write(body, n, 'utf8');
  return out.subarray(0, n);
}
