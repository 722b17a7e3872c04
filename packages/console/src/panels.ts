/**
 * The console's panels: its implementation of the query API's extension point (PanelProvider of
 * @fhirwatch/clickhouse-sink) over the @fhirwatch/dashboards definitions, the same ones the Grafana dashboards are
 * generated from. The sink's query worker (a thread, which cannot be handed functions) loads `panelProvider` from
 * this module's URL; the sink checks its shape when it loads it.
 */
import type { PanelProvider, QueryPanel } from '@fhirwatch/clickhouse-sink';
import { expandMacros, PANELS, VARIABLES } from '@fhirwatch/dashboards';

/** A panel reads audit records when its definition says so (the sink refuses one that reads them unsaid). */
const panels: readonly QueryPanel[] = PANELS.map((panel) => ({
  ...panel,
  readsAuditRecords: panel.readsAuditRecords === true,
}));

export const panelProvider: PanelProvider = {
  panels,
  variables: VARIABLES,
  expandMacros,
  moduleUrl: import.meta.url,
};
