/**
 * A test-only ClickHouse HTTP server: the subset of ClickHouse's HTTP interface that @clickhouse/client uses
 * (`POST /?query_id&default_format&<settings>&param_<name>`, the query or an INSERT's rows in the body, `GET
 * /ping`, errors as `Code: N. DB::Exception: …` with status 500), answered by a real ClickHouse engine: chDB
 * (libchdb 26) in a child process that owns one store directory. No ClickHouse server of a current version
 * exists on this machine (Debian's is 18.16), so this is what lets a test drive `--clickhouse-url` end to end:
 * the CLI's and the sink's URL path, @clickhouse/client over HTTP (its framing, query parameters as text,
 * settings in the URL, INSERT bodies), and our schema and SQL on the ClickHouse 26 engine.
 *
 * What it does NOT prove: anything of a server's own: users, passwords and grants (it ignores credentials),
 * `database` other than `default`, sessions, HTTP compression, progress headers and real `X-ClickHouse-Summary`
 * counts, concurrent queries (it runs one statement at a time), server settings and profiles, clusters
 * (`ON CLUSTER`, Distributed tables, ZooKeeper/Keeper) and error codes: chDB's messages carry no `Code: N`, so
 * every error is code 1 / UNKNOWN_EXCEPTION with the engine's message (our callers match the message too).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ClickHouseHttp {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Stop the child (SIGTERM: the chDB session is closed, the store released). */
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./clickhouse-http-child.ts', import.meta.url));

/** Start the server on `dir` (created if missing); this child owns the directory until `close()`. */
export async function startClickHouseHttp(options: { dir: string }): Promise<ClickHouseHttp> {
  const child: ChildProcess = spawn(process.execPath, [CHILD, options.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the ClickHouse HTTP child did not start in 60 s:\n${stderr}`)),
      60_000,
    );
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ClickHouse HTTP child exited (${code}):\n${stderr}`));
    });
  });
  let closed: Promise<void> | undefined;
  return {
    url,
    close() {
      closed ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      return closed;
    },
  };
}
