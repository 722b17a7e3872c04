/**
 * Grafana dashboards generated from PANELS (see panels.ts: one definition drives the console and Grafana).
 * Target: Grafana 10+/11 with the `grafana-clickhouse-datasource` plugin v4 (raw SQL editor: `editorType: 'sql'`,
 * `format` 0 = time series / 1 = table, `queryType` 'timeSeries' / 'table'; `pluginVersion` >= 4.0.0 so the
 * plugin does not migrate the query as a v3 one). Variables are `query` variables with All, because the plugin's
 * `$__conditionalAll` only treats a variable whose current value is `$__all` (or empty) as "all".
 *
 * Grafana itself is AGPL and is never installed or run here: tests check the JSON's structure instead.
 */
import { grafanaAlertRules } from './alerts.ts';
import { BOARDS, PANELS, type PanelBoard, type PanelColumn, type PanelDef, VARIABLES } from './panels.ts';

/** Fixed uid of the provisioned ClickHouse data source (provisioning/datasources/clickhouse.yaml). */
export const GRAFANA_DATASOURCE_UID = 'fhirwatch-clickhouse';
export const GRAFANA_DATASOURCE_TYPE = 'grafana-clickhouse-datasource';
/** Dashboard JSON schema version written (Grafana 11.x). */
export const GRAFANA_SCHEMA_VERSION = 39;
/** Plugin version recorded on each query (v4 query model). */
export const CLICKHOUSE_PLUGIN_VERSION = '4.10.1';

const datasource = { type: GRAFANA_DATASOURCE_TYPE, uid: GRAFANA_DATASOURCE_UID } as const;

/** Unit of a numeric column, by naming convention (Grafana unit ids). */
function unitOf(column: PanelColumn): string | undefined {
  if (column.type !== 'number') return undefined;
  if (column.name.endsWith('_ms')) return 'ms';
  if (column.name === 'error_rate') return 'percentunit';
  if (column.name === 'requests_per_s' || column.name === 'throughput_rps') return 'reqps';
  return undefined;
}

function fieldConfig(panel: PanelDef): Record<string, unknown> {
  const overrides = panel.columns.flatMap((column) => {
    const unit = unitOf(column);
    if (unit === undefined) return [];
    // after "long to wide", a series field is named `<column> <label>`: match on the column prefix
    return [
      {
        matcher: { id: 'byRegexp', options: `^${column.name}( .*)?$` },
        properties: [{ id: 'unit', value: unit }],
      },
    ];
  });
  const custom: Record<string, unknown> =
    panel.chart === 'bar'
      ? { drawStyle: 'bars', fillOpacity: 80, stacking: { mode: 'normal', group: 'A' }, lineWidth: 1 }
      : panel.chart === 'timeseries'
        ? { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false }
        : {};
  return { defaults: { custom }, overrides };
}

const GRAFANA_PANEL_TYPE: Record<PanelDef['chart'], string> = {
  timeseries: 'timeseries',
  bar: 'timeseries',
  table: 'table',
  stat: 'stat',
};

function panelOptions(panel: PanelDef): Record<string, unknown> {
  switch (panel.chart) {
    case 'timeseries':
    case 'bar':
      return {
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
        tooltip: { mode: 'multi', sort: 'desc' },
      };
    case 'table':
      return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } };
    case 'stat':
      return { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value' };
  }
}

/** Width (of 24) and height of a panel in the grid. */
function size(panel: PanelDef): { w: number; h: number } {
  if (panel.chart === 'table') return panel.columns.length > 5 ? { w: 24, h: 9 } : { w: 12, h: 9 };
  if (panel.chart === 'stat') return { w: 24, h: 4 };
  return { w: 12, h: 8 };
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Record<string, unknown>[];
  templating: { list: Record<string, unknown>[] };
  [key: string]: unknown;
}

