/**
 * The sink keeps an idle keep-alive connection SERVER_KEEP_ALIVE_MS (65 s), not Node's default 5 s. A client
 * reuses its idle socket until its own timer drops it; a client whose event loop was busy (a CLI formatting a
 * large answer, a loaded machine) wrote on a socket the sink had just closed and got ECONNRESET (a clean-clone
 * run: query-api.test's verify right after a 9 s test).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secondRequestAfterIdle } from '@fhirwatch/testkit/keep-alive';
import { afterAll, expect, it } from 'vitest';
import { type SinkServer, startSink } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-sink-keepalive-'));
let sink: SinkServer | undefined;
afterAll(async () => {
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('an idle keep-alive connection is still open after 6 s (Node default: closed after 5 s)', async () => {
  sink = await startSink({ store: join(dir, 'store') });
  expect(await secondRequestAfterIdle(sink.url, '/healthz', 6_000)).toBe('HTTP/1.1 200 OK');
});
