/**
 * Audit records as FHIR AuditEvents following IHE Basic Audit Log Patterns (BALP):
 * https://profiles.ihe.net/ITI/BALP/ (PatientQuery, PatientRead, Query, Read profiles).
 *
 * - search-type (and batch / operation entries, which BALP treats as queries) → PatientQuery:
 *   type rest, subtype = the interaction, action E, the raw query base64 in entity[query] (object-role 24);
 *   client = DICOM 110153 Source Role ID, server = 110152 Destination Role ID.
 * - read → PatientRead: subtype read, action R, entity[data] (object-role 4); BALP's Read profile swaps the
 *   roles (client = 110152 Destination, server = 110153 Source), because the data flows to the client.
 * - the user, when known, is an IRCP (information recipient) agent with requestor = true; otherwise the
 *   client is the requestor.
 * - the patient is entity[patient] (audit-entity-type 1 Person, object-role 1 Patient); a record with no
 *   patient or with `*` (all patients) uses the patient-less Query / Read profile.
 * - outcome = the record's outcome code (0 / 4 / 8 / 12), outcomeDesc = the HTTP status on failure.
 * - entity[query].query = base64 of the request as recorded ({@link requestOf}), never empty.
 * - meta.profile claims a BALP profile only in the R4 shape and only for a successful access: BALP's
 *   profiles are R4 and fix outcome to 0, so a failed access (or an STU3 event) claims none.
 * - no element is ever an empty string (FHIR JSON forbids them).
 *
 * Shapes: `R4` (BALP's own release; default) or `STU3` (agent.role/reference/userId, entity.reference,
 * source.identifier, hl7.org/fhir code systems), the release the Patients app speaks.
 */
import { ALL_PATIENTS, type AuditRecord } from '@fhirwatch/contract';

export type AuditEventShape = 'R4' | 'STU3';

export const BALP_PROFILES = {
  patientQuery: 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientQuery',
  query: 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Query',
  patientRead: 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead',
  read: 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read',
} as const;

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const SOURCE_ROLE = { system: DCM, code: '110153', display: 'Source Role ID' };
const DESTINATION_ROLE = { system: DCM, code: '110152', display: 'Destination Role ID' };
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
/** fhirwatch's own event type (PatientSearch …) as an extra subtype (BALP's subtype slicing is open). */
export const FHIRWATCH_EVENT_TYPE_SYSTEM = 'urn:fhirwatch:audit-event-type';
export const FHIRWATCH_IDENTIFIER_SYSTEMS = {
  client: 'urn:fhirwatch:client-id',
  user: 'urn:fhirwatch:user-id',
  tenant: 'urn:fhirwatch:tenant-id',
  writer: 'urn:fhirwatch:recorded-by',
} as const;

interface Systems {
  eventType: string;
  participationType: string;
  entityType: string;
  objectRole: string;
  sourceType: string;
}

const SYSTEMS: Readonly<Record<AuditEventShape, Systems>> = {
  R4: {
    eventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
    participationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
    entityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
    objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
    sourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  },
  STU3: {
    eventType: 'http://hl7.org/fhir/audit-event-type',
    participationType: 'http://hl7.org/fhir/v3/ParticipationType',
    entityType: 'http://hl7.org/fhir/audit-entity-type',
    objectRole: 'http://hl7.org/fhir/object-role',
    sourceType: 'http://hl7.org/fhir/security-source-type',
  },
};

type Json = Record<string, unknown>;

interface AgentSpec {
  type: Json;
  identifier: Json;
  display: string;
  name?: string;
  requestor: boolean;
  network?: Json;
}

interface EntitySpec {
  type: Json;
  role: Json;
  reference?: string;
  what?: Json;
  query?: string;
  name?: string;
}

