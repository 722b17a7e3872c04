/**
 * Open the store: a `@clickhouse/client` client over embedded chDB (a data directory) or a ClickHouse server
 * (a URL). The rest of the package only sees the `ClickHouseClient` API, so the same code runs on both.
 * chDB binds one data directory per process: close a store before opening another path.
 *
 * Inserts into a chDB store can also go through {@link rawInsertOf}: chdb's raw insert hands a Buffer to the
 * engine as is, where `client.insert` over the chdb Connection stringifies every row, concatenates the rows
 * into one JS string and prepends `SET …;` statements to it (measured: bench/writer.ts and the README); a
 * Native block goes through a file in the store directory (see nativeInsert).
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import {
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  ClickHouseLogLevel,
  createClient,
  parseError,
} from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { SinkError } from '../errors.ts';
import { registerConcurrentOpener } from './concurrent.ts';

export interface StoreOptions {
  /** chDB data directory (embedded store). Exactly one of `path` and `url`. */
  path?: string;
  /** ClickHouse server URL (`http://host:8123`). */
  url?: string;
  username?: string;
  password?: string;
  /** Database used for unqualified names (default `default`; a chDB store only supports `default`). */
  database?: string;
  /** Per-request timeout against a server (ms, default 30 000). */
  requestTimeoutMs?: number;
}

/**
 * Where a component's store is, as the sink and the console take it: a chDB directory, or a ClickHouse server URL
 * with credentials and database, or an already open client (the caller keeps ownership; it replaces the others).
 */
export interface StoreTarget {
  /** chDB data directory (embedded store; this process must be able to own it: no other process on it). */
  store?: string;
  /** ClickHouse server URL, instead of `store`. */
  clickhouseUrl?: string;
  username?: string;
  password?: string;
  /** Database (default `default`). */
  database?: string;
  /** An already open client (the caller keeps ownership); replaces `store` / `clickhouseUrl`. */
  client?: ClickHouseClient;
}

/** The {@link openStore} options of a {@link StoreTarget} (its `client`, if any, is the caller's to use instead). */
export function storeOptionsOf(target: StoreTarget): StoreOptions {
  return {
    ...(target.store === undefined ? {} : { path: target.store }),
    ...(target.clickhouseUrl === undefined ? {} : { url: target.clickhouseUrl }),
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.database === undefined ? {} : { database: target.database }),
  };
}

/** Settings every sink request relies on (ISO 8601 `event_time` with `Z`, Map columns from JSON objects). */
export const STORE_SETTINGS = {
  date_time_input_format: 'best_effort',
} as const;

/**
 * Formats the raw insert accepts: text formats (line-delimited, so the engine can split them for parallel
 * parsing), or `Native` (one columnar block, the engine's own binary form: what it reads cheapest).
 */
export type RawInsertFormat = 'JSONEachRow' | 'JSONCompactEachRow' | 'Native';

/**
 * `INSERT INTO <table> (<columns>) FORMAT <format>` with `body` as the data, without going through a JS
 * string. Errors are `@clickhouse/client` ClickHouseErrors (`code` = the ClickHouse error code as a string),
 * like the client's own, so callers classify them the same way. `Native` needs `types` (the block's column
 * types, `columns` order).
 */
export type RawInsert = (
  table: string,
  columns: readonly string[],
  format: RawInsertFormat,
  body: Buffer,
  settings?: Readonly<Record<string, string | number>>,
  types?: readonly string[],
) => Promise<void>;

const rawInserts = new WeakMap<ClickHouseClient, RawInsert>();

/** The raw insert of a client opened by {@link openStore} on a chDB store; undefined for a server client. */
export function rawInsertOf(client: ClickHouseClient): RawInsert | undefined {
  return rawInserts.get(client);
}

/** chdb errors (`Code: N. DB::Exception: … (NAME)`) → ClickHouseError; anything else (closed session) as is. */
function storeError(error: unknown): unknown {
  const message = error instanceof Error ? error.message : '';
  if (!/^Code: \d+\./.test(message)) return error;
  const mapped = parseError(message);
  if (mapped !== error) (mapped as Error & { cause?: unknown }).cause = error;
  return mapped;
}

/** Where a chDB store's Native inserts pass through, inside the store directory (PHI stays in the store). */
const NATIVE_INSERT_DIR = 'fhirwatch-native-inserts';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
/** A ClickHouse string literal. */
const literal = (text: string): string => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/**
 * A Native block into a chDB store: chdb's raw insert takes text formats only, and its native entry misreads
 * binary data sent inline (the client side cuts inline INSERT data at the first `;` its SQL lexer sees), so the
 * block goes through a file in the store directory (0600, removed after the insert) and
 * `INSERT … SELECT * FROM file(…, Native, <structure>)` (the structure given: no schema inference pass).
 * Exported for bench/ingest-parts.ts (the same path on its own connection); callers use {@link rawInsertOf}.
 */
