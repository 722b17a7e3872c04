/**
 * PHI never enters telemetry: every OTLP payload the SDK exports (traces, metrics, logs, over real
 * OTLP/HTTP to a local receiver standing in for the collector) during a full Patients-app flow through
 * the real gateway is captured byte for byte and searched for the fixture's PHI strings (patient ids,
 * MRNs, names, birth dates, search values). The same strings are in the audit records, which is
 * where they belong.
 */
import { type FhirVersion, listRefreshBundle } from '@fhirwatch/contract';
import { setupTelemetry, type Telemetry } from '@fhirwatch/otel-middleware';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './receiver.ts';
import { type Stack, startStack } from './stack.ts';

let receiver: Receiver;
let telemetry: Telemetry;
let stack: Stack;
const phi = new Set<string>();
const patientIds = new Set<string>();

interface PatientJson {
  id: string;
  identifier?: { value?: string }[];
  name?: { family?: string | string[]; given?: string[] }[];
  birthDate?: string;
}

function addPatientPhi(p: PatientJson): void {
  phi.add(p.id);
  patientIds.add(p.id);
  for (const i of p.identifier ?? []) if (i.value !== undefined) phi.add(i.value);
  for (const n of p.name ?? []) {
    for (const f of [n.family ?? []].flat()) phi.add(f);
    for (const g of n.given ?? []) phi.add(g);
  }
  if (p.birthDate !== undefined) phi.add(p.birthDate);
}

beforeAll(async () => {
  receiver = await startReceiver();
  telemetry = setupTelemetry({
    endpoint: receiver.url,
    serviceName: 'fhirwatch-e2e',
    scheduledDelayMillis: 200,
    metricExportIntervalMs: 600_000, // exported by forceFlush below
  });
  stack = await startStack({ sinkUrl: receiver.url, shipIntervalMs: 50, emitLogs: true });
});
afterAll(async () => {
  await stack?.close();
  await telemetry?.shutdown();
  await receiver?.close();
});

async function flow(version: FhirVersion): Promise<void> {
  const base = stack.base(version);
  const patients = stack.ehr[version].population.patients as unknown as PatientJson[];
  const [a, b, c, d] = [3, 9, 14, 21].map((i) => patients[i] as PatientJson) as [
    PatientJson,
    PatientJson,
    PatientJson,
    PatientJson,
  ];
  for (const p of [a, b, c, d]) addPatientPhi(p);
  const auth = { authorization: `Bearer ${stack.token[version]}` };
  const form = { ...auth, 'content-type': 'application/x-www-form-urlencoded' };
  const bundleType = version === 'DSTU2' ? 'application/json+fhir' : 'application/fhir+json';

  expect((await fetch(`${base}/metadata`)).status).toBe(200);
  const family = [a.name?.[0]?.family ?? ''].flat()[0] as string;
  const fragment = family.slice(0, 4);
  phi.add(fragment);
  const searches = [
    `family:contains=${encodeURIComponent(fragment)}&_count=10`,
    `identifier=${encodeURIComponent(b.identifier?.[0]?.value ?? '')}`,
    `birthdate=${c.birthDate ?? ''}`,
    `_id=${d.id}`,
  ];
  for (const body of searches) {
    const res = await fetch(`${base}/Patient/_search`, { method: 'POST', headers: form, body });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as { entry?: { resource: PatientJson }[] };
    for (const e of bundle.entry ?? []) addPatientPhi(e.resource);
  }
  for (const p of [a, b]) expect((await fetch(`${base}/Patient/${p.id}`, { headers: auth })).status).toBe(200);
  const batch = await fetch(`${base}/`, {
    method: 'POST',
    headers: { ...auth, 'content-type': bundleType },
    body: JSON.stringify(listRefreshBundle(version, [c.id, d.id])),
  });
  expect(batch.status).toBe(200);
  await batch.arrayBuffer();
  // Failures too: their error paths must not leak either.
  await (await fetch(`${base}/Patient/zz${a.id}`, { headers: auth })).arrayBuffer();
  await (
    await fetch(`${base}/Patient?family:contains=${fragment}`, { headers: { authorization: 'Bearer forged' } })
  ).arrayBuffer();
}

describe('PHI never enters telemetry', () => {
  it('a full Patients-app flow (metadata, token, searches, reads, batch, failures) on both versions exports no PHI', async () => {
    await flow('DSTU2');
    await flow('STU3');
    await stack.audit.drain();
    await telemetry.forceFlush();

    const traces = receiver.otlp.filter((p) => p.path === '/v1/traces');
    const metrics = receiver.otlp.filter((p) => p.path === '/v1/metrics');
    const logs = receiver.otlp.filter((p) => p.path === '/v1/logs');
    // The capture is real: spans, metrics and audit log records arrived, with their FHIR attributes.
    expect(traces.length).toBeGreaterThan(0);
    expect(metrics.length).toBeGreaterThan(0);
    expect(logs.length).toBeGreaterThan(0);
    const all = receiver.otlp.map((p) => p.body).join('\n');
    expect(all).toContain('GET /Patient/{id}');
    expect(all).toContain('fhir.audit_event');
    expect(all).toContain('http.server.request.duration');
    expect(all).toContain('http.client.request.duration');
    expect(all).toContain('"/token"');
    expect(all).toContain('fhir.audit.event_id');

    // The PHI is real too: the audit store got it.
    const audited = JSON.stringify(receiver.records);
    expect(phi.size).toBeGreaterThan(30);
    const unaudited = [...patientIds].filter((id) => !audited.includes(id));
    expect(unaudited).toEqual([]);

    // A value leaks when it appears as a token of its own. Digit and hex values are matched only when
    // not inside a longer run of digits / hex digits: an 8-digit MRN can occur by chance inside a
    // 19-digit nanosecond timestamp, and an 8-hex id inside a 32-hex trace id.
    const leaks = [...phi].filter((value) => {
      if (value.length < 4) return false;
      const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const pattern = /^[0-9a-f]+$/i.test(value)
        ? new RegExp(`(?<![0-9a-fA-F])${escaped}(?![0-9a-fA-F])`)
        : /^[0-9-]+$/.test(value)
          ? new RegExp(`(?<![0-9])${escaped}(?![0-9])`)
          : new RegExp(escaped);
      return pattern.test(all);
    });
    expect(leaks).toEqual([]);
  });
});