function agent(shape: AuditEventShape, spec: AgentSpec): Json {
  const typeConcept = { coding: [spec.type] };
  const base: Json =
    shape === 'R4'
      ? { type: typeConcept, who: { identifier: spec.identifier, display: spec.display } }
      : {
          role: [typeConcept],
          reference: { identifier: spec.identifier, display: spec.display },
          userId: spec.identifier,
        };
  return {
    ...base,
    ...(spec.name ? { name: spec.name } : {}),
    requestor: spec.requestor,
    ...(spec.network ? { network: spec.network } : {}),
  };
}

function entity(shape: AuditEventShape, spec: EntitySpec): Json {
  const target = spec.reference ? { reference: spec.reference } : spec.what;
  return {
    ...(target ? (shape === 'R4' ? { what: target } : { reference: target }) : {}),
    type: spec.type,
    role: spec.role,
    ...(spec.name ? { name: spec.name } : {}),
    ...(spec.query !== undefined ? { query: spec.query } : {}),
  };
}

export interface AuditEventOptions {
  /** Default `R4`. */
  shape?: AuditEventShape;
}

/** One audit record as a BALP AuditEvent. */
export function auditEventFromRecord(record: AuditRecord, options: AuditEventOptions = {}): Json {
  const shape = options.shape ?? 'R4';
  const systems = SYSTEMS[shape];
  const isRead = record.fhir_interaction === 'read';
  const hasPatient = record.patient_id !== '' && record.patient_id !== ALL_PATIENTS;
  // BALP's profiles are R4 profiles of successful accesses (they fix outcome to 0): a failed access, or the
  // STU3 shape, claims none and stays a plain AuditEvent of its release.
  // BALP's Query profiles are for searches (subtype search-type): a batch or operation record (a list refresh,
  // an export kick-off) is mapped the same way but claims no profile it does not meet.
  const profile =
    shape !== 'R4' ||
    record.outcome !== 0 ||
    (record.fhir_interaction !== 'read' && record.fhir_interaction !== 'search-type')
      ? undefined
      : isRead
        ? hasPatient
          ? BALP_PROFILES.patientRead
          : BALP_PROFILES.read
        : hasPatient
          ? BALP_PROFILES.patientQuery
          : BALP_PROFILES.query;
  const subtype: Json[] = [];
  if (record.fhir_interaction !== 'unknown') {
    subtype.push({ system: RESTFUL_INTERACTION, code: record.fhir_interaction });
  }
  subtype.push({ system: FHIRWATCH_EVENT_TYPE_SYSTEM, code: record.event_type });

  const hasUser = record.user_id !== '';
  const agents: Json[] = [
    agent(shape, {
      type: isRead ? DESTINATION_ROLE : SOURCE_ROLE,
      identifier: { system: FHIRWATCH_IDENTIFIER_SYSTEMS.client, value: record.client_id },
      display: record.client_id,
      ...(record.user_agent ? { name: record.user_agent } : {}),
      requestor: !hasUser,
      ...(record.source_ip ? { network: { address: record.source_ip, type: '2' } } : {}),
    }),
    agent(shape, {
      type: isRead ? SOURCE_ROLE : DESTINATION_ROLE,
      identifier: { system: FHIRWATCH_IDENTIFIER_SYSTEMS.tenant, value: record.routed_tenant_id || record.tenant_id },
      display: `FHIR service of tenant ${record.routed_tenant_id || record.tenant_id} via ${record.recorded_by}`,
      requestor: false,
      network: { address: record.recorded_by, type: '1' },
    }),
  ];
  if (hasUser) {
    agents.push(
      agent(shape, {
        type: { system: systems.participationType, code: 'IRCP', display: 'information recipient' },
        identifier: { system: FHIRWATCH_IDENTIFIER_SYSTEMS.user, value: record.user_id },
        display: record.user_name || record.user_id,
        ...(record.user_name ? { name: record.user_name } : {}),
        requestor: true,
      }),
    );
  }

  const entities: Json[] = [];
  if (isRead) {
    entities.push(
      entity(shape, {
        type: { system: systems.entityType, code: '2', display: 'System Object' },
        role: { system: systems.objectRole, code: '4', display: 'Domain Resource' },
        ...(record.resource_type === 'Patient' && hasPatient
          ? { reference: `Patient/${record.patient_id}` }
          : { what: { type: record.resource_type, display: record.resource_type } }),
      }),
    );
  } else {
    entities.push(
      entity(shape, {
        type: { system: systems.entityType, code: '2', display: 'System Object' },
        role: { system: systems.objectRole, code: '24', display: 'Query' },
        query: Buffer.from(requestOf(record), 'utf8').toString('base64'),
      }),
    );
  }
  if (hasPatient) {
    entities.push(
      entity(shape, {
        type: { system: systems.entityType, code: '1', display: 'Person' },
        role: { system: systems.objectRole, code: '1', display: 'Patient' },
        reference: `Patient/${record.patient_id}`,
      }),
    );
  }

  const source: Json = {
    site: record.tenant_id,
    ...(shape === 'R4'
      ? {
          observer: {
            identifier: { system: FHIRWATCH_IDENTIFIER_SYSTEMS.writer, value: record.recorded_by },
            display: record.recorded_by,
          },
        }
      : { identifier: { system: FHIRWATCH_IDENTIFIER_SYSTEMS.writer, value: record.recorded_by } }),
    type: [{ system: systems.sourceType, code: '4', display: 'Application Server' }],
  };

  return withoutEmptyStrings({
    resourceType: 'AuditEvent',
    id: record.event_id,
    ...(profile === undefined ? {} : { meta: { profile: [profile] } }),
    type: { system: systems.eventType, code: 'rest', display: 'Restful Operation' },
    subtype,
    action: isRead ? 'R' : 'E',
    recorded: record.event_time,
    outcome: String(record.outcome),
    ...(record.outcome !== 0 ? { outcomeDesc: `HTTP ${record.http_status}` } : {}),
    agent: agents,
    source,
    entity: entities,
  }) as Json;
}

