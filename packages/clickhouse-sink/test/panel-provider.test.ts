/**
 * The query API's panel extension point: a provider is shape-checked when the sink loads it; a panel that reads
 * audit records must say so; worker mode loads the provider from its module or refuses to start; an audit panel's
 * read is recorded in audit_query_log, another panel's is not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PanelProvider, type SinkServer, startSink } from '../src/index.ts';
import { checkPanelProvider } from '../src/query-api/panels.ts';
import { panelProvider } from './panel-module.ts';

let dir: string;
let sink: SinkServer | undefined;
const store = (): string => join(dir, 'store');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-panel-provider-'));
});
afterAll(async () => {
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

const withoutModule: PanelProvider = {
  panels: panelProvider.panels,
  variables: [],
  expandMacros: panelProvider.expandMacros,
};

describe('checkPanelProvider', () => {
  it('accepts a well-formed provider and names what is wrong with a bad one', () => {
    expect(checkPanelProvider(panelProvider, 'test')).toBe(panelProvider);
    expect(() => checkPanelProvider(undefined, 'm')).toThrow('panel provider m: is not an object');
    expect(() => checkPanelProvider({ ...panelProvider, expandMacros: 'x' }, 'm')).toThrow(
      "no function 'expandMacros'",
    );
    const twice = { ...panelProvider, panels: [panelProvider.panels[1], panelProvider.panels[1]] };
    expect(() => checkPanelProvider(twice, 'm')).toThrow("panel id 'constant' is used twice");
    const undeclared = { ...panelProvider.panels[0], readsAuditRecords: false };
    expect(() => checkPanelProvider({ ...panelProvider, panels: [undeclared] }, 'm')).toThrow(
      "panel 'readers-per-user' reads audit_events but does not declare readsAuditRecords: true",
    );
    const { readsAuditRecords: _, ...unsaid } = panelProvider.panels[1]!;
    expect(() => checkPanelProvider({ ...panelProvider, panels: [unsaid] }, 'm')).toThrow(
      "panel 'constant' has no boolean 'readsAuditRecords'",
    );
  });
});

describe('startSink with panels', () => {
  it('worker mode: a provider without a module is refused with what to do; a malformed module too', async () => {
    await expect(startSink({ store: store(), queryApi: { panels: withoutModule } })).rejects.toThrow(
      /worker thread, which loads panels from a module: give the provider a 'moduleUrl'/,
    );
    const bad = new URL('./panel-module-bad.ts', import.meta.url).href;
    await expect(
      startSink({ store: store(), queryApi: { panels: { ...withoutModule, moduleUrl: bad } } }),
    ).rejects.toThrow("panel-module-bad.ts#panelProvider: has no array 'panels'");
    // inline mode takes the provider as it is
    sink = await startSink({ store: store(), queryApi: { panels: withoutModule, thread: 'inline' } });
    const list = (await (await fetch(`${sink.url}/api/panels`)).json()) as { panels: { id: string }[] };
    expect(list.panels.map((p) => p.id)).toEqual(['readers-per-user', 'constant']);
    await sink.close();
    sink = undefined;
  });

  it('worker mode serves the module’s panels; only the audit panel’s read is logged, before its answer', async () => {
    sink = await startSink({ store: store(), queryApi: { panels: panelProvider } });
    const list = (await (await fetch(`${sink.url}/api/panels`)).json()) as { panels: { id: string }[] };
    expect(list.panels.map((p) => p.id)).toEqual(['readers-per-user', 'constant']);
    const headers = { 'x-fhirwatch-actor': 'panel-officer', 'x-fhirwatch-surface': 'console' };
    expect((await fetch(`${sink.url}/api/panels/constant`, { headers })).status).toBe(200);
    expect((await fetch(`${sink.url}/api/panels/readers-per-user`, { headers })).status).toBe(200);
    const log = (await (await fetch(`${sink.url}/api/audit/query-log`)).json()) as {
      rows: { endpoint: string; actor: string; surface: string }[];
    };
    const panels = log.rows.filter((r) => r.endpoint.startsWith('panel:'));
    expect(panels).toEqual([
      { ...panels[0], endpoint: 'panel:readers-per-user', actor: 'panel-officer', surface: 'console' },
    ]);
    // no log table, no answer
    await sink.close();
    sink = undefined;
    const { openStore } = await import('../src/store/open.ts');
    const client = openStore({ path: store() });
    await client.command({ query: 'DROP TABLE audit_query_log' });
    await client.close();
    sink = await startSink({ store: store(), migrate: false, queryApi: { panels: panelProvider } });
    const refused = await fetch(`${sink.url}/api/panels/readers-per-user`, { headers });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FW_SINK_STORE_UNAVAILABLE');
    expect((await fetch(`${sink.url}/api/panels/constant`, { headers })).status).toBe(200);
  }, 60_000);
});
