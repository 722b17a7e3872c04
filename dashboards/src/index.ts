export type { AlertDef } from './alerts.ts';
export { ALERTS, alertSql, grafanaAlertRules } from './alerts.ts';
export type { DashboardErrorCode } from './errors.ts';
export { DASHBOARD_ERROR_CODES, DASHBOARD_ERRORS, DashboardError } from './errors.ts';
export type { GrafanaDashboard } from './grafana.ts';
export {
  CLICKHOUSE_PLUGIN_VERSION,
  GRAFANA_DATASOURCE_TYPE,
  GRAFANA_DATASOURCE_UID,
  GRAFANA_SCHEMA_VERSION,
  generatedFiles,
  grafanaDashboard,
} from './grafana.ts';
export type { MacroContext } from './macros.ts';
export { expandMacros } from './macros.ts';
export type {
  PanelBoard,
  PanelChart,
  PanelColumn,
  PanelColumnType,
  PanelDef,
  PanelVariable,
} from './panels.ts';
export { BOARDS, PANELS, PIPELINE_ATTR_OUTCOME, PIPELINE_METRICS, panelSql, panelsOf, VARIABLES } from './panels.ts';
export type { TelemetrySample, TelemetrySampleOptions } from './telemetry-sample.ts';
export { generateTelemetrySample } from './telemetry-sample.ts';
