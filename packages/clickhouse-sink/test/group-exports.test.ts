/**
 * Group exports count the group's patients when the membership is known (real chDB): from an imported member
 * list, or from the patients an earlier export of the same group disclosed; an unknown group stays at 0 and
 * says so. Imported members also make an export large.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AuditRecord } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportsReport } from '../src/compliance/index.ts';
import { importGroupMembers } from '../src/compliance/relationships.ts';
import { openStore } from '../src/store/open.ts';
import { migrate } from '../src/store/schema/index.ts';
import { record, TENANT } from './audit-builder.ts';
import { insertRecords } from './queries-fixture.ts';

const DAY = Date.UTC(2026, 10, 17);
const kickOff = (at: number, group: string, patients: string[] = ['']): AuditRecord[] => {
  const traceId = `e${at.toString(16).padStart(31, '0')}`;
  return patients.map((patient) =>
    record({
      at,
      user: 'exporter',
      eventType: 'ExportInitiation',
      interaction: 'operation',
      resourceType: 'Group',
      query: `_group=${encodeURIComponent(group)}&_type=Patient`,
      patient,
      traceId,
      status: 202,
    }),
  );
};
const records = [
  ...kickOff(DAY + 10 * 3_600_000, 'cardiology ward'), // members imported below
  ...kickOff(DAY - 3 * 86_400_000, 'oncology', ['p1', 'p2']), // an earlier export disclosed its members
  ...kickOff(DAY + 11 * 3_600_000, 'oncology'),
  ...kickOff(DAY + 12 * 3_600_000, 'unknown-group'),
];

let dir: string;
let client: ClickHouseClient;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-group-exports-'));
  client = openStore({ path: join(dir, 'store') });
  await migrate(client);
  await insertRecords(client, records);
  const csv = ['group,patient', 'cardiology ward,c1', 'cardiology ward,c2', 'cardiology ward,c3', 'other,c9'].join(
    '\n',
  );
  expect(await importGroupMembers(client, csv, { tenantId: TENANT })).toEqual({ rows: 4 });
}, 120_000);
afterAll(async () => {
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('group exports', () => {
  it('count the members of the group when known, and say where the count came from', async () => {
    const report = await exportsReport(client, { from: new Date(DAY), to: new Date(DAY + 86_400_000) });
    expect(report.rows.map((r) => [r.group_id, r.patients, r.patients_source, r.large])).toEqual([
      ['cardiology ward', 3, 'import', false],
      ['oncology', 2, 'earlier-export', false],
      ['unknown-group', 0, '', false],
    ]);
    const small = await exportsReport(client, {
      from: new Date(DAY),
      to: new Date(DAY + 86_400_000),
      largePatients: 3,
    });
    expect(small.rows.map((r) => r.large)).toEqual([true, false, false]);
  });
});
