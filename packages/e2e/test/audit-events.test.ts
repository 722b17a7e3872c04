/**
 * The 11 clinician read audit events from real requests through the real gateway (wrapped by the
 * middleware) to the real mock EHRs, on both FHIR versions: the right event type, the right
 * patients (one record per disclosed patient), batches, and failed requests with their outcome.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSink } from '@fhirwatch/clickhouse-sink';
import { verifyAuditChain } from '@fhirwatch/clickhouse-sink/compliance';
import { AUDIT_TABLE } from '@fhirwatch/clickhouse-sink/store';
import { AUDIT_RECORD_FIELDS, type AuditRecord, type FhirVersion, listRefreshBundle } from '@fhirwatch/contract';
import { verifyChain } from '@fhirwatch/otel-middleware';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './receiver.ts';
import { HMAC_KEY, type Stack, startStack, TENANT_DOWN } from './stack.ts';

let receiver: Receiver;
let stack: Stack;
let n = 0;

beforeAll(async () => {
  receiver = await startReceiver();
  stack = await startStack({ sinkUrl: receiver.url, shipIntervalMs: 25, flushIntervalMs: 2 });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

interface Access {
  status: number;
  body: Record<string, unknown>;
  records: AuditRecord[];
}

/** One request through the gateway, tagged by a unique user agent; returns its records once shipped. */
async function access(
  version: FhirVersion,
  path: string,
  init: { method?: string; body?: string; contentType?: string; token?: string; base?: string } = {},
): Promise<Access> {
  const ua = `e2e-events-${++n}`;
  const headers: Record<string, string> = {
    authorization: `Bearer ${init.token ?? stack.token[version]}`,
    accept: 'application/json',
    'user-agent': ua,
  };
  if (init.contentType !== undefined) headers['content-type'] = init.contentType;
  const res = await fetch(`${init.base ?? stack.base(version)}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await res.text();
  await stack.audit.drain();
  return {
    status: res.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    records: receiver.records.filter((r) => r.user_agent === ua),
  };
}

function entryIds(bundle: Record<string, unknown>): string[] {
  return ((bundle.entry ?? []) as { resource: { id: string } }[]).map((e) => e.resource.id);
}

function pick(records: AuditRecord[]): [string, string][] {
  return records.map((r) => [r.event_type, r.patient_id]);
}

describe.each(['DSTU2', 'STU3'] as const)('%s', (version) => {
  const patientAt = (i: number): string => (stack.ehr[version].population.patients[i] as { id: string }).id;

  it('PatientSearch: a POST /Patient/_search returning 7 patients yields 7 records, one per returned patient', async () => {
    const { status, body, records } = await access(version, '/Patient/_search', {
      method: 'POST',
      contentType: 'application/x-www-form-urlencoded',
      body: 'gender=female&_count=7',
    });
    expect(status).toBe(200);
    const returned = entryIds(body);
    expect(returned).toHaveLength(7);
    expect(records).toHaveLength(7);
    expect(new Set(records.map((r) => r.patient_id))).toEqual(new Set(returned));
    for (const r of records) {
      expect(r).toMatchObject({
        event_type: 'PatientSearch',
        fhir_interaction: 'search-type',
        resource_type: 'Patient',
        fhir_version: version,
        tenant_id: stack.tenant[version],
        routed_tenant_id: stack.tenant[version],
        outcome: 0,
        http_status: 200,
        result_count: 7,
        entry_index: -1,
        batch_id: '',
      });
      expect(r.client_id).not.toBe('');
      expect(r.query).toContain('gender=female');
    }
  });

  it('PatientSearch with no match yields one record without a patient', async () => {
    const { records } = await access(version, '/Patient?family:contains=Qxzzyq');
    expect(pick(records)).toEqual([['PatientSearch', '']]);
  });

  it('PatientView: GET /Patient/{id}', async () => {
    const id = patientAt(2);
    const { status, records } = await access(version, `/Patient/${id}`);
    expect(status).toBe(200);
    expect(pick(records)).toEqual([['PatientView', id]]);
    expect(records[0]?.fhir_interaction).toBe('read');
  });

  const perPatient: [string, (v: FhirVersion, id: string) => string][] = [
    [
      'VitalSignsView',
      (v, id) => `/Observation?patient=${id}&category=vital-signs&${v === 'DSTU2' ? '_sort:desc=date' : '_sort=-date'}`,
    ],
    ['ConditionsView', (_v, id) => `/Condition?patient=${id}`],
    ['EncountersView', (_v, id) => `/Encounter?patient=${id}`],
    ['AllergiesView', (_v, id) => `/AllergyIntolerance?patient=${id}`],
    ['MedicationsView', (v, id) => `/${v === 'DSTU2' ? 'MedicationOrder' : 'MedicationRequest'}?patient=${id}`],
    ['CoverageView', (_v, id) => `/Coverage?patient=${id}`],
  ];
  it.each(perPatient)('%s: a search by patient yields one record for that patient', async (eventType, path) => {
    const id = patientAt(4);
    const { status, records } = await access(version, path(version, id));
    expect(status).toBe(200);
    expect(pick(records)).toEqual([[eventType, id]]);
    expect(records[0]?.fhir_interaction).toBe('search-type');
  });

  it('LocationView: alone it names no patient; in a batch with the encounter it names the encounter’s patient', async () => {
    const id = patientAt(5);
    const index = stack.ehr[version].population.indexOf(id) as number;
    const encounter = stack.ehr[version].population.record(index).encounters[0] as {
      location?: { location: { reference: string } }[];
    };
    const locationId = (encounter.location?.[0]?.location.reference ?? '').replace('Location/', '');
    expect(locationId).not.toBe('');
    const alone = await access(version, `/Location/${locationId}`);
    expect(alone.status).toBe(200);
    expect(pick(alone.records)).toEqual([['LocationView', '']]);
    const batch = await access(version, '/', {
      method: 'POST',
      contentType: version === 'DSTU2' ? 'application/json+fhir' : 'application/fhir+json',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Encounter?patient=${id}` } },
          { request: { method: 'GET', url: `Location/${locationId}` } },
        ],
      }),
    });
    expect(batch.status).toBe(200);
    const location = batch.records.filter((r) => r.event_type === 'LocationView');
    expect(location.map((r) => [r.patient_id, r.entry_index])).toEqual([[id, 1]]);
  });

  it('PatientListView: a list-refresh batch of 5 patients yields 35 per-entry records and 5 per-patient records', async () => {
    const ids = [6, 7, 8, 9, 10].map(patientAt);
    const { status, body, records } = await access(version, '/', {
      method: 'POST',
      contentType: version === 'DSTU2' ? 'application/json+fhir' : 'application/fhir+json',
      body: JSON.stringify(listRefreshBundle(version, ids)),
    });
    expect(status).toBe(200);
    expect(body.type).toBe('batch-response');
    const perEntry = records.filter((r) => r.entry_index >= 0);
    const list = records.filter((r) => r.event_type === 'PatientListView');
    expect(perEntry).toHaveLength(35);
    expect(list.map((r) => r.patient_id).sort()).toEqual([...ids].sort());
    expect(records).toHaveLength(40);
    const batchIds = new Set(records.map((r) => r.batch_id));
    expect(batchIds.size).toBe(1);
    expect([...batchIds][0]).not.toBe('');
    const expected = [
      'PatientView',
      'VitalSignsView',
      'ConditionsView',
      'EncountersView',
      'AllergiesView',
      'MedicationsView',
      'CoverageView',
    ];
    for (let i = 0; i < 35; i++) {
      const r = perEntry.find((x) => x.entry_index === i);
      expect([r?.event_type, r?.patient_id, r?.fhir_interaction]).toEqual([
        expected[i % 7],
        ids[Math.floor(i / 7)],
        i % 7 === 0 ? 'read' : 'search-type',
      ]);
    }
    for (const r of list) expect(r).toMatchObject({ fhir_interaction: 'batch', entry_index: -1, outcome: 0 });
  });

  it('ExportInitiation: a bulk export kick-off is recorded for all patients (*), with the outcome of its status', async () => {
    const { status, records } = await access(version, '/Patient/$export');
    expect(pick(records)).toEqual([['ExportInitiation', '*']]);
    expect(records[0]?.http_status).toBe(status);
    expect(records[0]?.outcome).toBe(status < 400 ? 0 : status < 500 ? 4 : 8);
  });

  it('ExportInitiation of a group: the group is recorded (query _group=<id>, resource Group), no patient', async () => {
    const { status, records } = await access(version, '/Group/ward-7%20east/$export?_type=Patient,Condition');
    expect(pick(records)).toEqual([['ExportInitiation', '']]);
    expect(records[0]).toMatchObject({
      resource_type: 'Group',
      fhir_interaction: 'operation',
      query: '_group=ward-7%20east&_type=Patient,Condition', // the parameters as sent
      http_status: status,
    });
    const plain = await access(version, '/Group/g42/$export');
    expect(plain.records.map((r) => [r.event_type, r.patient_id, r.query])).toEqual([
      ['ExportInitiation', '', '_group=g42'],
    ]);
  });

  it('failed requests yield records with their outcome: 404 read (4), rejected token (4)', async () => {
    const missing = await access(version, '/Patient/doesnotexist99');
    expect(missing.status).toBe(404);
    expect(missing.records.map((r) => [r.event_type, r.patient_id, r.outcome, r.http_status])).toEqual([
      ['PatientView', 'doesnotexist99', 4, 404],
    ]);
    const id = patientAt(11);
    const denied = await access(version, `/Patient/${id}`, { token: 'not-a-token' });
    expect(denied.status).toBe(401);
    expect(denied.records.map((r) => [r.event_type, r.patient_id, r.outcome, r.http_status])).toEqual([
      ['PatientView', id, 4, 401],
    ]);
  });
});

