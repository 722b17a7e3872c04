/**
 * `concurrentClientOf`: a chDB connection runs its queries one at a time, so `audit verify` runs level 2 on a second
 * connection to the same store. Checked on a real chDB store: the second client sees the same data, its query
 * finishes while a slow query holds the first connection (on the first connection itself it waits behind it),
 * closing it leaves the store open; a server client is returned as is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.ts';
import { concurrentClientOf } from '../src/store/concurrent.ts';

let dir: string;
let client: ClickHouseClient;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-concurrent-'));
  client = openStore({ path: dir });
  await client.command({ query: 'CREATE TABLE t (n UInt32) ENGINE = MergeTree ORDER BY n' });
  await client.command({ query: 'INSERT INTO t SELECT number FROM numbers(10)' });
});
afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

const count = async (c: ClickHouseClient): Promise<number> => {
  const result = await c.query({ query: 'SELECT count() AS n FROM t', format: 'JSONEachRow' });
  return Number(((await result.json()) as { n: number | string }[])[0]?.n);
};
/** The order in which a slow query (4 × 0.4 s of sleep) on `slow` and a count on `quick`, started after it, finish. */
const finishOrder = async (slow: ClickHouseClient, quick: ClickHouseClient): Promise<string[]> => {
  const order: string[] = [];
  const sleeping = slow
    .query({ query: 'SELECT sleepEachRow(0.4) FROM numbers(4) SETTINGS max_block_size = 1', format: 'JSONEachRow' })
    .then((r) => r.json())
    .then(() => order.push('slow'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const counting = count(quick).then(() => order.push('quick'));
  await Promise.all([sleeping, counting]);
  return order;
};

describe('concurrentClientOf', () => {
  it('opens a second chDB connection on the same store whose queries do not wait for the first one’s', async () => {
    const other = concurrentClientOf(client);
    expect(other).not.toBe(client);
    try {
      expect(await count(other)).toBe(10);
      await client.command({ query: 'INSERT INTO t SELECT number FROM numbers(10, 5)' });
      expect(await count(other)).toBe(15);
      expect(await finishOrder(client, client)).toEqual(['slow', 'quick']);
      expect(await finishOrder(client, other)).toEqual(['quick', 'slow']);
    } finally {
      await other.close();
    }
    expect(await count(client)).toBe(15);
  });

  it('returns a server client itself (it runs concurrent queries already)', async () => {
    const server = openStore({ url: 'http://127.0.0.1:9' });
    try {
      expect(concurrentClientOf(server)).toBe(server);
    } finally {
      await server.close();
    }
  });
});
