/**
 * An incident whose period is still running grows (issue 19 left it frozen at its first detection): a later run
 * that finds more rows or patients for the same report, tenant, principal and period updates the stored incident
 * (counts, patient ids; first detection time kept), records a lifecycle event by the sink that keeps the state and
 * names the change, and delivers nothing again. Real chDB, the store's own functions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changeIncidentState,
  getIncident,
  type IncidentCandidate,
  incidentKey,
  listIncidents,
  storeNewIncidents,
} from '../src/incidents/store.ts';
import { openStore } from '../src/store/open.ts';
import { migrate } from '../src/store/schema/migrations.ts';

let dir: string;
let client: ClickHouseClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-incident-growth-'));
  client = openStore({ path: dir });
  await migrate(client);
}, 180_000);

afterAll(async () => {
  await client?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const DAY = new Date('2026-12-07T00:00:00.000Z');
const candidate = (principal: string, rows: number, ids: string[]): IncidentCandidate => ({
  report: 'volume',
  tenant_id: 'tenant-a',
  principal,
  period_from: DAY,
  period_to: new Date(DAY.getTime() + 86_400_000),
  rows,
  patients: ids.length,
  patient_ids: ids,
});
const at = (iso: string): Date => new Date(iso);

describe('incidents that grow', () => {
  it('a later run with more rows updates the incident, keeps its first detection and state, delivers nothing again', async () => {
    const id = incidentKey('volume', 'tenant-a', 'dr-x', DAY);
    const created = await storeNewIncidents(
      client,
      [candidate('dr-x', 3, ['p1', 'p2'])],
      () => ['teams'],
      at('2026-12-07T09:00:00Z'),
    );
    expect(created.map((i) => i.incident_id)).toEqual([id]);

    // the same hit, unchanged: nothing new, no event
    expect(
      await storeNewIncidents(
        client,
        [candidate('dr-x', 3, ['p1', 'p2'])],
        () => ['teams'],
        at('2026-12-07T09:15:00Z'),
      ),
    ).toEqual([]);
    expect((await getIncident(client, id))?.events.length).toBe(1);

    // grown: 7 rows, 4 patients
    const again = await storeNewIncidents(
      client,
      [candidate('dr-x', 7, ['p1', 'p2', 'p3', 'p4'])],
      () => ['teams'],
      at('2026-12-07T09:30:00Z'),
    );
    expect(again).toEqual([]);
    const detail = await getIncident(client, id);
    expect(detail?.incident).toMatchObject({
      rows: 7,
      patients: 4,
      patient_ids: ['p1', 'p2', 'p3', 'p4'],
      detected_at: '2026-12-07T09:00:00.000Z',
      state: 'open',
    });
    expect(detail?.events.map((e) => [e.actor, e.from_state, e.to_state, e.note])).toEqual([
      ['fhirwatch-sink', '', 'open', ''],
      ['fhirwatch-sink', 'open', 'open', 'seen again: 7 rows, 4 patients (was 3 rows, 2 patients)'],
    ]);
    // one delivery row per destination, as at creation
    expect(detail?.deliveries.map((d) => [d.destination, d.status])).toEqual([['teams', 'pending']]);
    const listed = await listIncidents(client);
    expect(listed.filter((i) => i.incident_id === id).map((i) => [i.rows, i.patients])).toEqual([[7, 4]]);
  });

  it('an acknowledged or closed incident keeps its state when it grows; the event says so', async () => {
    const acked = incidentKey('volume', 'tenant-a', 'dr-acked', DAY);
    const closed = incidentKey('volume', 'tenant-a', 'dr-closed', DAY);
    await storeNewIncidents(
      client,
      [candidate('dr-acked', 2, ['p1']), candidate('dr-closed', 2, ['p1'])],
      () => [],
      at('2026-12-07T10:00:00Z'),
    );
    await changeIncidentState(client, { id: acked, action: 'ack', actor: 'alice', at: at('2026-12-07T10:05:00Z') });
    await changeIncidentState(client, {
      id: closed,
      action: 'close',
      actor: 'alice',
      note: 'known: covering a colleague',
      at: at('2026-12-07T10:05:00Z'),
    });
    await storeNewIncidents(
      client,
      [candidate('dr-acked', 5, ['p1', 'p2']), candidate('dr-closed', 9, ['p1', 'p2', 'p3'])],
      () => [],
      at('2026-12-07T11:00:00Z'),
    );
    const a = await getIncident(client, acked);
    expect(a?.incident).toMatchObject({ rows: 5, patients: 2, state: 'acknowledged' });
    expect(a?.events.at(-1)).toMatchObject({
      from_state: 'acknowledged',
      to_state: 'acknowledged',
      note: 'seen again: 5 rows, 2 patients (was 2 rows, 1 patient)',
    });
    const c = await getIncident(client, closed);
    expect(c?.incident).toMatchObject({ rows: 9, patients: 3, state: 'closed' });
    expect(c?.events.at(-1)).toMatchObject({
      from_state: 'closed',
      to_state: 'closed',
      note: 'seen again after closing: 9 rows, 3 patients (was 2 rows, 1 patient)',
    });
  });
});
