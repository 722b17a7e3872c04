/**
 * Durability in strict mode across `kill -9`: a child process runs the gateway wrapped by the
 * middleware (strict); concurrent Patients-app traffic runs against it and the child is SIGKILLed the
 * moment the client has received N complete responses, with more requests in flight; the sink refuses
 * everything meanwhile, so nothing leaves before the crash. After a restart
 * on the same spool, the spool is shipped; every response the client received has all its audit
 * records, none duplicated after dedup on event_id, and the writer's HMAC chain is intact across the
 * crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type AuditRecord, listRefreshBundle } from '@fhirwatch/contract';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { verifyChain } from '@fhirwatch/otel-middleware';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './receiver.ts';
import { fetchToken, tempDir } from './stack.ts';

const TENANT = '5e5e5e5e-1111-4222-8333-444455556666';
const CHILD = join(import.meta.dirname, 'fixtures', 'strict-gateway.ts');

let receiver: Receiver;
let ehr: MockEhrServer;
let dir: string;
const children: ChildProcess[] = [];

interface Started {
  child: ChildProcess;
  url: string;
  clientId: string;
  clientSecret: string;
}

function startChild(): Promise<Started> {
  const child = spawn(process.execPath, ['--conditions=fhirwatch-source', CHILD], {
    env: { ...process.env, FW_DIR: dir, FW_EHR_URL: ehr.url, FW_SINK_URL: receiver.url, FW_TENANT: TENANT },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
    lines.once('line', (line) => resolve({ child, ...(JSON.parse(line) as Omit<Started, 'child'>) }));
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
}

beforeAll(async () => {
  dir = tempDir('crash');
  receiver = await startReceiver();
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 80, seed: 5 });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await ehr?.close();
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Received {
  ua: string;
  /** Expected records: [event_type, patient_id] pairs. */
  expected: [string, string][];
}

describe('strict mode across kill -9', () => {
  it('every response the client received has its records after restart; no duplicates; chain intact', async () => {
    // The sink refuses everything while the first process runs, so what it received must come
    // from the spool the restarted process finds.
    receiver.failNext(Number.MAX_SAFE_INTEGER, 503, 1);
    const first = await startChild();
    const token = await fetchToken(first.url, first.clientId, first.clientSecret, TENANT);
    const base = `${first.url}/${TENANT}`;
    const ids = ehr.population.patients.map((p) => p.id);
    const received: Received[] = [];
    const KILL_AFTER = 60;
    let killed = false;
    let n = 0;

    const one = async (worker: number): Promise<void> => {
      const i = n++;
      const ua = `crash-${worker}-${i}`;
      const headers = { authorization: `Bearer ${token}`, 'user-agent': ua };
      const kind = i % 3;
      let expected: [string, string][];
      if (kind === 0) {
        const id = ids[i % ids.length] as string;
        const res = await fetch(`${base}/Patient/${id}`, { headers });
        const body = (await res.json()) as { id?: string };
        if (res.status !== 200 || body.id !== id) throw new Error(`read answered ${res.status}`);
        expected = [['PatientView', id]];
      } else if (kind === 1) {
        const res = await fetch(`${base}/Patient/_search`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: `gender=${i % 2 === 0 ? 'male' : 'female'}&_count=3`,
        });
        const body = (await res.json()) as { entry?: { resource: { id: string } }[] };
        if (res.status !== 200) throw new Error(`search answered ${res.status}`);
        const found = (body.entry ?? []).map((e) => e.resource.id);
        expected = (found.length === 0 ? [''] : found).map((p) => ['PatientSearch', p]);
      } else {
        const pair = [ids[i % ids.length] as string, ids[(i + 1) % ids.length] as string];
        const res = await fetch(`${base}/`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/fhir+json' },
          body: JSON.stringify(listRefreshBundle('STU3', pair)),
        });
        const body = (await res.json()) as { type?: string; entry?: unknown[] };
        if (res.status !== 200 || body.entry?.length !== 14) throw new Error(`batch answered ${res.status}`);
        const types = [
          'PatientView',
          'VitalSignsView',
          'ConditionsView',
          'EncountersView',
          'AllergiesView',
          'MedicationsView',
          'CoverageView',
        ];
        expected = pair.flatMap((p) => types.map((t): [string, string] => [t, p]));
        for (const p of pair) expected.push(['PatientListView', p]);
      }
      if (killed) return; // arrived after the kill decision: still a received response
      received.push({ ua, expected });
      if (received.length >= KILL_AFTER && !killed) {
        killed = true;
        first.child.kill('SIGKILL'); // right after the Nth complete response, others in flight
      }
    };

    const worker = async (w: number): Promise<void> => {
      for (let k = 0; k < 200 && !killed; k++) {
        try {
          await one(w);
        } catch {
          // a request cut by the kill: its response was never received
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)));
    expect(killed).toBe(true);
    await new Promise<void>((resolve) => {
      if (first.child.exitCode !== null || first.child.signalCode !== null) resolve();
      else first.child.once('exit', () => resolve());
    });
    expect(first.child.signalCode).toBe('SIGKILL');

    // Restart on the same spool: it ships what the killed process left.
    expect(receiver.records).toHaveLength(0);
    receiver.failNext(0, 503);
    const second = await startChild();
    const byUa = (records: AuditRecord[]): Map<string, AuditRecord[]> => {
      const map = new Map<string, AuditRecord[]>();
      for (const r of records) {
        const list = map.get(r.user_agent);
        if (list === undefined) map.set(r.user_agent, [r]);
        else list.push(r);
      }
      return map;
    };
    await receiver.waitFor((records) => {
      const map = byUa(records);
      return received.every((r) => (map.get(r.ua)?.length ?? 0) >= r.expected.length);
    });
    second.child.kill('SIGKILL');

    const map = byUa(receiver.records);
    expect(received.length).toBeGreaterThanOrEqual(KILL_AFTER);
    for (const r of received) {
      const got = (map.get(r.ua) ?? []).map((x) => [x.event_type, x.patient_id]);
      // Exactly the expected records: all present, none twice (receiver.records is deduplicated on event_id).
      expect(got.map((g) => g.join('|')).sort()).toEqual(r.expected.map((e) => e.join('|')).sort());
    }
    expect(new Set(receiver.records.map((x) => x.event_id)).size).toBe(receiver.records.length);
    const sorted = [...receiver.requests].sort((a, b) => a.seq - b.seq);
    expect(sorted[0]?.seq).toBe(1);
    expect(verifyChain('crash-test-key', sorted)).toBeUndefined();
  }, 120_000);
});
