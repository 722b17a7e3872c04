/**
 * Open the store: a `@clickhouse/client` client over embedded chDB (a data directory) or a ClickHouse server
 * (a URL). The rest of the package only sees the `ClickHouseClient` API, so the same code runs on both.
 * chDB binds one data directory per process: close a store before opening another path.
 */
import { mkdirSync } from 'node:fs';
import {
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  ClickHouseLogLevel,
  createClient,
} from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { SinkError } from './errors.ts';

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

/** Settings every sink request relies on (ISO 8601 `event_time` with `Z`, Map columns from JSON objects). */
export const STORE_SETTINGS = {
  date_time_input_format: 'best_effort',
} as const;

export function openStore(options: StoreOptions): ClickHouseClient {
  if ((options.path === undefined) === (options.url === undefined)) {
    throw new SinkError('FW_SINK_OPTIONS', 'openStore needs exactly one of `path` (chDB) or `url` (ClickHouse)');
  }
  if (options.path !== undefined) {
    // chDB ignores the client's `database` option, so unqualified names would silently land in `default`
    if (options.database !== undefined && options.database !== 'default') {
      throw new SinkError('FW_SINK_OPTIONS', 'an embedded chDB store uses the `default` database');
    }
    mkdirSync(options.path, { recursive: true });
    return createClient({
      // chdb implements @clickhouse/client-common's Connection; the client bundles its own copy of those types
      connection: createChdbConnection({
        path: options.path,
      }) as unknown as ClickHouseClientConfigOptions['connection'],
      ...(options.database === undefined ? {} : { database: options.database }),
      clickhouse_settings: STORE_SETTINGS,
      log: { level: ClickHouseLogLevel.OFF },
    });
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
