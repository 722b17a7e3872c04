/**
 * `disclosure: 'spec'` (default) vs `'returned'`, through the real middleware on a real node:http
 * handler and a real receiver: a clinical search concerns the patient it names in `spec` mode (its
 * body is read for result_count only), every returned patient in `returned` mode; PatientSearch and
 * the LocationView ← Encounter attribution of a batch are the same in both.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setRequestContext } from '../src/context.ts';
import { fhirAudit } from '../src/middleware.ts';
import type { DisclosureMode } from '../src/types.ts';
import { listen } from './fhir-handler.ts';
import { type Receiver, startReceiver } from './receiver.ts';

const searchset = (resources: unknown[]) => ({
  resourceType: 'Bundle',
  type: 'searchset',
  total: resources.length,
  entry: resources.map((resource) => ({ resource, search: { mode: 'match' } })),
});
const obs = (patient: string) => ({
  resourceType: 'Observation',
  id: `o-${patient}`,
  subject: { reference: `Patient/${patient}` },
  note: [{ text: 'quote " brace } bracket ] backslash \\' }],
});

/** Answers by path; batch-responses are built per entry. */
function answer(method: string, url: string, body: string): unknown {
  if (method === 'POST' && url === '/') {
    const bundle = JSON.parse(body) as { entry: { request: { url: string } }[] };
    return {
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: bundle.entry.map((e) => ({
        resource: answer('GET', `/${e.request.url}`, ''),
        response: { status: '200 OK' },
      })),
    };
  }
  if (url.startsWith('/Observation?code=')) return searchset([obs('px-1'), obs('px-2')]); // no patient named
  if (url.startsWith('/Observation?patient=px-1')) return searchset([obs('px-1'), obs('px-9')]); // plus another patient
  if (url.startsWith('/Patient?'))
    return searchset([
      { resourceType: 'Patient', id: 'pp-1' },
      { resourceType: 'Patient', id: 'pp-2' },
    ]);
  if (url.startsWith('/Encounter?')) {
    return searchset([
      {
        resourceType: 'Encounter',
        id: 'e1',
        subject: { reference: 'Patient/px-1' },
        location: [{ location: { reference: 'Location/loc-7' } }],
      },
    ]);
  }
  if (url.startsWith('/Location/')) return { resourceType: 'Location', id: 'loc-7', name: 'Ward {7}' };
  return { resourceType: 'OperationOutcome', issue: [] };
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  setRequestContext(req, { tenantId: 't', routedTenantId: 't', clientId: 'c', fhirVersion: 'STU3' });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const text = JSON.stringify(answer(req.method ?? 'GET', req.url ?? '/', Buffer.concat(chunks).toString('utf8')));
    if (req.headers['x-test-gzip'] === '1') {
      // Compressed in two writes: the capture decodes what went out, after the response ended.
      const gz = gzipSync(text);
      res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-encoding': 'gzip' });
      res.write(gz.subarray(0, 10));
      res.end(gz.subarray(10));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/fhir+json' });
    res.end(text);
  });
}

const setups: Record<
  DisclosureMode,
  { call(path: string, init?: RequestInit): Promise<AuditRecord[]>; close(): Promise<void> }
> = {} as never;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  for (const mode of ['spec', 'returned'] as const) {
    const dir = await mkdtemp(join(tmpdir(), `fw-disc-${mode}-`));
    const audit = fhirAudit({
      spoolDir: dir,
      sinkUrl: receiver.url,
      recordedBy: `disc-${mode}`,
      hmacKey: 'k',
      shipIntervalMs: 20,
      flushIntervalMs: 5,
      ...(mode === 'returned' ? { disclosure: 'returned' as const } : {}),
    });
    const server = await listen(audit.wrap(handler));
    let n = 0;
    setups[mode] = {
      async call(path, init = {}) {
        const ua = `${mode}-${++n}`;
        const res = await fetch(`${server.url}${path}`, {
          ...init,
          headers: { ...(init.headers as Record<string, string>), 'user-agent': ua },
        });
        await res.arrayBuffer();
        await audit.drain();
        return receiver.records.filter((r) => r.user_agent === ua);
      },
      async close() {
        await server.close();
        await audit.shutdown();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
});
afterAll(async () => {
  for (const s of Object.values(setups)) await s.close();
  await receiver?.close();
});

const pick = (records: AuditRecord[]) =>
  records
    .map((r) => [r.event_type, r.entry_index, r.patient_id, r.result_count])
    .sort((a, b) => String(a).localeCompare(String(b)));

describe('disclosure modes', () => {
  it('a clinical search that names no patient: spec = one record without a patient, returned = its returned patients', async () => {
    const spec = await setups.spec.call('/Observation?code=1234-5&category=vital-signs');
    const returned = await setups.returned.call('/Observation?code=1234-5&category=vital-signs');
    expect(pick(spec)).toEqual([['VitalSignsView', -1, '', 2]]);
    expect(pick(returned)).toEqual([
      ['VitalSignsView', -1, 'px-1', 2],
      ['VitalSignsView', -1, 'px-2', 2],
    ]);
  });

  it('a clinical search by patient: spec = the patient searched, returned = also the other patients it returned', async () => {
    const spec = await setups.spec.call('/Observation?patient=px-1&category=vital-signs');
    const returned = await setups.returned.call('/Observation?patient=px-1&category=vital-signs');
    expect(pick(spec)).toEqual([['VitalSignsView', -1, 'px-1', 2]]);
    expect(pick(returned)).toEqual([
      ['VitalSignsView', -1, 'px-1', 2],
      ['VitalSignsView', -1, 'px-9', 2],
    ]);
  });

  it('a gzip-encoded PatientSearch response is decoded for its patients', async () => {
    const records = await setups.spec.call('/Patient?name=x', { headers: { 'x-test-gzip': '1' } });
    expect(pick(records)).toEqual([
      ['PatientSearch', -1, 'pp-1', 2],
      ['PatientSearch', -1, 'pp-2', 2],
    ]);
  });

  it('PatientSearch and the batch LocationView ← Encounter attribution are the same in both modes', async () => {
    for (const mode of ['spec', 'returned'] as const) {
      expect(pick(await setups[mode].call('/Patient?name=x'))).toEqual([
        ['PatientSearch', -1, 'pp-1', 2],
        ['PatientSearch', -1, 'pp-2', 2],
      ]);
      const batch = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: ['Encounter?patient=px-1&_sort=-date&_count=1', 'Location/loc-7'].map((url) => ({
          request: { method: 'GET', url },
        })),
      };
      const records = await setups[mode].call('/', {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(batch),
      });
      expect(pick(records)).toEqual([
        ['EncountersView', 0, 'px-1', 1],
        ['LocationView', 1, 'px-1', 1],
        ['PatientListView', -1, 'px-1', 1],
      ]);
    }
  });
});
