/**
 * The node:http wrapper end to end against a real FHIR-ish handler and a real receiver standing in
 * for the sink: records per (access, patient), batch records, failures, spans and metrics.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/chain.ts';
import { fhirAudit } from '../src/middleware.ts';
import { fhirHandler, listen, PATIENTS } from './fhir-handler.ts';
import { type Receiver, startReceiver } from './receiver.ts';

const KEY = 'test-hmac-key';
let dir: string;
let receiver: Receiver;
let server: Awaited<ReturnType<typeof listen>>;
let audit: ReturnType<typeof fhirAudit>;
const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const meterProvider = new MeterProvider({ readers: [reader] });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fw-mw-'));
  receiver = await startReceiver();
  audit = fhirAudit({
    spoolDir: dir,
    sinkUrl: receiver.url,
    recordedBy: 'gw-test',
    hmacKey: KEY,
    shipIntervalMs: 50,
    flushIntervalMs: 5,
    tracerProvider,
    meterProvider,
    trustedUserHeaders: true,
  });
  await audit.ready();
  server = await listen(audit.wrap(fhirHandler({ chunks: 3 })));
});

afterAll(async () => {
  await server?.close();
  await audit?.shutdown();
  await receiver?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Send a request, then wait until the sink holds every record produced so far. */
async function call(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown; records: AuditRecord[] }> {
  const before = receiver.records.length;
  const res = await fetch(`${server.url}${path}`, init);
  const body = (await res.json()) as unknown;
  await audit.drain();
  return { status: res.status, body, records: receiver.records.slice(before) };
}

