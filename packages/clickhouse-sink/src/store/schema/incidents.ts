/**
 * Migration 12 (issue 19): incidents that reach the privacy team.
 * - `audit_incidents`: one row per incident (a monitoring report's hit: report, tenant, principal, period), keyed by
 *   the deterministic `incident_id` (`incidentKey`, src/incidents/store.ts). ReplacingMergeTree on the key: the sink reads the key
 *   before it inserts (one store-level uniqueness read), and reads use FINAL, so a hit found again by a later run or
 *   after a restart is never a second incident.
 * - `audit_incident_events`: the lifecycle, append-only (MergeTree): every state change (created → open →
 *   acknowledged → closed) with who, when, from, to and the note. The current state is the latest change.
 * - `audit_incident_outbox`: one row per (incident, destination) and delivery attempt: ReplacingMergeTree whose
 *   version is the attempt number (delivered = the highest), so the newest attempt wins and nothing is lost across a
 *   sink restart; the dispatcher reads the pending ones with FINAL.
 * Patient ids of an incident (PHI) live here, in the audit store, with the audit retention; they leave the store
 * only when the tenant's settings allow it (`incidents.patientIds`).
 */
import type { TableDef } from './types.ts';

export const INCIDENTS_TABLE = 'audit_incidents';
export const INCIDENT_EVENTS_TABLE = 'audit_incident_events';
export const INCIDENT_OUTBOX_TABLE = 'audit_incident_outbox';

const lc = 'LowCardinality(String)';
const time = "DateTime64(3, 'UTC')";

export function incidentsTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: INCIDENTS_TABLE,
    comment: 'fhirwatch: incidents found by the monitoring reports (one row per incident key)',
    columns: [
      { name: 'incident_id', type: 'String', comment: 'sha256(report, tenant, principal, period) hex, 32 chars' },
      { name: 'report', type: lc },
      { name: 'tenant_id', type: lc },
      { name: 'principal', type: 'String', comment: 'the flagged user id, or client:<id>' },
      { name: 'period_from', type: time },
      { name: 'period_to', type: time },
      { name: 'rows', type: 'UInt32', comment: 'report rows that flag the principal' },
      { name: 'patients', type: 'UInt32', comment: 'distinct patient ids in those rows (0 when the rows name none)' },
      { name: 'patient_ids', type: 'Array(String)', comment: 'PHI: sent only when the tenant settings allow it' },
      { name: 'detected_at', type: time },
    ],
    engine: 'ReplacingMergeTree',
    partitionBy: 'toYYYYMM(period_from)',
    orderBy: 'incident_id',
    ttl: `toDateTime(detected_at) + toIntervalDay(${retentionDays})`,
    shardingKey: 'cityHash64(incident_id)',
  };
}

export function incidentEventsTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: INCIDENT_EVENTS_TABLE,
    comment: 'fhirwatch: every state change of an incident (append-only)',
    columns: [
      { name: 'incident_id', type: 'String' },
      { name: 'at', type: time },
      { name: 'actor', type: 'String', comment: 'who changed it (officer, OS user, or fhirwatch-sink)' },
      { name: 'from_state', type: lc, comment: "'' when created" },
      { name: 'to_state', type: lc, comment: 'open | acknowledged | closed' },
      { name: 'note', type: 'String', codec: 'CODEC(ZSTD(1))' },
    ],
    engine: 'MergeTree',
    orderBy: '(incident_id, at)',
    ttl: `toDateTime(at) + toIntervalDay(${retentionDays})`,
    shardingKey: 'cityHash64(incident_id)',
  };
}

export function incidentOutboxTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: INCIDENT_OUTBOX_TABLE,
    comment: 'fhirwatch: deliveries of incidents to their destinations (newest attempt wins)',
    columns: [
      { name: 'destination', type: lc },
      { name: 'incident_id', type: 'String' },
      { name: 'attempt', type: 'UInt32', comment: 'version: attempts made; delivered rows carry 1000000 + attempts' },
      { name: 'status', type: lc, comment: 'pending | delivered' },
      { name: 'next_attempt_at', type: time },
      { name: 'last_error', type: lc, comment: 'an error code or HTTP status, never a payload' },
      { name: 'updated_at', type: time },
    ],
    engine: 'ReplacingMergeTree',
    engineArgs: ['attempt'],
    orderBy: '(destination, incident_id)',
    ttl: `toDateTime(updated_at) + toIntervalDay(${retentionDays})`,
    shardingKey: 'cityHash64(incident_id)',
  };
}
