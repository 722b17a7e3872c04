/**
 * The console's reads of audit records, each in audit_query_log before its answer, with who asked: the panels
 * that show patient or user ids (each panel says whether it does: PanelDef.readsAuditRecords), the CSV / FHIR
 * downloads and the reports. Through `fhirwatch sink --console`'s set-up (query worker, panels loaded from
 * src/panels.ts by URL).
 */
import { PANELS } from '@fhirwatch/dashboards';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleFixture, startConsoleFixture } from './fixture.ts';

let fixture: ConsoleFixture;
const headers = { 'x-fhirwatch-surface': 'console', 'x-fhirwatch-actor': 'console-officer' };

interface LogRow {
  endpoint: string;
  actor: string;
  surface: string;
  format: string;
  rows: number;
  status: number;
}

async function log(): Promise<LogRow[]> {
  const body = (await (await fetch(`${fixture.sink.url}/api/audit/query-log?limit=5000`)).json()) as { rows: LogRow[] };
  return body.rows.filter((r) => r.actor === 'console-officer');
}

beforeAll(async () => {
  fixture = await startConsoleFixture('read-log');
}, 180_000);
afterAll(async () => {
  await fixture?.close();
});

describe('console reads in audit_query_log', () => {
  it('every panel the worker serves; a panel that reads audit records is logged, another is not', async () => {
    const list = (await (await fetch(`${fixture.sink.url}/api/panels`, { headers })).json()) as {
      panels: { id: string; readsAuditRecords: boolean }[];
    };
    expect(list.panels.map((p) => p.id)).toEqual(PANELS.map((p) => p.id));
    const audit = list.panels.filter((p) => p.readsAuditRecords).map((p) => p.id);
    expect(audit).toContain('compliance-top-users');
    const to = new Date().toISOString();
    const from = fixture.dataset.plants.reportFrom.toISOString();
    for (const id of ['compliance-top-users', 'sre-headline']) {
      const response = await fetch(`${fixture.sink.url}/api/panels/${id}?from=${from}&to=${to}`, { headers });
      expect(response.status, id).toBe(200);
    }
    const rows = await log();
    const top = rows.filter((r) => r.endpoint === 'panel:compliance-top-users');
    expect(top).toHaveLength(1);
    expect(top[0]).toMatchObject({ surface: 'console', status: 200 });
    expect(top[0]!.rows).toBeGreaterThan(0);
    expect(rows.some((r) => r.endpoint === 'panel:sre-headline')).toBe(false);
  });

  it('CSV and FHIR downloads and a report, each logged with its format and row count', async () => {
    const { reportFrom, reportTo, activityUser } = fixture.dataset.plants;
    const range = `from=${reportFrom.toISOString()}&to=${reportTo.toISOString()}`;
    const paths = [
      `/api/audit/search?${range}&user=${activityUser.user_id}&format=csv`,
      `/api/audit/search?${range}&user=${activityUser.user_id}&format=fhir`,
      `/api/audit/report/failures?${range}&format=csv`,
    ];
    for (const path of paths) {
      const response = await fetch(`${fixture.sink.url}${path}`, { headers });
      expect(response.status, path).toBe(200);
      expect((await response.arrayBuffer()).byteLength, path).toBeGreaterThan(100);
    }
    const rows = await log();
    const downloads = rows.filter((r) => r.endpoint === 'search' || r.endpoint === 'report:failures');
    expect(downloads.map((r) => `${r.endpoint}/${r.format}`).sort()).toEqual([
      'report:failures/csv',
      'search/csv',
      'search/fhir',
    ]);
    expect(downloads.every((r) => r.surface === 'console' && r.rows > 0)).toBe(true);
  });
});
