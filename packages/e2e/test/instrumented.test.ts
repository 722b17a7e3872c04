/**
 * `startInstrumentedGateway` in-process, against a real HTTP receiver of the sink protocol: the user
 * identity source decides `user_id` (a token claim or nothing; a client's header is never trusted
 * then), `close()` drains the spool before it resolves, and with the sink down it returns within
 * `drainTimeoutMs`, leaving the records spooled for the next start.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseGatewayConfig, startInstrumentedGateway } from '@fhirwatch/gateway';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './receiver.ts';
import { fetchToken, tempDir } from './stack.ts';

const TENANT = '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f';
const dir = tempDir('instrumented');
let ehr: MockEhrServer;
let receiver: Receiver;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 10, seed: 8 });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await ehr?.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, audit: Record<string, unknown>) {
  return parseGatewayConfig({
    dataDir: join(dir, name),
    rateLimit: false,
    tenants: { [TENANT]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
    audit: { recordedBy: `instrumented-${name}`, shipIntervalMs: 30, flushIntervalMs: 5, ...audit },
  });
}

async function readAs(url: string, token: string, patientId: string): Promise<void> {
  const res = await fetch(`${url}/Patient/${patientId}`, {
    headers: { authorization: `Bearer ${token}`, 'x-fhirwatch-user-id': 'spoofed-by-client' },
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

describe('startInstrumentedGateway', () => {
  it.each([
    ['claim', 'claim:client_id'],
    ['none', 'none'],
  ])(
    'user identity %s: user_id from the token claim or empty, never the client header; close() drains first',
    async (name, userIdentity) => {
      const running = await startInstrumentedGateway(config(name, { sinkUrl: receiver.url, userIdentity }));
      const client = await running.gateway.registry.createClient({ tenants: [TENANT] });
      const token = await fetchToken(running.url, client.clientId, client.clientSecret, TENANT);
      const patientId = ehr.population.patients[1]!.id;
      await readAs(running.url, token, patientId);
      await running.close();
      // Drained by close(): no waiting here.
      const records = receiver.records.filter((r) => r.recorded_by === `instrumented-${name}`);
      expect(records.map((r) => [r.event_type, r.patient_id])).toEqual([['PatientView', patientId]]);
      expect(records[0]?.user_id).toBe(name === 'claim' ? client.clientId : '');
    },
  );

  it('with the sink down, close() returns within drainTimeoutMs and the next start ships what was spooled', async () => {
    const spoolDir = join(dir, 'down', 'spool');
    const settings = { sinkUrl: receiver.url, spoolDir, drainTimeoutMs: 300, minBackoffMs: 20, maxBackoffMs: 100 };
    receiver.failNext(1_000_000, 503);
    const first = await startInstrumentedGateway(config('down', settings));
    const client = await first.gateway.registry.createClient({ tenants: [TENANT] });
    const token = await fetchToken(first.url, client.clientId, client.clientSecret, TENANT);
    await readAs(first.url, token, ehr.population.patients[2]!.id);
    await first.audit?.flush();
    // The sink refuses every batch, yet close() resolves (bounded by drainTimeoutMs; without the
    // bound it would wait for a drain that never comes and the test would time out).
    await first.close();
    expect(readdirSync(spoolDir).some((f) => f.startsWith('seg-'))).toBe(true);
    expect(receiver.records.some((r) => r.recorded_by === 'instrumented-down')).toBe(false);

    receiver.failNext(0, 503);
    const second = await startInstrumentedGateway(config('down', settings));
    await receiver.waitFor((records) => records.some((r) => r.recorded_by === 'instrumented-down'));
    await second.close();
    const shipped = receiver.records.filter((r) => r.recorded_by === 'instrumented-down');
    expect(shipped.map((r) => r.patient_id)).toEqual([ehr.population.patients[2]!.id]);
  });
});
