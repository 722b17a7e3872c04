/**
 * The throughput-mode raw HTTP/1.1 client (src/raw-http.ts) against real node:http servers on 127.0.0.1:
 * keep-alive reuse bounded by `connections` (the rest queue), chunked and `Connection: close` answers,
 * UTF-8 request bodies, and every way an answer can fail (silence, a reset mid-answer, close) as status 0.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawAnswer, RawHttpPool, serializeRequest } from '../src/raw-http.ts';

const servers: Server[] = [];
const pools: RawHttpPool[] = [];

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ origin: string; host: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (s: Socket) => sockets.add(s));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, sockets };
}

function pool(origin: string, connections: number, timeoutMs = 5000): RawHttpPool {
  const p = new RawHttpPool(origin, { connections, timeoutMs });
  pools.push(p);
  return p;
}

const send = (p: RawHttpPool, bytes: Buffer): Promise<RawAnswer> => new Promise((resolve) => p.request(bytes, resolve));

afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

describe('raw HTTP client', () => {
  it('keeps at most `connections` sockets alive, queues the rest, and answers each request with its own body', async () => {
    const { origin, host, sockets } = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-path': req.url ?? '' });
      res.end(`answer to ${req.url}`);
    });
    const p = pool(origin, 2);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => send(p, serializeRequest('GET', `/r/${i}`, host, { accept: 'text/plain' }))),
    );
    expect(answers.map((a) => a.status)).toEqual(new Array(20).fill(200));
    expect(answers.map((a) => a.body.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `answer to /r/${i}`));
    expect(answers[7]!.rawHeaders).toContain('/r/7');
    expect(sockets.size).toBe(2);
    // The same bytes again: the sockets are reused.
    const again = await send(p, serializeRequest('GET', '/r/again', host, {}));
    expect(again.status).toBe(200);
    expect(sockets.size).toBe(2);
  });

  it('reads chunked answers, and opens a new socket after `Connection: close`', async () => {
    const { origin, host, sockets } = await serve((req, res) => {
      if (req.url === '/close') {
        res.writeHead(404, { connection: 'close', 'content-length': 4 });
        res.end('gone');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":');
      setImmediate(() => res.end('"é"}'));
    });
    const p = pool(origin, 1);
    const chunked = await send(p, serializeRequest('GET', '/chunked', host, {}));
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body.toString('utf8'))).toEqual({ a: 'é' });
    const closed = await send(p, serializeRequest('GET', '/close', host, {}));
    expect(closed.status).toBe(404);
    expect(closed.body.toString()).toBe('gone');
    const after = await send(p, serializeRequest('GET', '/chunked', host, {}));
    expect(after.status).toBe(200);
    expect(sockets.size).toBe(2);
  });

  it('reads an answer that ends with the connection (no length, no chunking)', async () => {
    const server = createNetServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const answer = await send(
        pool(`http://127.0.0.1:${port}`, 1),
        serializeRequest('GET', '/', `127.0.0.1:${port}`, {}),
      );
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe('until close');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('sends a UTF-8 body with its byte length', async () => {
    const { origin, host } = await serve((req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ length: req.headers['content-length'], body, auth: req.headers.authorization }));
    });
    const p = pool(origin, 1);
    const text = 'family=Müller&_count=10';
    const answer = await send(
      p,
      serializeRequest('POST', '/Patient/_search', host, { authorization: 'Bearer t' }, text),
    );
    expect(JSON.parse(answer.body.toString())).toEqual({
      length: String(Buffer.byteLength(text)),
      body: text,
      auth: 'Bearer t',
    });
  });

  it('refuses a header with CR or LF (no request smuggling through a value)', () => {
    expect(() => serializeRequest('GET', '/', 'h', { 'x-a': 'b\r\nx-b: c' })).toThrow(/CR\/LF/);
  });

  it('answers status 0 on silence past the timeout, a reset mid-answer, a refused connection and close()', async () => {
    const { origin, host } = await serve((req, res) => {
      if (req.url === '/silent') return;
      if (req.url === '/reset') {
        res.writeHead(200, { 'content-length': 100 });
        res.write('partial');
        setImmediate(() => res.socket?.destroy());
        return;
      }
      res.end('ok');
    });
    const p = pool(origin, 2, 300);
    const silent = await send(p, serializeRequest('GET', '/silent', host, {}));
    expect(silent).toMatchObject({ status: 0, error: 'TimeoutError' });
    const reset = await send(p, serializeRequest('GET', '/reset', host, {}));
    expect(reset.status).toBe(0);
    // The pool recovers: new sockets for the next requests.
    expect((await send(p, serializeRequest('GET', '/ok', host, {}))).status).toBe(200);

    // Nothing listens on a port just closed.
    const gone = await serve((_req, res) => res.end());
    const closedPort = gone.origin;
    const last = servers.pop()!;
    await new Promise<void>((resolve) => last.close(() => resolve()));
    const refused = await send(pool(closedPort, 1), serializeRequest('GET', '/', gone.host, {}));
    expect(refused.status).toBe(0);

    // close() answers what is still out or queued.
    const q = pool(origin, 1, 10_000);
    const out = [
      send(q, serializeRequest('GET', '/silent', host, {})),
      send(q, serializeRequest('GET', '/silent', host, {})),
    ];
    await new Promise((r) => setTimeout(r, 50));
    q.close();
    expect((await Promise.all(out)).map((a) => a.status)).toEqual([0, 0]);
  });

  it('sends a request again, once, on a new socket when a reused socket dies before any byte of its answer', async () => {
    // Per connection: the first request is answered (keep-alive); what a connection receives after that is
    // met by `second`: 'drop' closes without a byte (the idle-close race: the server never read it),
    // 'partial' starts an answer and then closes.
    let second: 'drop' | 'partial' = 'drop';
    let connections = 0;
    let requests = 0;
    const server = createNetServer((socket) => {
      connections++;
      let served = 0;
      socket.on('data', () => {
        requests++;
        if (served++ === 0) {
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        } else if (second === 'drop') {
          socket.destroy();
        } else {
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npar');
          setImmediate(() => socket.destroy());
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const host = `127.0.0.1:${port}`;
    try {
      const p = pool(`http://127.0.0.1:${port}`, 1);
      const post = serializeRequest(
        'POST',
        '/',
        host,
        { 'content-type': 'application/json' },
        '{"resourceType":"Bundle"}',
      );
      expect((await send(p, post)).status).toBe(200);
      // reused socket dropped without an answer: sent again on a new socket, answered there
      const again = await send(p, post);
      expect(again.status).toBe(200);
      expect(again.body.toString()).toBe('ok');
      expect([connections, requests]).toEqual([2, 3]);
      // a partial answer is not sent again (the server read it): status 0
      second = 'partial';
      const partial = await send(p, post);
      expect(partial.status).toBe(0);
      expect([connections, requests]).toEqual([2, 4]);
      // a fresh socket that dies is not sent again either
      const fresh = createNetServer((socket) => socket.on('data', () => socket.destroy()));
      await new Promise<void>((resolve) => fresh.listen(0, '127.0.0.1', resolve));
      const freshPort = (fresh.address() as AddressInfo).port;
      let freshConnections = 0;
      fresh.on('connection', () => freshConnections++);
      const dead = await send(
        pool(`http://127.0.0.1:${freshPort}`, 1),
        serializeRequest('GET', '/', `127.0.0.1:${freshPort}`, {}),
      );
      expect(dead.status).toBe(0);
      expect(freshConnections).toBe(1);
      await new Promise<void>((resolve) => fresh.close(() => resolve()));
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
