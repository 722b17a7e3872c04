/**
 * Concurrent clients of one store. One chDB connection runs its queries one at a time (a second query waits for the
 * first to finish); two connections on one path run side by side on the same engine. {@link openStore} registers how
 * to open another connection for each chDB client it opens. This module imports no engine, so code that also runs in
 * the query API's worker thread (over a proxy client) can use it without loading chDB there.
 */
import type { ClickHouseClient } from '@clickhouse/client';

const openers = new WeakMap<ClickHouseClient, () => ClickHouseClient>();

/** How to open another client on `client`'s store (openStore, for a chDB store). */
export function registerConcurrentOpener(client: ClickHouseClient, open: () => ClickHouseClient): void {
  openers.set(client, open);
}

/**
 * A client whose queries run concurrently with `client`'s, on the same store: for a chDB store another connection,
 * which the caller closes (closing it leaves the store and `client` open). Any other client (a server's, which runs
 * concurrent queries already, or the query API worker's proxy) is returned as is: do not close it.
 */
export function concurrentClientOf(client: ClickHouseClient): ClickHouseClient {
  return openers.get(client)?.() ?? client;
}
