/**
 * The serialized repository the HTTP layer answers from: every resource is serialized once into a
 * Buffer laid out as a searchset entry (`{"fullUrl":…,"resource":<json>,"search":{"mode":"match"}}`),
 * and the resource's own JSON is a view into that same Buffer, so a read and a search hit cost no
 * JSON.stringify. Patient records are serialized on first use and kept in a bounded LRU cache
 * (regenerating an evicted record gives the same bytes).
 */
import { type FhirVersion, PATIENTS_APP_RESOURCES } from '@fhirwatch/contract';
import type { FhirResource, PatientRecord, Population } from './types.ts';

export interface StoredResource {
  readonly type: string;
  readonly id: string;
  readonly resource: FhirResource;
  /** Index of the patient the resource belongs to; -1 for shared resources (Location, Practitioner …). */
  readonly patientIndex: number;
  /** The clinically relevant date (sort key / `date` parameter), '' when none. */
  readonly date: string;
  /** End of the clinically relevant period, '' when it is a point in time or open. */
  readonly dateEnd: string;
  /** Searchset entry JSON. */
  readonly entry: Buffer;
  /** Resource JSON (a view into `entry`). */
  readonly body: Buffer;
}

/** Which part of a patient record holds each resource type. */
const RECORD_KEY: Readonly<Record<string, keyof PatientRecord>> = {
  Observation: 'observations',
  Condition: 'conditions',
  Encounter: 'encounters',
  AllergyIntolerance: 'allergies',
  MedicationOrder: 'medicationOrders',
  MedicationRequest: 'medicationOrders',
  MedicationStatement: 'medicationStatements',
  Coverage: 'coverage',
};

const SHARED_TYPES = ['Location', 'Practitioner', 'Organization'] as const;

/** Resource types this server holds, per version (the contract's, plus the referenced Practitioner and Organization). */
export function storedTypes(version: FhirVersion): readonly string[] {
  return STORED_TYPES[version];
}

/** The contract's Patients-app resources of each version, plus the shared types they reference. */
const STORED_TYPES: Readonly<Record<FhirVersion, readonly string[]>> = {
  DSTU2: [...new Set([...PATIENTS_APP_RESOURCES.DSTU2, ...SHARED_TYPES])],
  STU3: [...new Set([...PATIENTS_APP_RESOURCES.STU3, ...SHARED_TYPES])],
};

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function dateRange(resource: FhirResource): { date: string; dateEnd: string } {
  const r = resource as Record<string, unknown>;
  switch (resource.resourceType) {
    case 'Observation':
      return { date: str(r.effectiveDateTime), dateEnd: '' };
    case 'Encounter': {
      const period = r.period as { start?: string; end?: string } | undefined;
      return { date: str(period?.start), dateEnd: str(period?.end) };
    }
    case 'Condition':
      return { date: str(r.assertedDate) || str(r.dateRecorded), dateEnd: '' };
    case 'AllergyIntolerance':
      return { date: str(r.assertedDate) || str(r.recordedDate), dateEnd: '' };
    case 'MedicationOrder':
      return { date: str(r.dateWritten), dateEnd: '' };
    case 'MedicationRequest':
      return { date: str(r.authoredOn), dateEnd: '' };
    case 'MedicationStatement': {
      const period = r.effectivePeriod as { start?: string; end?: string } | undefined;
      return { date: str(period?.start), dateEnd: str(period?.end) };
    }
    case 'Coverage': {
      const period = r.period as { start?: string; end?: string } | undefined;
      return { date: str(period?.start), dateEnd: str(period?.end) };
    }
    default:
      return { date: '', dateEnd: '' };
  }
}

function pushTo(map: Map<string, StoredResource[]>, stored: StoredResource): void {
  const bucket = map.get(stored.type);
  if (bucket === undefined) map.set(stored.type, [stored]);
  else bucket.push(stored);
}

interface SerializedRecord {
  byType: Map<string, StoredResource[]>;
  byId: Map<string, StoredResource>;
}