describe('fhirAudit().wrap on a node:http FHIR handler', () => {
  it('a Patient search returning 7 patients yields 7 PatientSearch records, one per patient', async () => {
    const { status, body, records } = await call('/Patient?family:contains=Zorvath&_count=50', {
      headers: { 'user-agent': 'patients-app/1.0', 'x-fhirwatch-user-id': 'u-42', 'x-fhirwatch-user-name': 'Dr Who' },
    });
    expect(status).toBe(200);
    expect((body as { entry: unknown[] }).entry).toHaveLength(7);
    expect(records).toHaveLength(7);
    expect(new Set(records.map((r) => r.patient_id))).toEqual(new Set(PATIENTS.slice(0, 7).map((p) => p.id)));
    for (const r of records) {
      expect(r.event_type).toBe('PatientSearch');
      expect(r.fhir_interaction).toBe('search-type');
      expect(r.resource_type).toBe('Patient');
      expect(r.fhir_version).toBe('DSTU2');
      expect(r.query).toContain('Zorvath');
      expect(r.tenant_id).toBe('tenant-1');
      expect(r.client_id).toBe('client-1');
      expect(r.user_id).toBe('u-42');
      expect(r.user_name).toBe('Dr Who');
      expect(r.user_agent).toBe('patients-app/1.0');
      expect(r.source_ip).toMatch(/127\.0\.0\.1/);
      expect(r.outcome).toBe(0);
      expect(r.http_status).toBe(200);
      expect(r.result_count).toBe(7);
      expect(r.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(r.recorded_by).toBe('gw-test');
    }
  });

  it('a search that returns none yields one record with no patient', async () => {
    const { records } = await call('/Patient?family:contains=Nobody');
    expect(records).toHaveLength(1);
    expect(records[0]?.patient_id).toBe('');
    expect(records[0]?.result_count).toBe(0);
  });

  it('POST /Patient/_search (form body) is classified from the teed request body', async () => {
    const { records } = await call('/Patient/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'family:contains=Quellmoor',
    });
    expect(records.map((r) => [r.event_type, r.patient_id])).toEqual([['PatientSearch', 'pat-bb08']]);
    expect(records[0]?.query).toContain('Quellmoor');
  });

  it('a read yields PatientView of that patient; a failed read still yields a record with its outcome', async () => {
    const ok = await call('/Patient/pat-bb09');
    expect(ok.records.map((r) => [r.event_type, r.patient_id, r.outcome])).toEqual([['PatientView', 'pat-bb09', 0]]);
    const missing = await call('/Patient/pat-nope');
    expect(missing.status).toBe(404);
    expect(missing.records.map((r) => [r.event_type, r.patient_id, r.outcome, r.http_status])).toEqual([
      ['PatientView', 'pat-nope', 4, 404],
    ]);
    const denied = await call('/Patient/pat-bb10', { headers: { authorization: 'Bearer bad' } });
    expect(denied.records.map((r) => [r.patient_id, r.outcome, r.http_status])).toEqual([['pat-bb10', 4, 401]]);
    const broken = await call('/Observation?patient=boom&category=vital-signs');
    expect(broken.records.map((r) => [r.event_type, r.outcome, r.http_status])).toEqual([['VitalSignsView', 8, 500]]);
  });

  it('a list-refresh batch of 5 patients yields per-entry records and one PatientListView per patient', async () => {
    const ids = PATIENTS.slice(7, 12).map((p) => p.id);
    const entry = ids.flatMap((id) => [
      { request: { method: 'GET', url: `Patient/${id}` } },
      { request: { method: 'GET', url: `Observation?patient=${id}&category=vital-signs&_sort:desc=date` } },
      { request: { method: 'GET', url: `Condition?patient=${id}` } },
      { request: { method: 'GET', url: `Encounter?patient=${id}` } },
      { request: { method: 'GET', url: `AllergyIntolerance?patient=${id}` } },
      { request: { method: 'GET', url: `MedicationOrder?patient=${id}` } },
      { request: { method: 'GET', url: `Coverage?patient=${id}` } },
    ]);
    const { status, records } = await call('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json+fhir' },
      body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }),
    });
    expect(status).toBe(200);
    const perEntry = records.filter((r) => r.entry_index >= 0);
    const list = records.filter((r) => r.event_type === 'PatientListView');
    expect(perEntry).toHaveLength(35);
    expect(list).toHaveLength(5);
    expect(new Set(list.map((r) => r.patient_id))).toEqual(new Set(ids));
    expect(new Set(records.map((r) => r.batch_id)).size).toBe(1);
    expect(records[0]?.batch_id).not.toBe('');
    const types = new Set(perEntry.map((r) => r.event_type));
    expect(types).toEqual(
      new Set([
        'PatientView',
        'VitalSignsView',
        'ConditionsView',
        'EncountersView',
        'AllergiesView',
        'MedicationsView',
        'CoverageView',
      ]),
    );
    for (let i = 0; i < 35; i++) {
      const r = perEntry.find((x) => x.entry_index === i);
      expect(r?.patient_id).toBe(ids[Math.floor(i / 7)]);
    }
  });

  it('does not audit /metadata or /token, but measures them', async () => {
    const before = receiver.records.length;
    await (await fetch(`${server.url}/metadata`)).text();
    await (await fetch(`${server.url}/token`, { method: 'POST', body: 'grant_type=client_credentials' })).text();
    await audit.drain();
    expect(receiver.records.length).toBe(before);
  });

  it('the shipped request records form one intact HMAC chain; per-patient rows have unique UUIDv7 event ids', () => {
    const sorted = [...receiver.requests].sort((a, b) => a.seq - b.seq);
    expect(sorted[0]?.seq).toBe(1);
    expect(verifyChain(KEY, sorted)).toBeUndefined();
    expect(new Set(receiver.records.map((r) => r.event_id)).size).toBe(receiver.records.length);
    for (const r of receiver.records) expect(r.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/);
    const tampered = sorted.map((r) => structuredClone(r));
    (tampered[3]?.entries[0] as { patient_ids: string[] }).patient_ids = ['someone-else'];
    expect(verifyChain(KEY, tampered)?.reason).toBe('hash-mismatch');
  });

  it('spans are named by route template and carry FHIR + HTTP attributes, never the raw URL', async () => {
    await tracerProvider.forceFlush();
    const finished = spans.getFinishedSpans();
    const names = new Set(finished.map((s) => s.name));
    expect(names).toContain('GET /Patient');
    expect(names).toContain('GET /Patient/{id}');
    expect(names).toContain('POST /');
    expect(names).toContain('POST /token');
    const search = finished.find((s) => s.name === 'GET /Patient');
    expect(search?.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/Patient',
      'http.response.status_code': 200,
      'fhir.version': 'DSTU2',
      'fhir.interaction': 'search-type',
      'fhir.resource_type': 'Patient',
      'fhir.audit_event': 'PatientSearch',
      'tenant.id': 'tenant-1',
      'client.id': 'client-1',
    });
    const batch = finished.find((s) => s.name === 'POST /');
    expect(batch?.attributes['fhir.batch.entry_count']).toBe(35);
    const upstream = finished.filter((s) => s.kind === 2 /* CLIENT */);
    expect(upstream.length).toBeGreaterThan(0);
    expect(upstream[0]?.parentSpanContext?.spanId).toBeDefined();
    for (const s of finished) {
      expect(Object.keys(s.attributes)).not.toContain('url.full');
      expect(Object.keys(s.attributes)).not.toContain('url.query');
      expect(JSON.stringify(s.attributes)).not.toMatch(/pat-|Zorvath|Quellmoor|MRN-/);
    }
  });

  it('records http.server.request.duration (s, semconv buckets) per tenant/route/method/status and the upstream hop', async () => {
    await reader.forceFlush();
    const metrics = metricExporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
    const server = metrics.find((m) => m.descriptor.name === 'http.server.request.duration');
    const client = metrics.find((m) => m.descriptor.name === 'http.client.request.duration');
    expect(server?.descriptor.unit).toBe('s');
    const points = server?.dataPoints ?? [];
    const token = points.find((p) => p.attributes['http.route'] === '/token');
    expect(token?.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'tenant.id': 'tenant-1',
    });
    const first = points[0]?.value as { buckets: { boundaries: number[] } };
    expect(first.buckets.boundaries).toEqual([
      0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    ]);
    expect(client?.dataPoints.length).toBeGreaterThan(0);
    expect(client?.dataPoints[0]?.attributes['server.address']).toBe('127.0.0.1');
  });
});
