/**
 * Gateway + middleware → the real ClickHouse sink (embedded chDB) over `/v1/audit`, with the sink
 * unreachable for a while first: nothing is lost, the spool drains once the sink is up, and the store
 * holds each record once (dedup view) with the right patients per request.
 */
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type SinkServer, startSink } from '@fhirwatch/clickhouse-sink';
import { AUDIT_DEDUP_VIEW } from '@fhirwatch/clickhouse-sink/store';
import { listRefreshBundle } from '@fhirwatch/contract';
import { AUDIT_ERROR_CODES } from '@fhirwatch/otel-middleware';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack, tempDir } from './stack.ts';

let stack: Stack;
let sink: SinkServer | undefined;
let port: number;
const storeDir = tempDir('sink');
let failures = 0;
let onTwoFailures: () => void = () => {};
const twoFailures = new Promise<void>((resolve) => {
  onTwoFailures = resolve;
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const p = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return p;
}

beforeAll(async () => {
  port = await freePort();
  stack = await startStack({
    sinkUrl: `http://127.0.0.1:${port}`,
    shipIntervalMs: 50,
    minBackoffMs: 20,
    maxBackoffMs: 250,
    onError: (e) => {
      if (e.code === AUDIT_ERROR_CODES.sinkUnavailable && ++failures === 2) onTwoFailures();
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await sink?.close();
  rmSync(storeDir, { recursive: true, force: true });
});

async function traffic(tag: string): Promise<Map<string, string[]>> {
  const expected = new Map<string, string[]>();
  const patients = stack.ehr.STU3.population.patients;
  for (let i = 0; i < 4; i++) {
    const id = (patients[i * 3] as { id: string }).id;
    const ua = `${tag}-read-${i}`;
    const res = await fetch(`${stack.base('STU3')}/Patient/${id}`, {
      headers: { authorization: `Bearer ${stack.token.STU3}`, 'user-agent': ua },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expected.set(ua, [id]);
  }
  const ua = `${tag}-batch`;
  const ids = [1, 2].map((i) => (patients[i] as { id: string }).id);
  const res = await fetch(`${stack.base('STU3')}/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.token.STU3}`, 'user-agent': ua, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(listRefreshBundle('STU3', ids)),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  expected.set(
    ua,
    ids.flatMap((p) => Array.from({ length: 8 }, () => p)),
  ); // 7 entries + 1 PatientListView each
  return expected;
}

describe('durable export to the real sink', () => {
  it('keeps records while the sink is unreachable, drains into the store once it is up, each record once', async () => {
    const before = await traffic('down');
    await stack.audit.flush();
    await twoFailures; // the shipper tried the missing sink and kept the records
    expect(stack.audit.stats().shipper?.shippedRecords).toBe(0);

    sink = await startSink({ store: join(storeDir, 'store'), port });
    const after = await traffic('up');
    await stack.audit.drain();

    // one request record per HTTP request (4 reads + 1 batch, twice) expanding to 2 × (4 + 16) rows
    expect(stack.audit.stats().spool?.written).toBe(2 * (4 + 1));
    const written = 2 * (4 + 16);
    const rows = await (
      await sink.client.query({
        query: `SELECT event_id, user_agent, patient_id, event_type FROM ${AUDIT_DEDUP_VIEW} WHERE recorded_by = 'e2e-gateway'`,
        format: 'JSONEachRow',
      })
    ).json<{ event_id: string; user_agent: string; patient_id: string; event_type: string }>();
    expect(rows).toHaveLength(written);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(written);
    for (const [ua, patients] of [...before, ...after]) {
      const got = rows.filter((r) => r.user_agent === ua).map((r) => r.patient_id);
      expect(got.sort()).toEqual([...patients].sort());
    }
    expect(stack.audit.stats().spool?.segments).toBe(0);
  });
});
