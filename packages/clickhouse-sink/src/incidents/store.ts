/**
 * Incidents in the store (migration 12, src/store/schema/incidents.ts): the deterministic incident key, storing a
 * run's hits once, the lifecycle (open → acknowledged → closed, each change a row of its own) and the delivery
 * outbox. The query API (list, show, ack, close) and the sink's monitor (src/incidents/monitor.ts) both use it.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { selectRows } from '../compliance/records.ts';
import { chDateTime, isoFromClickHouse } from '../compliance/time-range.ts';
import { SinkError } from '../errors.ts';
import { ensureTables, readWithTables } from '../store/ensure.ts';
import { DEFAULT_AUDIT_RETENTION_DAYS } from '../store/schema/audit.ts';
import {
  INCIDENT_EVENTS_TABLE,
  INCIDENT_OUTBOX_TABLE,
  INCIDENTS_TABLE,
  incidentEventsTable,
  incidentOutboxTable,
  incidentsTable,
} from '../store/schema/incidents.ts';

export const INCIDENT_STATES = ['open', 'acknowledged', 'closed'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];
/** What a person does to an incident: acknowledge it, or close it (with a note). */
export type IncidentAction = 'ack' | 'close';

/** Longest note a state change keeps (characters). */
export const MAX_INCIDENT_NOTE = 4000;
/** The actor recorded for what the sink does itself (creating an incident). */
export const SINK_ACTOR = 'fhirwatch-sink';
/** An attempt number above every real one marks a delivered outbox row (the ReplacingMergeTree keeps it). */
export const DELIVERED_VERSION = 1_000_000;

const TABLES = [
  incidentsTable(DEFAULT_AUDIT_RETENTION_DAYS),
  incidentEventsTable(DEFAULT_AUDIT_RETENTION_DAYS),
  incidentOutboxTable(DEFAULT_AUDIT_RETENTION_DAYS),
];

/** A hit of a monitoring report, before it is an incident. */
export interface IncidentCandidate {
  report: string;
  tenant_id: string;
  principal: string;
  period_from: Date;
  period_to: Date;
  rows: number;
  patients: number;
  patient_ids: readonly string[];
}

export interface Incident {
  incident_id: string;
  report: string;
  tenant_id: string;
  principal: string;
  period_from: string;
  period_to: string;
  rows: number;
  patients: number;
  detected_at: string;
  state: IncidentState;
  /** PHI: only in `show`, and in payloads when the tenant's settings allow it. */
  patient_ids?: string[];
}

export interface IncidentEvent {
  at: string;
  actor: string;
  from_state: string;
  to_state: string;
  note: string;
}

export interface IncidentDelivery {
  destination: string;
  status: 'pending' | 'delivered';
  attempts: number;
  next_attempt_at: string;
  last_error: string;
  updated_at: string;
}

/**
 * The incident key: the same report, tenant, principal and period give the same id on every run and after every
 * restart (sha256 of the four, hex, 32 characters). A hit seen again is the same incident.
 */
export function incidentKey(report: string, tenantId: string, principal: string, periodFrom: Date): string {
  return createHash('sha256')
    .update(JSON.stringify([report, tenantId, principal, periodFrom.toISOString()]))
    .digest('hex')
    .slice(0, 32);
}

/** An incident id as the API accepts it (anything else, `__proto__` included, is no incident: 404). */
export function isIncidentId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}

export async function ensureIncidentTables(client: ClickHouseClient): Promise<void> {
  await ensureTables(client, TABLES);
}

/** What is stored of an incident already: its counts, first detection and state (read before an insert). */
interface StoredIncident {
  rows: number;
  patients: number;
  patient_ids: string[];
  detected_at: string;
  state: IncidentState;
}

/** The incidents of these keys already stored (the store-level uniqueness read before an insert). */
async function existingIncidents(
  client: ClickHouseClient,
  ids: readonly string[],
): Promise<Map<string, StoredIncident>> {
  if (ids.length === 0) return new Map();
  const rows = await readWithTables(client, TABLES, () =>
    selectRows<Record<string, unknown>>(
      client,
      `SELECT i.incident_id AS incident_id, rows, patients, patient_ids, detected_at, s.state AS state
        FROM ${INCIDENTS_TABLE} AS i FINAL LEFT JOIN ${STATE_SQL} AS s ON s.incident_id = i.incident_id
        WHERE i.incident_id IN {ids:Array(String)}`,
      { ids },
    ),
  );
  return new Map(
    rows.map((row) => [
      String(row.incident_id),
      {
        rows: Number(row.rows),
        patients: Number(row.patients),
        patient_ids: (row.patient_ids as string[]) ?? [],
        detected_at: String(row.detected_at),
        state: (String(row.state || 'open') as IncidentState) ?? 'open',
      },
    ]),
  );
}

