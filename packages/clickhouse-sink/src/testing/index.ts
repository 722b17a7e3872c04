/**
 * `@fhirwatch/clickhouse-sink/testing`: the seeded audit data generator used by tests and benches of every package.
 * Not part of the product's main export.
 */
export type { AuditDataset, DatasetOptions, DatasetPlants, DatasetTenant } from './dataset.ts';
export { DATASET_TENANTS, generateAuditDataset, signAuditChain, zonedInstant } from './dataset.ts';
export type { RawAnswer, RawInit } from './http.ts';
export { rawRequest } from './http.ts';