export async function nativeInsert(
  chdb: { queryAsync(sql: string): Promise<unknown> },
  file: string,
  table: string,
  columns: readonly string[],
  types: readonly string[] | undefined,
  body: Buffer,
  settings: Readonly<Record<string, string | number>> | undefined,
): Promise<void> {
  if (types === undefined || types.length !== columns.length) {
    throw new SinkError('FW_SINK_OPTIONS', 'a Native insert needs one type per column');
  }
  for (const name of [table, ...columns, ...Object.keys(settings ?? {})]) {
    if (!IDENTIFIER.test(name)) throw new SinkError('FW_SINK_OPTIONS', `not an identifier: ${name.slice(0, 64)}`);
  }
  const structure = columns.map((column, i) => `${column} ${types[i]}`).join(', ');
  const settingsClause = Object.entries(settings ?? {})
    .map(([key, value]) => `${key} = ${typeof value === 'number' ? String(value) : literal(value)}`)
    .join(', ');
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    // inside the try: a write cut short (ENOSPC on a full store disk) leaves no partial file behind either
    await writeFile(file, body, { mode: 0o600, flag: 'wx' });
    await chdb.queryAsync(
      `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM file(${literal(file)}, 'Native', ${literal(structure)})${settingsClause === '' ? '' : ` SETTINGS ${settingsClause}`}`,
    );
  } finally {
    await rm(file, { force: true });
  }
}

/**
 * The store holds PHI: its directory is 0700 (an existing one is tightened) and, since chDB writes its data
 * files from this process, the process umask becomes 0077 so every directory and file chDB creates later
 * (parts, metadata, logs) is 0700 / 0600. (Only the main thread may set the umask; a worker inherits it.)
 */
function ownStoreFiles(path: string): void {
  if (isMainThread) process.umask(0o077);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
}

export function openStore(options: StoreOptions): ClickHouseClient {
  if ((options.path === undefined) === (options.url === undefined)) {
    throw new SinkError('FW_SINK_OPTIONS', 'openStore needs exactly one of `path` (chDB) or `url` (ClickHouse)');
  }
  if (options.path !== undefined) {
    // chDB ignores the client's `database` option, so unqualified names would silently land in `default`
    if (options.database !== undefined && options.database !== 'default') {
      throw new SinkError('FW_SINK_OPTIONS', 'an embedded chDB store uses the `default` database');
    }
    ownStoreFiles(options.path);
    const path = options.path;
    const chdbClient = (connection: ReturnType<typeof createChdbConnection>): ClickHouseClient =>
      createClient({
        // chdb implements @clickhouse/client-common's Connection; the client bundles its own copy of those types
        connection: connection as unknown as ClickHouseClientConfigOptions['connection'],
        ...(options.database === undefined ? {} : { database: options.database }),
        clickhouse_settings: STORE_SETTINGS,
        log: { level: ClickHouseLogLevel.OFF },
      });
    const connection = createChdbConnection({ path });
    const client = chdbClient(connection);
    registerConcurrentOpener(client, () => chdbClient(createChdbConnection({ path })));
    const nativeDir = join(options.path, NATIVE_INSERT_DIR);
    // files of inserts a crashed process left behind (this process owns the store: chDB binds it to one)
    rmSync(nativeDir, { recursive: true, force: true });
    let nativeFiles = 0;
    rawInserts.set(client, async (table, columns, format, body, settings, types) => {
      try {
        // no timeout/signal: chdb would settle early while the write still runs; callers retry as lookup + insert
        if (format === 'Native') {
          const file = join(nativeDir, `${process.pid}-${nativeFiles++}.native`);
          await nativeInsert(connection.chdb, file, table, columns, types, body, settings);
          return;
        }
        await connection.chdb.rawInsert({
          table,
          columns,
          format,
          values: body,
          ...(settings === undefined ? {} : { settings: { ...settings } }),
        });
      } catch (error) {
        throw storeError(error);
      }
    });
    return client;
  }
  return createClient({
    url: options.url,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.database === undefined ? {} : { database: options.database }),
    request_timeout: options.requestTimeoutMs ?? 30_000,
    // the client's own log lines can carry query text; the sink reports store errors itself, PHI-free
    log: { level: ClickHouseLogLevel.OFF },
    clickhouse_settings: STORE_SETTINGS,
  });
}