/** The incident row of a candidate (detected_at: a ClickHouse DateTime64 text). */
const incidentRow = (incident_id: string, c: IncidentCandidate, detected_at: string): Record<string, unknown> => ({
  incident_id,
  report: c.report,
  tenant_id: c.tenant_id,
  principal: c.principal,
  period_from: chDateTime(c.period_from),
  period_to: chDateTime(c.period_to),
  rows: c.rows,
  patients: c.patients,
  patient_ids: [...c.patient_ids],
  detected_at,
});

const counted = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

const sameIds = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((id, i) => id === b[i]);

/**
 * Store the candidates that are not incidents yet: for each, its 'open' event and one pending outbox row per
 * destination first, the incident row last (so a crash in between leaves no incident without its deliveries; the
 * next run stores it again, and a re-inserted pending row never replaces a newer attempt). Returns the new ones.
 *
 * A candidate that is an incident already but has grown since (its period is still running: more rows, more
 * patients) updates it: the incident row again with the new counts and patient ids and its first detection time
 * (the ReplacingMergeTree keeps the last row per key), and a lifecycle event by the sink that keeps the state and
 * says what changed (`seen again: 12 rows, 9 patients (was 3 rows, 2 patients)`). Not delivered again: the
 * destinations got the incident once; the console and `audit incidents show` show the current counts. States
 * only move forward: an incident closed before it grew stays closed, and the event says it grew after closing.
 */
export async function storeNewIncidents(
  client: ClickHouseClient,
  candidates: readonly IncidentCandidate[],
  destinationsOf: (candidate: IncidentCandidate) => readonly string[],
  now: Date = new Date(),
): Promise<Incident[]> {
  const byId = new Map<string, IncidentCandidate>();
  for (const candidate of candidates) {
    byId.set(incidentKey(candidate.report, candidate.tenant_id, candidate.principal, candidate.period_from), candidate);
  }
  if (byId.size === 0) return [];
  await ensureIncidentTables(client);
  const existing = await existingIncidents(client, [...byId.keys()]);
  const fresh = [...byId].filter(([id]) => !existing.has(id));
  const at = chDateTime(now);
  const grown = [...byId].flatMap(([id, c]) => {
    const old = existing.get(id);
    if (old === undefined) return [];
    if (c.rows === old.rows && c.patients === old.patients && sameIds(c.patient_ids, old.patient_ids)) return [];
    return [{ id, c, old }];
  });
  if (grown.length > 0) {
    await client.insert({
      table: INCIDENT_EVENTS_TABLE,
      format: 'JSONEachRow',
      values: grown.map(({ id, c, old }) => ({
        incident_id: id,
        at,
        actor: SINK_ACTOR,
        from_state: old.state,
        to_state: old.state,
        note: `seen again${old.state === 'closed' ? ' after closing' : ''}: ${counted(c.rows, 'row')}, ${counted(c.patients, 'patient')} (was ${counted(old.rows, 'row')}, ${counted(old.patients, 'patient')})`,
      })),
    });
    await client.insert({
      table: INCIDENTS_TABLE,
      format: 'JSONEachRow',
      values: grown.map(({ id, c, old }) => incidentRow(id, c, old.detected_at)),
    });
  }
  if (fresh.length === 0) return [];
  await client.insert({
    table: INCIDENT_EVENTS_TABLE,
    format: 'JSONEachRow',
    values: fresh.map(([incident_id]) => ({
      incident_id,
      at,
      actor: SINK_ACTOR,
      from_state: '',
      to_state: 'open',
      note: '',
    })),
  });
  const outbox = fresh.flatMap(([incident_id, candidate]) =>
    destinationsOf(candidate).map((destination) => ({
      destination,
      incident_id,
      attempt: 0,
      status: 'pending',
      next_attempt_at: at,
      last_error: '',
      updated_at: at,
    })),
  );
  if (outbox.length > 0) await client.insert({ table: INCIDENT_OUTBOX_TABLE, format: 'JSONEachRow', values: outbox });
  await client.insert({
    table: INCIDENTS_TABLE,
    format: 'JSONEachRow',
    values: fresh.map(([incident_id, c]) => incidentRow(incident_id, c, at)),
  });
  return fresh.map(([incident_id, c]) => ({
    incident_id,
    report: c.report,
    tenant_id: c.tenant_id,
    principal: c.principal,
    period_from: c.period_from.toISOString(),
    period_to: c.period_to.toISOString(),
    rows: c.rows,
    patients: c.patients,
    detected_at: now.toISOString(),
    state: 'open',
    patient_ids: [...c.patient_ids],
  }));
}

