/**
 * The committed Grafana files: generated from PANELS (byte for byte), structurally valid dashboards for the
 * grafana-clickhouse-datasource plugin, pointing at the provisioned data source.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GRAFANA_DATASOURCE_TYPE, GRAFANA_DATASOURCE_UID, generatedFiles } from '../src/grafana.ts';
import { BOARDS, PANELS, VARIABLES } from '../src/panels.ts';

const root = join(import.meta.dirname, '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

describe('Grafana dashboards', () => {
  it('the committed files equal the generator output (run `npm run generate -w @fhirwatch/dashboards`)', () => {
    const files = generatedFiles();
    expect(files.map((f) => f.path).sort()).toEqual(
      [
        'grafana/compliance.json',
        'grafana/load-tests.json',
        'grafana/sre-overview.json',
        'provisioning/alerting/fhirwatch-alerts.json',
        'provisioning/dashboards/fhirwatch.yaml',
        'provisioning/datasources/clickhouse.yaml',
      ].sort(),
    );
    for (const file of files) expect(read(file.path), file.path).toBe(file.content);
  });

  it('the provisioned data source is the ClickHouse plugin with the uid the dashboards use', () => {
    const provisioning = parse(read('provisioning/datasources/clickhouse.yaml')) as {
      apiVersion: number;
      datasources: { uid: string; type: string; jsonData: Record<string, unknown> }[];
    };
    expect(provisioning.apiVersion).toBe(1);
    expect(provisioning.datasources).toHaveLength(1);
    const [source] = provisioning.datasources;
    expect(source!.type).toBe(GRAFANA_DATASOURCE_TYPE);
    expect(source!.uid).toBe(GRAFANA_DATASOURCE_UID);
    expect(source!.jsonData.protocol).toBe('http');
    const dashboards = parse(read('provisioning/dashboards/fhirwatch.yaml')) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(dashboards.apiVersion).toBe(1);
    expect(dashboards.providers[0]!.type).toBe('file');
    expect(dashboards.providers[0]!.options.path).toMatch(/^\//);
  });

  it.each(BOARDS.map((b) => [b.file, b] as const))('%s is a valid dashboard of its board’s panels', (file, meta) => {
    const uid = (parse(read('provisioning/datasources/clickhouse.yaml')) as { datasources: { uid: string }[] })
      .datasources[0]!.uid;
    const dashboard = JSON.parse(read(`grafana/${file}`)) as {
      uid: string;
      title: string;
      schemaVersion: number;
      time: { from: string; to: string };
      panels: {
        id: number;
        type: string;
        title: string;
        datasource: { type: string; uid: string };
        gridPos: GridPos;
        targets: { refId: string; datasource: { uid: string }; rawSql: string; format: number; editorType: string }[];
      }[];
      templating: { list: { name: string; type: string; query: string; includeAll: boolean; multi: boolean }[] };
    };
    expect(dashboard.uid).toBe(meta.uid);
    expect(dashboard.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(dashboard.title).toBe(meta.title);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.time.to).toBe('now');

    const panels = PANELS.filter((p) => p.board === meta.board);
    expect(dashboard.panels.map((p) => p.title)).toEqual(panels.map((p) => p.title));
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(panels.length);
    dashboard.panels.forEach((panel, i) => {
      const def = panels[i]!;
      expect(['timeseries', 'table', 'stat']).toContain(panel.type);
      expect(panel.datasource).toEqual({ type: GRAFANA_DATASOURCE_TYPE, uid });
      const { h, w, x, y } = panel.gridPos;
      for (const v of [h, w, x, y]) expect(Number.isInteger(v) && v >= 0).toBe(true);
      expect(w).toBeGreaterThan(0);
      expect(h).toBeGreaterThan(0);
      expect(x + w).toBeLessThanOrEqual(24);
      expect(panel.targets).toHaveLength(1);
      const [target] = panel.targets;
      expect(target!.rawSql).toBe(def.sql);
      expect(target!.datasource.uid).toBe(uid);
      expect(target!.editorType).toBe('sql');
      expect(target!.format).toBe(def.chart === 'table' || def.chart === 'stat' ? 1 : 0);
    });
    // no two panels overlap in the grid
    const cells = new Set<string>();
    for (const { gridPos } of dashboard.panels) {
      for (let dx = 0; dx < gridPos.w; dx += 1) {
        for (let dy = 0; dy < gridPos.h; dy += 1) {
          const cell = `${gridPos.x + dx},${gridPos.y + dy}`;
          expect(cells.has(cell), `overlap at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
    }

    // the variables every panel's SQL refers to exist, as multi-value query variables with All
    const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect([...variables.keys()].sort()).toEqual(['interaction', 'tenant']);
    for (const variable of variables.values()) {
      expect(variable.type).toBe('query');
      expect(variable.includeAll && variable.multi).toBe(true);
      expect(variable.query).toBe(VARIABLES.find((v) => v.name === variable.name)!.sql);
    }
    for (const panel of dashboard.panels) {
      const used = [...panel.targets[0]!.rawSql.matchAll(/\$\{?(\w+)\}?/g)]
        .map((m) => m[1]!)
        .filter((name) => !name.startsWith('__'));
      for (const name of used) expect(variables.has(name), `${panel.title} uses $${name}`).toBe(true);
    }
  });
});
