/**
 * The embedded store's own file system fills up (a real small tmpfs): audit records sent meanwhile are answered
 * 503 + Retry-After (the shipper keeps them), never 200 and never 400, and nothing is half-written; once space is
 * back the same batches are stored exactly once. Walks the Native insert path (its block goes through a file in
 * the store directory before the engine reads it) and the engine's own part writes.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import { mountSmallTmpfs } from '@fhirwatch/testkit/tmpfs';
import { afterAll, describe, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';
import { generateRecords } from './records.ts';

const tmp = mountSmallTmpfs('48m');
let sink: SinkServer | undefined;
afterAll(async () => {
  await sink?.close();
  tmp.close();
});

const ndjson = (records: readonly AuditRecord[]): string => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;

async function post(records: readonly AuditRecord[]): Promise<{ status: number; retryAfter: string | null }> {
  const res = await fetch(`${sink!.url}/v1/audit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: ndjson(records),
  });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

async function count(query: string): Promise<number> {
  const rows = await (await sink!.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(rows[0]?.n);
}

describe('the store disk fills up', () => {
  it('audit answers 503 while full (no record acknowledged, no leftover insert file), stores every record once after', async () => {
    const store = join(tmp.dir, 'store');
    sink = await startSink({ store, probeIntervalMs: 50, flushIntervalMs: 20, retry: { attempts: 2, minDelayMs: 5 } });
    expect((await post(generateRecords({ count: 100, offset: 0 }))).status).toBe(200);

    const free = tmp.fill();
    const batches = Array.from({ length: 3 }, (_, b) => generateRecords({ count: 200, offset: 100 + b * 200 }));
    for (const batch of batches) {
      const answer = await post(batch);
      expect(answer.status).toBe(503);
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    }
    const leftovers = readdirSync(store).includes('fhirwatch-native-inserts')
      ? readdirSync(join(store, 'fhirwatch-native-inserts'))
      : [];
    expect(leftovers).toEqual([]);

    free();
    // the shipper's retry: the same batches again until acknowledged (the store monitor sees the space come back)
    for (const batch of batches) {
      let status = 0;
      for (let attempt = 0; attempt < 400 && status !== 200; attempt++) {
        status = (await post(batch)).status;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(200);
    }
    expect(await count('SELECT count() AS n FROM audit_events')).toBe(700);
    expect(await count('SELECT uniqExact(event_id) AS n FROM audit_events')).toBe(700);
  });
});