/** The current state of each incident: the highest state any of its changes reached (states only move forward). */
const STATE_SQL = `(SELECT incident_id, argMax(to_state, indexOf(['open', 'acknowledged', 'closed'], to_state)) AS state
  FROM ${INCIDENT_EVENTS_TABLE} GROUP BY incident_id)`;

function toIncident(row: Record<string, unknown>, withPatients: boolean): Incident {
  return {
    incident_id: String(row.incident_id),
    report: String(row.report),
    tenant_id: String(row.tenant_id),
    principal: String(row.principal),
    period_from: isoFromClickHouse(String(row.period_from)),
    period_to: isoFromClickHouse(String(row.period_to)),
    rows: Number(row.rows),
    patients: Number(row.patients),
    detected_at: isoFromClickHouse(String(row.detected_at)),
    state: (String(row.state || 'open') as IncidentState) ?? 'open',
    ...(withPatients ? { patient_ids: (row.patient_ids as string[]) ?? [] } : {}),
  };
}

export interface IncidentFilter {
  state?: IncidentState;
  tenant?: string;
  /** Newest first, at most this many (default 200, at most 5000). */
  limit?: number;
}

/** Incidents, newest first, without patient ids. */
export async function listIncidents(client: ClickHouseClient, filter: IncidentFilter = {}): Promise<Incident[]> {
  const limit = Math.min(Math.max(1, filter.limit ?? 200), 5000);
  const rows = await readWithTables(client, TABLES, () =>
    selectRows<Record<string, unknown>>(
      client,
      `SELECT i.incident_id AS incident_id, report, tenant_id, principal, period_from, period_to, rows, patients,
          detected_at, s.state AS state
        FROM ${INCIDENTS_TABLE} AS i FINAL LEFT JOIN ${STATE_SQL} AS s ON s.incident_id = i.incident_id
        WHERE 1 = 1${filter.tenant === undefined ? '' : ' AND tenant_id = {tenant:String}'}${
          filter.state === undefined ? '' : " AND if(s.state = '', 'open', s.state) = {state:String}"
        }
        ORDER BY detected_at DESC, incident_id LIMIT {limit:UInt32}`,
      {
        limit,
        ...(filter.tenant === undefined ? {} : { tenant: filter.tenant }),
        ...(filter.state === undefined ? {} : { state: filter.state }),
      },
    ),
  );
  return rows.map((row) => toIncident(row, false));
}

/** Incidents by id, with their patient ids (for delivery and `show`). */
export async function incidentsById(client: ClickHouseClient, ids: readonly string[]): Promise<Map<string, Incident>> {
  if (ids.length === 0) return new Map();
  const rows = await readWithTables(client, TABLES, () =>
    selectRows<Record<string, unknown>>(
      client,
      `SELECT i.incident_id AS incident_id, report, tenant_id, principal, period_from, period_to, rows, patients,
          patient_ids, detected_at, s.state AS state
        FROM ${INCIDENTS_TABLE} AS i FINAL LEFT JOIN ${STATE_SQL} AS s ON s.incident_id = i.incident_id
        WHERE i.incident_id IN {ids:Array(String)}`,
      { ids },
    ),
  );
  return new Map(rows.map((row) => [String(row.incident_id), toIncident(row, true)]));
}

export interface IncidentDetail {
  incident: Incident;
  events: IncidentEvent[];
  deliveries: IncidentDelivery[];
}

/** One incident with its state changes and deliveries; undefined when there is none by that id. */
export async function getIncident(client: ClickHouseClient, id: string): Promise<IncidentDetail | undefined> {
  if (!isIncidentId(id)) return undefined;
  const incident = (await incidentsById(client, [id])).get(id);
  if (incident === undefined) return undefined;
  const events = await selectRows<Record<string, unknown>>(
    client,
    `SELECT at, actor, from_state, to_state, note FROM ${INCIDENT_EVENTS_TABLE}
      WHERE incident_id = {id:String} ORDER BY at, indexOf(['open', 'acknowledged', 'closed'], to_state)`,
    { id },
  );
  const deliveries = await selectRows<Record<string, unknown>>(
    client,
    `SELECT destination, status, attempt, next_attempt_at, last_error, updated_at FROM ${INCIDENT_OUTBOX_TABLE} FINAL
      WHERE incident_id = {id:String} ORDER BY destination`,
    { id },
  );
  return {
    incident,
    events: events.map((row) => ({
      at: isoFromClickHouse(String(row.at)),
      actor: String(row.actor),
      from_state: String(row.from_state),
      to_state: String(row.to_state),
      note: String(row.note),
    })),
    deliveries: deliveries.map((row) => {
      const attempt = Number(row.attempt);
      return {
        destination: String(row.destination),
        status: row.status === 'delivered' ? 'delivered' : 'pending',
        attempts: attempt >= DELIVERED_VERSION ? attempt - DELIVERED_VERSION : attempt,
        next_attempt_at: isoFromClickHouse(String(row.next_attempt_at)),
        last_error: String(row.last_error),
        updated_at: isoFromClickHouse(String(row.updated_at)),
      };
    }),
  };
}

