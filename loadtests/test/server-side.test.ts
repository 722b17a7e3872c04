/**
 * The server-side split per hop: a fhirwatch-instrumented gateway (audit middleware + OpenTelemetry exporting
 * to the real sink on an embedded chDB store) → mock EHR; a short load test; then the hops from otel_traces
 * for the run's window.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SinkServer, startSink } from '@fhirwatch/clickhouse-sink';
import { createGateway, type Gateway } from '@fhirwatch/gateway';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { type FhirAudit, fhirAudit, setupTelemetry, type Telemetry } from '@fhirwatch/otel-middleware';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultSlo, HOP_NAMES, resolveScenario, runLoadtest, serverSideSplit } from '../src/index.ts';

const TENANT = '5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e';
const dir = mkdtempSync(join(tmpdir(), 'fw-loadtest-hops-'));
let sink: SinkServer;
let telemetry: Telemetry;
let audit: FhirAudit;
let ehr: MockEhrServer;
let gateway: Gateway;

beforeAll(async () => {
  sink = await startSink({ store: join(dir, 'store'), flushIntervalMs: 200 });
  telemetry = setupTelemetry({
    endpoint: sink.url,
    serviceName: 'loadtest-gateway',
    scheduledDelayMillis: 200,
    metrics: false,
    logs: false,
  });
  audit = fhirAudit({ spoolDir: join(dir, 'spool'), sinkUrl: sink.url, recordedBy: 'loadtest-gateway' });
  await audit.ready();
  // 20 ms per provider request: the provider hop is visibly part of the gateway's time.
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 30, seed: 3, latency: 20 });
  gateway = await createGateway({
    dataDir: join(dir, 'gateway'),
    rateLimit: false,
    tenants: { [TENANT]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
    wrapHandler: (handler) => audit.wrap(handler),
  });
});
afterAll(async () => {
  await gateway?.close();
  await audit?.shutdown();
  await telemetry?.shutdown();
  await ehr?.close();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('splits the run per hop: gateway, token, provider', async () => {
  const client = await gateway.registry.createClient({ tenants: [TENANT], name: 'hops' });
  const scenario = resolveScenario('smoke', {
    rate: 10,
    durationS: 2,
    mix: { token: 1, search: 2, 'list-refresh': 2 },
  });
  const report = await runLoadtest({
    target: {
      baseUrl: `${gateway.url}/${TENANT}`,
      fhirVersion: 'STU3',
      tenantId: TENANT,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
    },
    scenario,
    slo: defaultSlo(5),
  });
  expect(report.totals.failures).toBe(0);
  await telemetry.forceFlush();
  await sink.telemetry.flush();
  const hops = await serverSideSplit(
    sink.client,
    new Date(report.startedAt),
    new Date(Date.parse(report.finishedAt) + 1000),
    TENANT,
  );
  const by = new Map(hops.map((h) => [h.hop, h]));
  expect([...by.keys()].sort()).toEqual([HOP_NAMES.gateway, HOP_NAMES.provider, HOP_NAMES.token].sort());
  const gatewayHop = by.get(HOP_NAMES.gateway)!;
  const provider = by.get(HOP_NAMES.provider)!;
  // Every search and batch of the run went through the gateway to the provider once (the setup's requests
  // happen before the run's window starts).
  const fhirCalls =
    (report.ops.find((o) => o.tag === 'search')?.requests ?? 0) +
    (report.ops.find((o) => o.tag === 'list-refresh')?.requests ?? 0);
  expect(gatewayHop.spans).toBe(fhirCalls);
  expect(provider.spans).toBe(fhirCalls);
  expect(by.get(HOP_NAMES.token)!.spans).toBe(report.ops.find((o) => o.tag === 'token')?.requests);
  expect(provider.p50Ms).toBeGreaterThanOrEqual(20);
  expect(gatewayHop.p50Ms).toBeGreaterThanOrEqual(provider.p50Ms);
});
