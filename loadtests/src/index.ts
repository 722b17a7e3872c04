export type { Clinician, FhirBundle, PatientsAppTarget, TrafficOptions, TrafficProgress } from './patients-app.ts';
export { isLoopbackUrl, PatientsAppClient, PatientsAppError, runPatientsAppTraffic } from './patients-app.ts';
export type {
  PlantedOptions,
  PlantedPattern,
  PlantedPatternName,
  PlantedResult,
} from './planted.ts';
export { isDefaultAfterHours, PLANTED_ACTORS, runPlantedPatterns } from './planted.ts';
export type { Random } from './random.ts';
export { createRandom } from './random.ts';