const TRANSITIONS: Readonly<Record<IncidentAction, { to: IncidentState; from: readonly IncidentState[] }>> = {
  ack: { to: 'acknowledged', from: ['open'] },
  close: { to: 'closed', from: ['open', 'acknowledged'] },
};

/**
 * Acknowledge or close an incident, recording who, when, from, to and the note (append-only). Closing needs a
 * note; a change the current state does not allow (ack after close, close twice) is FW_SINK_CONFLICT (409).
 */
export async function changeIncidentState(
  client: ClickHouseClient,
  change: { id: string; action: string; actor: string; note?: string; at?: Date },
): Promise<IncidentEvent> {
  const transition = Object.hasOwn(TRANSITIONS, change.action)
    ? TRANSITIONS[change.action as IncidentAction]
    : undefined;
  if (transition === undefined) throw new SinkError('FW_SINK_BAD_QUERY', "action must be 'ack' or 'close'");
  const note = change.note ?? '';
  if (typeof note !== 'string') throw new SinkError('FW_SINK_BAD_QUERY', 'note must be text');
  if (note.length > MAX_INCIDENT_NOTE) {
    throw new SinkError('FW_SINK_BAD_QUERY', `note must be at most ${MAX_INCIDENT_NOTE} characters`);
  }
  if (change.action === 'close' && note.trim() === '') {
    throw new SinkError('FW_SINK_BAD_QUERY', 'closing an incident needs a note');
  }
  const detail = await getIncident(client, change.id);
  if (detail === undefined) throw new SinkError('FW_SINK_NOT_FOUND', 'no incident by that id');
  const from = detail.incident.state;
  if (!transition.from.includes(from)) {
    throw new SinkError('FW_SINK_CONFLICT', `the incident is ${from}: it cannot become ${transition.to}`);
  }
  const event: IncidentEvent = {
    at: (change.at ?? new Date()).toISOString(),
    actor: change.actor,
    from_state: from,
    to_state: transition.to,
    note,
  };
  await client.insert({
    table: INCIDENT_EVENTS_TABLE,
    format: 'JSONEachRow',
    values: [{ incident_id: change.id, ...event, at: chDateTime(change.at ?? new Date()) }],
  });
  return event;
}

/** A delivery due now (an outbox row still pending whose next attempt time has come). */
export interface DueDelivery {
  destination: string;
  incident_id: string;
  attempt: number;
}

export async function dueDeliveries(client: ClickHouseClient, now: Date, limit = 200): Promise<DueDelivery[]> {
  const rows = await readWithTables(client, TABLES, () =>
    selectRows<Record<string, unknown>>(
      client,
      `SELECT destination, incident_id, attempt FROM ${INCIDENT_OUTBOX_TABLE} FINAL
        WHERE status = 'pending' AND next_attempt_at <= {now:DateTime64(3, 'UTC')}
        ORDER BY next_attempt_at, incident_id LIMIT {limit:UInt32}`,
      { now: chDateTime(now), limit },
    ),
  );
  return rows.map((row) => ({
    destination: String(row.destination),
    incident_id: String(row.incident_id),
    attempt: Number(row.attempt),
  }));
}

/** Record an attempt: delivered, or pending again with the time of the next try and the error's code. */
export async function recordAttempt(
  client: ClickHouseClient,
  due: DueDelivery,
  outcome: { delivered: true } | { delivered: false; nextAt: Date; error: string },
  now: Date = new Date(),
): Promise<void> {
  const attempts = due.attempt + 1;
  await client.insert({
    table: INCIDENT_OUTBOX_TABLE,
    format: 'JSONEachRow',
    values: [
      {
        destination: due.destination,
        incident_id: due.incident_id,
        attempt: outcome.delivered ? DELIVERED_VERSION + attempts : attempts,
        status: outcome.delivered ? 'delivered' : 'pending',
        next_attempt_at: chDateTime(outcome.delivered ? now : outcome.nextAt),
        last_error: outcome.delivered ? '' : outcome.error.slice(0, 100),
        updated_at: chDateTime(now),
      },
    ],
  });
}
