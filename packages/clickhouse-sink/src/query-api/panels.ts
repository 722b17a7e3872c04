/**
 * The query API's extension point for dashboard panels (`GET /api/panels`, `/api/panels/<id>`, `/api/variables`):
 * a {@link PanelProvider} that another package implements (@fhirwatch/console over @fhirwatch/dashboards) and the
 * sink checks when it loads it. Whether a panel's read is recorded in audit_query_log is the panel's own
 * property ({@link QueryPanel.readsAuditRecords}); a panel whose SQL names a table of audit records and does not
 * say so is refused at load, so no panel can show patient or user ids without its read being recorded.
 */
import { SinkError } from '../errors.ts';
import { AUDIT_DEDUP_VIEW, AUDIT_TABLE, AUDIT_VIP_TABLE } from '../store/schema/audit.ts';
import { AUDIT_BY_PATIENT_TABLE } from '../store/schema/audit-by-patient.ts';
import { CARE_RELATIONSHIPS_TABLE, GROUP_MEMBERS_TABLE } from '../store/schema/audit-context.ts';
import { AUDIT_REQUESTS_TABLE } from '../store/schema/audit-requests.ts';
import { AUDIT_QUERY_LOG_TABLE } from '../store/schema/query-log.ts';

/** A panel the API serves: its SQL (with the provider's macros) and how its answer is shaped. */
export interface QueryPanel {
  readonly id: string;
  /** Display group (e.g. a dashboard); no rule of the API depends on it. */
  readonly board: string;
  readonly title: string;
  readonly description: string;
  readonly chart: string;
  readonly sql: string;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  /** The answer shows audit records (patient or user ids): each read is recorded in audit_query_log first. */
  readonly readsAuditRecords: boolean;
}

/** Macro context of a panel query: the range, the series interval and the selected template variables. */
export interface MacroContext {
  from: Date;
  to: Date;
  intervalSeconds: number;
  vars: Record<string, string[] | 'all'>;
}

/** Macros in a panel's SQL → plain SQL (e.g. Grafana ClickHouse data-source macros). */
export type ExpandMacros = (sql: string, ctx: MacroContext) => string;

/** A template variable (a selector): one string column of values. */
export interface PanelVariable {
  readonly name: string;
  readonly sql: string;
}

/**
 * What a package implements to give the query API its panels. The query worker (a thread, which cannot be handed
 * functions) loads the same provider from `moduleUrl`: the module's export {@link PANEL_PROVIDER_EXPORT}.
 */
export interface PanelProvider {
  readonly panels: readonly QueryPanel[];
  readonly variables: readonly PanelVariable[];
  readonly expandMacros: ExpandMacros;
  /** URL of a module exporting this provider as `panelProvider`; needed when the query API runs on a worker. */
  readonly moduleUrl?: string;
}

/** The export a panel module names its provider by. */
export const PANEL_PROVIDER_EXPORT = 'panelProvider';

/** Tables and views whose rows are audit records or name patients and users (reading them is an audit read). */
export const AUDIT_RECORD_TABLES: readonly string[] = [
  AUDIT_TABLE,
  AUDIT_DEDUP_VIEW,
  AUDIT_BY_PATIENT_TABLE,
  AUDIT_REQUESTS_TABLE,
  AUDIT_VIP_TABLE,
  CARE_RELATIONSHIPS_TABLE,
  GROUP_MEMBERS_TABLE,
  AUDIT_QUERY_LOG_TABLE,
];

const tableRef = new RegExp(`\\b(${AUDIT_RECORD_TABLES.join('|')})\\b`);

const invalid = (source: string, message: string): SinkError =>
  new SinkError('FW_SINK_OPTIONS', `panel provider ${source}: ${message}`);

const isString = (value: unknown): value is string => typeof value === 'string';

/** Checks a provider's shape and its panels' audit-read declarations; returns it typed, or throws FW_SINK_OPTIONS. */
export function checkPanelProvider(value: unknown, source: string): PanelProvider {
  if (typeof value !== 'object' || value === null) throw invalid(source, 'is not an object');
  const provider = value as Record<string, unknown>;
  if (typeof provider.expandMacros !== 'function') throw invalid(source, "has no function 'expandMacros'");
  if (!Array.isArray(provider.panels)) throw invalid(source, "has no array 'panels'");
  if (!Array.isArray(provider.variables)) throw invalid(source, "has no array 'variables'");
  if (provider.moduleUrl !== undefined && !isString(provider.moduleUrl))
    throw invalid(source, "'moduleUrl' is not a string");
  const ids = new Set<string>();
  for (const [i, item] of (provider.panels as unknown[]).entries()) {
    const panel = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    for (const key of ['id', 'board', 'title', 'description', 'chart', 'sql'] as const) {
      if (!isString(panel[key])) throw invalid(source, `panel ${i} has no string '${key}'`);
    }
    const id = panel.id as string;
    if (ids.has(id)) throw invalid(source, `panel id '${id}' is used twice`);
    ids.add(id);
    if (!Array.isArray(panel.columns) || !panel.columns.every((c) => isString(c?.name) && isString(c?.type))) {
      throw invalid(source, `panel '${id}' needs 'columns' [{ name, type }]`);
    }
    if (typeof panel.readsAuditRecords !== 'boolean')
      throw invalid(source, `panel '${id}' has no boolean 'readsAuditRecords'`);
    const table = tableRef.exec(panel.sql as string)?.[1];
    if (table !== undefined && panel.readsAuditRecords !== true) {
      throw invalid(source, `panel '${id}' reads ${table} but does not declare readsAuditRecords: true`);
    }
  }
  for (const [i, item] of (provider.variables as unknown[]).entries()) {
    const variable = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    if (!isString(variable.name) || !isString(variable.sql))
      throw invalid(source, `variable ${i} needs 'name' and 'sql'`);
  }
  return value as PanelProvider;
}

/** Imports `moduleUrl` and checks its {@link PANEL_PROVIDER_EXPORT} export. */
export async function loadPanelProvider(moduleUrl: string): Promise<PanelProvider> {
  let module: Record<string, unknown>;
  try {
    module = (await import(moduleUrl)) as Record<string, unknown>;
  } catch (cause) {
    throw new SinkError('FW_SINK_OPTIONS', `panel provider ${moduleUrl}: cannot be imported`, { cause });
  }
  return checkPanelProvider(module[PANEL_PROVIDER_EXPORT], `${moduleUrl}#${PANEL_PROVIDER_EXPORT}`);
}

/** The provider a query worker will load: `moduleUrl` checked here, at start, and shown to serve the same panels. */
export async function panelModuleForWorker(provider: PanelProvider): Promise<string> {
  checkPanelProvider(provider, 'queryApi.panels');
  if (provider.moduleUrl === undefined) {
    throw new SinkError(
      'FW_SINK_OPTIONS',
      "queryApi.panels: the query API runs on a worker thread, which loads panels from a module: give the provider a 'moduleUrl' (a module exporting it as panelProvider), or set queryApi.thread to 'inline'",
    );
  }
  const loaded = await loadPanelProvider(provider.moduleUrl);
  const want = provider.panels.map((p) => p.id).join(',');
  if (loaded.panels.map((p) => p.id).join(',') !== want) {
    throw new SinkError(
      'FW_SINK_OPTIONS',
      `queryApi.panels: the module ${provider.moduleUrl} serves other panels than the provider passed`,
    );
  }
  return provider.moduleUrl;
}