export interface Store {
  readonly fhirVersion: FhirVersion;
  readonly population: Population;
  readonly types: ReadonlySet<string>;
  /** Patient count. */
  readonly size: number;
  patient(index: number): StoredResource;
  /** Resources of `type` of patient `index`, in record order (oldest first). */
  ofPatient(type: string, index: number): readonly StoredResource[];
  /** Shared resources of a shared type (Location, Practitioner, Organization). */
  shared(type: string): readonly StoredResource[] | undefined;
  read(type: string, id: string): StoredResource | undefined;
  /** True for types held per patient (everything but Patient and the shared types). */
  isPerPatient(type: string): boolean;
}

export function createStore(population: Population, baseUrl: string, cachePatients: number): Store {
  const version = population.fhirVersion;
  const types = new Set(storedTypes(version));

  const serialize = (resource: FhirResource, patientIndex: number): StoredResource => {
    const json = JSON.stringify(resource);
    const prefix = `{"fullUrl":${JSON.stringify(`${baseUrl}/${resource.resourceType}/${resource.id}`)},"resource":`;
    const entry = Buffer.from(`${prefix}${json},"search":{"mode":"match"}}`);
    const start = Buffer.byteLength(prefix);
    const body = entry.subarray(start, start + Buffer.byteLength(json));
    return {
      type: resource.resourceType,
      id: resource.id,
      resource,
      patientIndex,
      ...dateRange(resource),
      entry,
      body,
    };
  };

  const sharedByType = new Map<string, StoredResource[]>();
  const sharedById = new Map<string, StoredResource>();
  const addShared = (list: readonly FhirResource[]): void => {
    for (const resource of list) {
      const stored = serialize(resource, -1);
      pushTo(sharedByType, stored);
      sharedById.set(`${stored.type}/${stored.id}`, stored);
    }
  };
  addShared(population.locations);
  addShared(population.practitioners);
  addShared(population.organizations);

  const patients: (StoredResource | undefined)[] = new Array(population.patients.length);
  const patient = (index: number): StoredResource => {
    let stored = patients[index];
    if (stored === undefined) {
      stored = serialize(population.patients[index]!, index);
      patients[index] = stored;
    }
    return stored;
  };

  // LRU over patient records: a Map iterates in insertion order, so re-inserting on use keeps the
  // least recently used first.
  const records = new Map<number, SerializedRecord>();
  const limit = Math.max(1, cachePatients);
  const record = (index: number): SerializedRecord => {
    const cached = records.get(index);
    if (cached !== undefined) {
      records.delete(index);
      records.set(index, cached);
      return cached;
    }
    const raw = population.record(index);
    const byType = new Map<string, StoredResource[]>();
    const byId = new Map<string, StoredResource>();
    for (const list of Object.values(raw) as FhirResource[][]) {
      for (const resource of list) {
        const stored = serialize(resource, index);
        pushTo(byType, stored);
        byId.set(`${stored.type}/${stored.id}`, stored);
      }
    }
    const serialized = { byType, byId };
    records.set(index, serialized);
    if (records.size > limit) records.delete(records.keys().next().value as number);
    return serialized;
  };

  const EMPTY: readonly StoredResource[] = [];
  return {
    fhirVersion: version,
    population,
    types,
    size: population.patients.length,
    patient,
    ofPatient: (type, index) => (RECORD_KEY[type] === undefined ? EMPTY : (record(index).byType.get(type) ?? EMPTY)),
    shared: (type) => sharedByType.get(type),
    read: (type, id) => {
      if (!types.has(type)) return undefined;
      if (type === 'Patient') {
        const index = population.indexOf(id);
        return index === undefined ? undefined : patient(index);
      }
      const shared = sharedById.get(`${type}/${id}`);
      if (shared !== undefined) return shared;
      // Per-patient ids are `<patient id>-<kind>-<n>`.
      const dash = id.indexOf('-');
      if (dash <= 0 || RECORD_KEY[type] === undefined) return undefined;
      const index = population.indexOf(id.slice(0, dash));
      return index === undefined ? undefined : record(index).byId.get(`${type}/${id}`);
    },
    isPerPatient: (type) => RECORD_KEY[type] !== undefined,
  };
}
