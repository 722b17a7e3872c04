/**
 * The sink's query API over real HTTP on 127.0.0.1 and a real chDB store loaded through POST /v1/audit with the
 * seeded dataset: every answer is compared with the library call it must equal, and every read must be in
 * audit_query_log before its answer arrives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../src/compliance/format/csv.ts';
import { formatReport } from '../src/compliance/format/index.ts';
import { accessReport, activityReport, afterHoursReport, summaryReport } from '../src/compliance/index.ts';
import { runReport } from '../src/compliance/registry.ts';
import { type SinkServer, startSink } from '../src/ingest/server.ts';
import { queryRemoteReport, RemoteQueryError } from '../src/query-api/remote.ts';
import { generateAuditDataset } from '../src/testing/dataset.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-query-api-'));
const dataset = generateAuditDataset();
const { plants } = dataset;
const range = { from: plants.reportFrom.toISOString(), to: plants.reportTo.toISOString() };
let sink: SinkServer;

const ndjson = (records: readonly AuditRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n');

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${sink.url}${path}`, init);
}

interface LogRow {
  endpoint: string;
  rows: string;
  status: number;
  parameters: string;
  principal: string;
  actor: string;
  surface: string;
}
async function queryLog(): Promise<LogRow[]> {
  const result = await sink.client.query({
    query:
      'SELECT endpoint, rows, status, parameters, principal, actor, surface FROM audit_query_log ORDER BY at, query_id',
    format: 'JSONEachRow',
  });
  return (await result.json()) as LogRow[];
}

beforeAll(async () => {
  sink = await startSink({ store: join(dir, 'store'), queryApi: { hmacKey: Buffer.from(dataset.key) } });
  for (let i = 0; i < dataset.records.length; i += 5000) {
    const response = await api('/v1/audit', {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: ndjson(dataset.records.slice(i, i + 5000)),
    });
    expect(response.status).toBe(200);
  }
}, 240_000);

afterAll(async () => {
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('reports over HTTP', () => {
  it('access (JSON) equals the library report and is recorded with its row count', async () => {
    const { patient_id } = plants.accessPatient;
    const before = (await queryLog()).length;
    const response = await api(`/api/audit/access?patient=${patient_id}&from=${range.from}&to=${range.to}`, {
      headers: { 'x-fhirwatch-actor': 'officer-1' },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { count: number; rows: AuditRecord[] };
    const expected = await accessReport(sink.client, { patientIds: [patient_id], ...range });
    expect(expected.rows.length).toBeGreaterThan(3);
    expect(body.rows.map((r) => r.event_id)).toEqual(expected.rows.map((r) => r.event_id));
    const log = await queryLog();
    expect(log.length).toBe(before + 1);
    const entry = log.at(-1) as LogRow;
    expect(entry.endpoint).toBe('access');
    expect(Number(entry.rows)).toBe(expected.rows.length);
    expect(entry.actor).toBe('officer-1');
    expect(entry.principal).toBe('loopback');
    expect(JSON.parse(entry.parameters)).toMatchObject({ patient: patient_id });
  });

  it('access by MRN as CSV: one row per record, header first', async () => {
    const { mrn, patient_id } = plants.accessPatient;
    const response = await api(`/api/audit/access?patient-mrn=${mrn}&from=${range.from}&to=${range.to}&format=csv`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(response.headers.get('content-disposition')).toContain('.csv');
    const rows = parseCsv(await response.text());
    const expected = await accessReport(sink.client, { patientIds: [patient_id], ...range });
    expect(rows.length).toBe(expected.rows.length + 1);
    const idColumn = (rows[0] as string[]).indexOf('event_id');
    expect(rows.slice(1).map((r) => r[idColumn])).toEqual(expected.rows.map((r) => r.event_id));
  });

  it('activity as a FHIR AuditEvent Bundle', async () => {
    const { user_id } = plants.activityUser;
    const response = await api(`/api/audit/activity?user=${user_id}&from=${range.from}&to=${range.to}&format=fhir`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/fhir+json');
    const bundle = (await response.json()) as { resourceType: string; entry: { resource: { resourceType: string } }[] };
    const expected = await activityReport(sink.client, { userId: user_id, ...range });
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry.length).toBe(expected.rows.length);
    expect(bundle.entry.every((e) => e.resource.resourceType === 'AuditEvent')).toBe(true);
  });

  it('summary and a monitoring report through queryRemoteReport (the CLI client)', async () => {
    const summary = await queryRemoteReport(sink.url, 'summary', { from: range.from, to: range.to, format: 'json' });
    const expected = await summaryReport(sink.client, range);
    expect((JSON.parse(summary.text) as { count: number }).count).toBe(expected.rows.length);
    const afterHours = await queryRemoteReport(sink.url, 'report/after-hours', {
      ...range,
      'work-hours': JSON.stringify(dataset.workHours),
    });
    const ids = (JSON.parse(afterHours.text) as { rows: { event_id: string }[] }).rows.map((r) => r.event_id).sort();
    const library = await afterHoursReport(sink.client, { ...range, workHours: dataset.workHours });
    expect(ids).toEqual(library.rows.map((r) => r.event_id).sort());
    for (const id of plants.afterHoursEventIds) expect(ids).toContain(id);
  });

  it('bad options get 400 with a stable code; an unknown report 404; FHIR errors are OperationOutcome', async () => {
    const bad = await queryRemoteReport(sink.url, 'summary', { since: 'soon' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RemoteQueryError);
    expect((bad as RemoteQueryError).status).toBe(400);
    expect((bad as RemoteQueryError).code).toBe('FW_AUDIT_INVALID_RANGE');
    const missing = await api('/api/audit/report/nope');
    expect(missing.status).toBe(404);
    const outcome = await api('/api/audit/access?format=fhir');
    expect(outcome.status).toBe(400);
    expect(((await outcome.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    const failed = (await queryLog()).filter((r) => r.status === 400);
    expect(failed.length).toBeGreaterThanOrEqual(2);
  });

  it('large answers (streamed in slices) are the same as the one-shot formatters: JSON, CSV, FHIR', async () => {
    const clerk = 'u-east-clerk';
    const all = { from: '2000-01-01T00:00:00.000Z', to: range.to };
    // what `fhirwatch audit activity` runs (the registry adds the CSV export columns)
    const expected = await runReport(sink.client, 'activity', { ...all, options: { userId: clerk } });
    expect(expected.rows.length).toBeGreaterThan(1500);
    const path = `/api/audit/activity?user=${clerk}&from=${all.from}&to=${all.to}`;
    const json = await (await api(path)).json();
    expect(json).toEqual(JSON.parse(formatReport(expected, 'json')));
    const csv = Buffer.from(await (await api(`${path}&format=csv`)).arrayBuffer()).toString('utf8');
    expect(csv).toBe(formatReport(expected, 'csv'));
    const bundle = (await (await api(`${path}&format=fhir`)).json()) as { entry: unknown[]; timestamp: string };
    const reference = JSON.parse(formatReport(expected, 'fhir', { now: new Date(bundle.timestamp) })) as {
      entry: unknown[];
    };
    expect(bundle).toEqual(reference);
  });

  it('verify with the configured key, and with a key in the body', async () => {
    const configured = await api('/api/audit/verify');
    expect(configured.status).toBe(200);
    const body = (await configured.json()) as { parameters: { ok: boolean }; rows: { status: string }[] };
    expect(body.parameters.ok).toBe(true);
    expect(body.rows.length).toBe(new Set(dataset.records.map((r) => r.recorded_by)).size);
    const wrong = await api('/api/audit/verify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'not-the-key' }),
    });
    expect(((await wrong.json()) as { parameters: { ok: boolean } }).parameters.ok).toBe(false);
  });
});

describe('search, related records, VIP list, query log', () => {
  it('pages a patient search newest first with the total', async () => {
    const { patient_id } = plants.accessPatient;
    const all = dataset.records
      .filter((r) => r.patient_id === patient_id && r.event_time >= range.from && r.event_time < range.to)
      .sort((a, b) => (a.event_time < b.event_time ? 1 : -1));
    const page = (await (
      await api(`/api/audit/search?patient=${patient_id}&from=${range.from}&to=${range.to}&limit=2&offset=1`)
    ).json()) as {
      total: number;
      rows: AuditRecord[];
    };
    expect(page.total).toBe(all.length);
    expect(page.rows.map((r) => r.event_id)).toEqual(all.slice(1, 3).map((r) => r.event_id));
    const typed = (await (
      await api(
        `/api/audit/search?user=${plants.activityUser.user_id}&event-type=PatientView&from=${range.from}&to=${range.to}&limit=1000`,
      )
    ).json()) as { total: number; rows: AuditRecord[] };
    const expected = dataset.records.filter(
      (r) =>
        r.user_id === plants.activityUser.user_id &&
        r.event_type === 'PatientView' &&
        r.event_time >= range.from &&
        r.event_time < range.to,
    );
    expect(typed.total).toBe(expected.length);
    expect(typed.rows.every((r) => r.event_type === 'PatientView')).toBe(true);
  });

  it('related records: same trace id, and the same user session', async () => {
    const exported = plants.exports.find((e) => e.all_patients) ?? plants.exports[0];
    const event = dataset.records.find((r) => r.trace_id === exported?.trace_id) as AuditRecord;
    const related = (await (await api(`/api/audit/related?event-id=${event.event_id}`)).json()) as {
      request: AuditRecord[];
      session: AuditRecord[];
    };
    const sameTrace = dataset.records.filter((r) => r.trace_id === event.trace_id && r.tenant_id === event.tenant_id);
    expect(related.request.map((r) => r.event_id).sort()).toEqual(sameTrace.map((r) => r.event_id).sort());
    expect(related.session.some((r) => r.event_id === event.event_id)).toBe(true);
    expect(related.session.every((r) => r.user_id === event.user_id && r.source_ip === event.source_ip)).toBe(true);
  });

  it('manages the VIP list and records who changed it', async () => {
    const add = await api('/api/audit/vip', {
      method: 'POST',
      headers: { 'x-fhirwatch-actor': 'privacy-officer', 'content-type': 'application/json' },
      body: JSON.stringify({ patient: 'p-east-77', reason: 'board member' }),
    });
    expect(add.status).toBe(200);
    const list = (await (await api('/api/audit/vip')).json()) as { rows: { patient_id: string; changed_by: string }[] };
    expect(list.rows.find((r) => r.patient_id === 'p-east-77')?.changed_by).toBe('privacy-officer');
    expect((await api('/api/audit/vip?patient=p-east-77', { method: 'DELETE' })).status).toBe(200);
    const after = (await (await api('/api/audit/vip')).json()) as { rows: { patient_id: string }[] };
    expect(after.rows.some((r) => r.patient_id === 'p-east-77')).toBe(false);
  });

  it('lists the recorded reads, and the listing is itself recorded', async () => {
    const before = (await queryLog()).length;
    const body = (await (await api('/api/audit/query-log?limit=1000')).json()) as { rows: { endpoint: string }[] };
    expect(body.rows.length).toBe(before);
    expect(body.rows.map((r) => r.endpoint)).toEqual(
      expect.arrayContaining(['access', 'activity', 'search', 'related', 'vip:post']),
    );
    expect((await queryLog()).length).toBe(before + 1);
  });
});

describe('access control', () => {
  it('refuses a non-loopback bind without a token', async () => {
    await expect(startSink({ store: join(dir, 'other'), host: '0.0.0.0' })).rejects.toMatchObject({
      code: 'FW_SINK_OPTIONS',
    });
  });

  it('with a token: 401 without it, the principal recorded with it', async () => {
    const token = 'a-long-enough-test-token-123';
    await sink.close();
    sink = await startSink({
      store: join(dir, 'store'),
      queryApi: { token },
      ingestTokens: [{ name: 'gw-1', token: 'the-writer-token-for-gw-1' }],
    });
    const denied = await api('/api/audit/summary');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await api('/api/audit/summary', { headers: { authorization: 'Bearer nope-nope-nope-nope' } });
    expect(wrong.status).toBe(401);
    const ok = await queryRemoteReport(sink.url, 'summary', { since: '3650d' }, { token });
    expect(ok.status).toBe(200);
    expect((await queryLog()).at(-1)?.principal).toBe('token:query-token');
    // ingest needs a writer credential on a sink whose reads need a token; health stays open
    expect(
      (await api('/v1/audit', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } })).status,
    ).toBe(401);
    expect((await api('/healthz')).status).toBe(200);
  });
});
