/**
 * A writer credential end to end (issue 15, defect 5): a real sink with writer credentials, and the instrumented
 * gateway shipping its audit records through the middleware's shipper. With its credential (FHIRWATCH_INGEST_TOKEN
 * in `fhirwatch gateway`, `audit.ingestToken` here) the records arrive under its writer name; a gateway without
 * it is refused (401) and keeps its records spooled: nothing is lost, nothing is planted.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type SinkServer, startSink } from '@fhirwatch/clickhouse-sink';
import { parseGatewayConfig, startInstrumentedGateway } from '@fhirwatch/gateway';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchToken, tempDir } from './stack.ts';

const TENANT = '3d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f7a';
const WRITER_TOKEN = 'gw-e2e-writer-token-0001';
const dir = tempDir('ingest-credential');
let ehr: MockEhrServer;
let sink: SinkServer;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 10, seed: 15 });
  sink = await startSink({ store: join(dir, 'store'), ingestTokens: [{ name: 'gw-e2e', token: WRITER_TOKEN }] });
}, 120_000);

afterAll(async () => {
  await sink?.close();
  await ehr?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function recordsOf(writer: string): Promise<number> {
  await sink.audit.flush();
  const result = await sink.client.query({
    query: 'SELECT count() AS n FROM audit_requests WHERE recorded_by = {writer:String}',
    query_params: { writer },
    format: 'JSONEachRow',
  });
  return Number(((await result.json()) as { n: string }[])[0]?.n);
}

async function runGateway(name: string, ingestToken: string | undefined): Promise<string> {
  const config = parseGatewayConfig({
    dataDir: join(dir, name),
    rateLimit: false,
    tenants: { [TENANT]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
    audit: { sinkUrl: sink.url, recordedBy: 'gw-e2e', shipIntervalMs: 30, flushIntervalMs: 5, drainTimeoutMs: 2000 },
  });
  if (config.audit !== false && ingestToken !== undefined) config.audit.ingestToken = ingestToken;
  const running = await startInstrumentedGateway(config);
  const client = await running.gateway.registry.createClient({ tenants: [TENANT] });
  const token = await fetchToken(running.url, client.clientId, client.clientSecret, TENANT);
  const res = await fetch(`${running.url}/Patient/${ehr.population.patients[0]!.id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  await running.close();
  return config.audit === false ? '' : config.audit.spoolDir;
}

describe('ingest with a writer credential', () => {
  it('without it the sink refuses the batch and the gateway keeps the records spooled', async () => {
    const spoolDir = await runGateway('no-credential', undefined);
    expect(await recordsOf('gw-e2e')).toBe(0);
    const kept = readdirSync(spoolDir).filter((file) => file.startsWith('seg-'));
    expect(kept.length).toBeGreaterThan(0);
  }, 120_000);

  it('with it the records arrive under the writer name', async () => {
    await runGateway('with-credential', WRITER_TOKEN);
    expect(await recordsOf('gw-e2e')).toBeGreaterThan(0);
  }, 120_000);
});
