/**
 * The child process of clickhouse-http.ts: a ClickHouse HTTP interface (the subset @clickhouse/client uses) on
 * 127.0.0.1, answered by a chDB session on one store directory. Prints its URL on stdout, then serves until
 * SIGTERM. Usage: node clickhouse-http-child.ts <store dir>
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createChdbConnection } from 'chdb/connection';

const dir = process.argv[2];
if (dir === undefined || dir === '') {
  process.stderr.write('usage: clickhouse-http-child.ts <store dir>\n');
  process.exit(2);
}
const connection = createChdbConnection({ path: dir });

/** URL parameters that are not settings. */
const NOT_SETTINGS = new Set(['query', 'query_id', 'database', 'session_id', 'session_timeout', 'user', 'password']);

/** A ClickHouse string literal. */
function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (url.pathname === '/ping') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('Ok.\n');
    return;
  }
  if (url.pathname !== '/') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Code: 0. DB::Exception: unknown path. (NOT_FOUND)\n');
    return;
  }
  const queryId = url.searchParams.get('query_id') ?? randomUUID();
  const database = url.searchParams.get('database');
  const text = await body(req);
  const inUrl = url.searchParams.get('query');
  const settings: Record<string, string> = {};
  const params: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (name.startsWith('param_')) params[name.slice('param_'.length)] = value;
    else if (!NOT_SETTINGS.has(name)) settings[name] = value;
  }
  try {
    if (database !== null && database !== 'default') {
      throw new Error(
        `Code: 81. DB::Exception: Database ${database} does not exist: chDB has 'default' only. (UNKNOWN_DATABASE)`,
      );
    }
    // Query parameters arrive as ClickHouse text (`['a','b\\'c']`), as a server takes them: bound as the
    // session's `param_<name>` settings, so the engine parses each by its declared type like a server does.
    for (const [name, value] of Object.entries(params)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new Error(`Code: 36. DB::Exception: bad parameter name. (BAD_ARGUMENTS)`);
      await connection.command({ query: `SET param_${name} = ${quote(value)}` } as Parameters<
        typeof connection.command
      >[0]);
    }
    // With the query in the URL the body is its data (an INSERT's rows); else the body is the query.
    const query = inUrl ?? text;
    const result = await connection.exec({
      query,
      clickhouse_settings: settings,
      ...(inUrl !== null && text !== '' ? { values: Readable.from([text]) } : {}),
    } as Parameters<typeof connection.exec>[0]);
    const chunks: Buffer[] = [];
    for await (const chunk of result.stream) chunks.push(Buffer.from(chunk as Buffer));
    const out = Buffer.concat(chunks);
    res.writeHead(200, {
      'content-type': 'text/plain; charset=UTF-8',
      'content-length': out.length,
      'x-clickhouse-query-id': queryId,
      'x-clickhouse-summary': '{"read_rows":"0","read_bytes":"0","written_rows":"0","written_bytes":"0"}',
    });
    res.end(out);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = /Code: (\d+)/.exec(message)?.[1] ?? '1';
    const text = /Code: \d+\. DB::Exception/.test(message)
      ? message
      : `Code: ${code}. DB::Exception: ${message}. (UNKNOWN_EXCEPTION)`;
    res.writeHead(500, {
      'content-type': 'text/plain; charset=UTF-8',
      'x-clickhouse-exception-code': code,
      'x-clickhouse-query-id': queryId,
    });
    res.end(`${text}\n`);
  }
}

// One query at a time: a chDB session runs one statement at a time, as a single-threaded server would queue them.
let queue: Promise<void> = Promise.resolve();
// ClickHouse takes URIs up to 1 MiB (http_max_uri_size): query parameters (a list of ids) travel in the URL.
const server = createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
  queue = queue.then(() =>
    answer(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end('Code: 1. DB::Exception: internal. (UNKNOWN_EXCEPTION)\n');
    }),
  );
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void connection.close().finally(() => process.exit(0));
});