/** The dashboard JSON model of one board. Panel ids are 1-based positions within the board. */
export function grafanaDashboard(board: PanelBoard): GrafanaDashboard {
  const meta = BOARDS.find((b) => b.board === board);
  if (meta === undefined) throw new RangeError(`unknown board ${board}`);
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const panels = PANELS.filter((panel) => panel.board === board).map((panel, i) => {
    const { w, h } = size(panel);
    if (x + w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const gridPos = { h, w, x, y };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    const table = panel.chart === 'table' || panel.chart === 'stat';
    return {
      id: i + 1,
      type: GRAFANA_PANEL_TYPE[panel.chart],
      title: panel.title,
      description: panel.description,
      datasource,
      gridPos,
      fieldConfig: fieldConfig(panel),
      options: panelOptions(panel),
      targets: [
        {
          refId: 'A',
          datasource,
          editorType: 'sql',
          format: table ? 1 : 0,
          queryType: table ? 'table' : 'timeSeries',
          pluginVersion: CLICKHOUSE_PLUGIN_VERSION,
          rawSql: panel.sql,
        },
      ],
    };
  });
  return {
    annotations: { list: [] },
    description: `Generated from @fhirwatch/dashboards PANELS (dashboards/src/panels.ts); do not edit by hand: npm run generate -w @fhirwatch/dashboards`,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    links: [],
    panels,
    refresh: board === 'sre' ? '30s' : '',
    schemaVersion: GRAFANA_SCHEMA_VERSION,
    tags: ['fhirwatch', board],
    templating: {
      list: VARIABLES.map((variable) => ({
        type: 'query',
        name: variable.name,
        label: variable.label,
        datasource,
        query: variable.sql,
        definition: variable.sql,
        refresh: 2,
        multi: true,
        includeAll: true,
        current: { selected: true, text: ['All'], value: ['$__all'] },
        options: [],
        sort: 1,
        hide: 0,
        skipUrlSync: false,
      })),
    },
    time: { from: board === 'sre' ? 'now-1h' : board === 'compliance' ? 'now-7d' : 'now-30d', to: 'now' },
    timepicker: {},
    timezone: 'utc',
    title: meta.title,
    uid: meta.uid,
    version: 1,
    weekStart: '',
  };
}

/** Every generated file (path relative to dashboards/) with its content, as the generator writes them. */
export function generatedFiles(): { path: string; content: string }[] {
  return [
    ...BOARDS.map((meta) => ({
      path: `grafana/${meta.file}`,
      content: `${JSON.stringify(grafanaDashboard(meta.board), null, 2)}\n`,
    })),
    { path: 'provisioning/datasources/clickhouse.yaml', content: DATASOURCE_YAML },
    { path: 'provisioning/dashboards/fhirwatch.yaml', content: DASHBOARDS_YAML },
    {
      path: 'provisioning/alerting/fhirwatch-alerts.json',
      content: `${JSON.stringify(grafanaAlertRules(datasource, CLICKHOUSE_PLUGIN_VERSION), null, 2)}\n`,
    },
  ];
}

const DATASOURCE_YAML = `# Generated by dashboards/scripts/generate-grafana.ts; do not edit by hand.
# Grafana data source for the fhirwatch store on a ClickHouse server (grafana-clickhouse-datasource plugin).
# The dashboards in dashboards/grafana/ reference this data source by its fixed uid.
# Connection values come from the environment of the Grafana process (Grafana expands $VAR in provisioning files):
#   FHIRWATCH_CLICKHOUSE_HOST, FHIRWATCH_CLICKHOUSE_PORT (HTTP, e.g. 8123), FHIRWATCH_CLICKHOUSE_USER,
#   FHIRWATCH_CLICKHOUSE_PASSWORD. Use a read-only ClickHouse user: the audit tables hold PHI.
apiVersion: 1

datasources:
  - name: fhirwatch ClickHouse
    type: ${GRAFANA_DATASOURCE_TYPE}
    uid: ${GRAFANA_DATASOURCE_UID}
    editable: false
    jsonData:
      host: $FHIRWATCH_CLICKHOUSE_HOST
      port: $FHIRWATCH_CLICKHOUSE_PORT
      protocol: http
      secure: false
      username: $FHIRWATCH_CLICKHOUSE_USER
      defaultDatabase: default
    secureJsonData:
      password: $FHIRWATCH_CLICKHOUSE_PASSWORD
`;

const DASHBOARDS_YAML = `# Generated by dashboards/scripts/generate-grafana.ts; do not edit by hand.
# Loads the fhirwatch dashboards (dashboards/grafana/*.json) into a "fhirwatch" folder.
# Mount or copy dashboards/grafana/ to the path below (or change it).
apiVersion: 1

providers:
  - name: fhirwatch
    orgId: 1
    folder: fhirwatch
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: /var/lib/grafana/dashboards/fhirwatch
      foldersFromFilesStructure: false
`;