/**
 * The request as recorded, relative to the FHIR base: what `entity[query].query` carries (base64), so it is
 * never empty. BALP asks for the query; a record keeps the search parameters, and for requests without any
 * (a PatientListView batch entry, a parameterless `$export`) the resource path is the request:
 * `Patient?family=smith`, `Patient` (a batch read of the list), `Group/g1/$export?_type=Patient`,
 * `Patient/$export`, `$export`.
 */
export function requestOf(record: AuditRecord): string {
  const query = record.query.replace(/^\?/, '');
  if (record.event_type === 'ExportInitiation' && record.fhir_interaction === 'operation') {
    const group = /(?:^|&)_group=([^&]*)/.exec(query);
    const rest = query
      .split('&')
      .filter((part) => part !== '' && !part.startsWith('_group='))
      .join('&');
    const path =
      record.resource_type === 'Group' && group
        ? `Group/${group[1]}/$export`
        : record.resource_type === 'Patient'
          ? 'Patient/$export'
          : '$export';
    return rest === '' ? path : `${path}?${rest}`;
  }
  const path = record.resource_type === '' ? '' : record.resource_type;
  if (query === '') return path === '' ? record.event_type : path;
  return path === '' ? `?${query}` : `${path}?${query}`;
}

/** FHIR JSON forbids empty strings: drop them, and objects or arrays they leave empty (a last safety net). */
function withoutEmptyStrings(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(withoutEmptyStrings).filter((item) => item !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([key, item]) => [key, withoutEmptyStrings(item)] as const)
      .filter(([, item]) => item !== undefined);
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value === '' ? undefined : value;
}

/** A `collection` Bundle of AuditEvents, one per record, in the records' order. */
export function auditEventBundle(
  records: readonly AuditRecord[],
  options: AuditEventOptions & { timestamp?: Date } = {},
): Json {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: (options.timestamp ?? new Date()).toISOString(),
    entry: records.map((record) => ({
      fullUrl: `urn:uuid:${record.event_id}`,
      resource: auditEventFromRecord(record, options),
    })),
  };
}
