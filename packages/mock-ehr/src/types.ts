import type { FhirVersion } from '@fhirwatch/contract';

/** A FHIR resource as plain JSON. */
export interface FhirResource {
  resourceType: string;
  id: string;
  [key: string]: unknown;
}

/** Added latency per request: a fixed number of milliseconds, or a lognormal distribution given by two quantiles. */
export type LatencyOption = number | { p50Ms: number; p99Ms: number };

export interface PopulationOptions {
  /** Default 'STU3'. */
  fhirVersion?: FhirVersion;
  /** Number of patients, default 1000. */
  patients?: number;
  /** PRNG seed, default 42: the same seed gives byte-identical data. */
  seed?: number;
}

export interface MockEhrOptions extends PopulationOptions {
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Path prefix of the FHIR base, e.g. '/fhir'; default '' (FHIR at the root). */
  basePath?: string;
  /** Added latency before each answer; default none. Drawn from a PRNG seeded from `seed`. */
  latency?: LatencyOption;
  /** Probability (0..1) that a request (other than /metadata) is answered with an injected 500/503 OperationOutcome; default 0. */
  errorRate?: number;
  /** Largest accepted request body in bytes; default 1 MiB. Larger bodies get 413. */
  maxBodyBytes?: number;
  /**
   * Most patients whose clinical resources are kept serialized in memory (least recently used are
   * regenerated on demand, byte-identical); default 2,000 (about 140 KB each).
   */
  cachePatients?: number;
  /**
   * Meaning of a string search parameter without a modifier: `'seed'` (default) follows the seed and
   * the contract's `CONTAINS_BY_DEFAULT` (STU3 `family=` / `given=` match any part of the name);
   * `'fhir'` is FHIR's default everywhere (the name starts with the value).
   */
  stringSearch?: 'seed' | 'fhir';
}

/** Resource types of the clinical record of one patient, per version. */
export interface PatientRecord {
  observations: FhirResource[];
  conditions: FhirResource[];
  encounters: FhirResource[];
  allergies: FhirResource[];
  /** MedicationOrder (DSTU2) or MedicationRequest (STU3). */
  medicationOrders: FhirResource[];
  /** MedicationStatement (STU3 only; empty on DSTU2). */
  medicationStatements: FhirResource[];
  coverage: FhirResource[];
}

export interface Population {
  readonly fhirVersion: FhirVersion;
  readonly seed: number;
  /** Every Patient resource, in index order (generated eagerly: they are what patient searches scan). */
  readonly patients: readonly FhirResource[];
  readonly locations: readonly FhirResource[];
  readonly practitioners: readonly FhirResource[];
  readonly organizations: readonly FhirResource[];
  /** Index of a patient by logical id. */
  indexOf(patientId: string): number | undefined;
  /** Clinical resources of patient `index` (generated on demand, deterministic). */
  record(index: number): PatientRecord;
}

export interface MockEhrServer {
  /** FHIR base URL without a trailing slash: `http://127.0.0.1:<port>` + basePath. */
  readonly url: string;
  readonly fhirVersion: FhirVersion;
  readonly port: number;
  readonly population: Population;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
