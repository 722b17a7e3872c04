export type { MockEhrErrorCode } from './errors.ts';
export { MOCK_EHR_ERROR, MOCK_EHR_ERRORS, MockEhrError } from './errors.ts';
export { generatePopulation, MRN_SYSTEM, MRN_TYPE_SYSTEM, REFERENCE_TIME_MS } from './population.ts';
export { startMockEhr } from './server.ts';
export type {
  FhirResource,
  LatencyOption,
  MockEhrOptions,
  MockEhrServer,
  PatientRecord,
  Population,
  PopulationOptions,
} from './types.ts';
