/**
 * The panels the console shows, as a module the sink's query worker imports by URL (a worker thread cannot be
 * handed functions such as `expandMacros`): the @fhirwatch/dashboards definitions, unchanged.
 */
import { expandMacros, PANELS, VARIABLES } from '@fhirwatch/dashboards';

export const panels = PANELS;
export const variables = VARIABLES;
export { expandMacros };