describe('across versions', () => {
  it('an unreachable provider yields a record with a serious-failure outcome (8)', async () => {
    const { status, records } = await access('DSTU2', '/Condition?patient=abc12345', {
      token: stack.downToken,
      base: `${stack.gateway.url}/${TENANT_DOWN}`,
    });
    expect(status).toBeGreaterThanOrEqual(500);
    expect(records.map((r) => [r.event_type, r.patient_id, r.outcome, r.http_status])).toEqual([
      ['ConditionsView', 'abc12345', 8, status],
    ]);
  });

  it('every shipped per-patient row is unique and the writer’s request chain is intact', () => {
    expect(new Set(receiver.records.map((r) => r.event_id)).size).toBe(receiver.records.length);
    const sorted = [...receiver.requests].sort((a, b) => a.seq - b.seq);
    expect(sorted[0]?.seq).toBe(1);
    expect(verifyChain(HMAC_KEY, sorted)).toBeUndefined();
  });

  it('the real sink’s view expands these request records into exactly the same per-patient rows (both versions, all 11 event types), and verify passes', async () => {
    const types = new Set(receiver.records.map((r) => r.event_type));
    expect(types.size).toBe(11);
    const dir = mkdtempSync(join(tmpdir(), 'fw-e2e-expand-'));
    const sink = await startSink({ store: join(dir, 'store') });
    try {
      expect(await sink.audit.write(receiver.requests)).toEqual({ accepted: receiver.requests.length, duplicates: 0 });
      const stored = await (
        await sink.client.query({
          query: `SELECT ${AUDIT_RECORD_FIELDS.join(', ')} FROM ${AUDIT_TABLE}`,
          format: 'JSONEachRow',
        })
      ).json<Record<string, unknown>>();
      const norm = (r: Record<string, unknown>): string =>
        JSON.stringify([
          r.event_id,
          String(r.event_time).replace(' ', 'T').replace(/Z?$/, 'Z'),
          r.recorded_by,
          Number(r.seq),
          r.hash,
          r.tenant_id,
          r.event_type,
          r.fhir_interaction,
          r.resource_type,
          r.fhir_version,
          r.query,
          r.patient_id,
          r.batch_id,
          Number(r.entry_index),
          Number(r.outcome),
          Number(r.http_status),
          r.result_count === null ? null : Number(r.result_count),
        ]);
      expect(stored.map(norm).sort()).toEqual(
        receiver.records.map((r) => norm(r as unknown as Record<string, unknown>)).sort(),
      );
      const verified = await verifyAuditChain(sink.client, { key: HMAC_KEY });
      expect(verified.ok).toBe(true);
      expect(verified.writers[0]?.stored_rows).toBe(receiver.records.length);
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
