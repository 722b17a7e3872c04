export type { SinkErrorCode } from './errors.ts';
export { SINK_ERROR_STATUS, SinkError } from './errors.ts';
export * from './schema/index.ts';
export type { StoreOptions } from './store.ts';
export { openStore, STORE_SETTINGS } from './store.ts';
export * from './queries/index.ts';
