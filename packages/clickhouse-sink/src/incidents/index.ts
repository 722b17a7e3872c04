/** Incidents (issue 19): the monitor that runs in the sink, the destinations and the store's lifecycle. */
export type { DestinationConfig, IncidentMessage } from './destinations.ts';
export {
  CEF_SEVERITY,
  cefEvent,
  checkDestinations,
  DeliveryError,
  deliver,
  incidentMessage,
  SYSLOG_PRI,
  syslogLine,
  teamsCard,
} from './destinations.ts';
export type { IncidentMonitorStats, IncidentsOptions } from './monitor.ts';
export { backoffMs, IncidentMonitor, monitoringReports, periodsAround } from './monitor.ts';
export type {
  Incident,
  IncidentAction,
  IncidentCandidate,
  IncidentDelivery,
  IncidentDetail,
  IncidentEvent,
  IncidentFilter,
  IncidentState,
} from './store.ts';
export {
  changeIncidentState,
  getIncident,
  INCIDENT_STATES,
  incidentKey,
  isIncidentId,
  listIncidents,
  MAX_INCIDENT_NOTE,
  storeNewIncidents,
} from './store.ts';
