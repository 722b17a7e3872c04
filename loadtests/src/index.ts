export type { AutocannonOptions, AutocannonRunResult } from './autocannon-engine.ts';
export { CLOSED_MODEL_NOTE, runAutocannon } from './autocannon-engine.ts';
export type { CheckResult, EntryTally, FieldTally, PatientQuery, ResponseVerdict, SamplePatient } from './checks.ts';
export {
  checkBatchResponse,
  checkMetadata,
  checkPatientSearch,
  checkRead,
  checkToken,
  innerFragment,
  NAME_SEARCH,
  oauthUri,
  patientMatches,
  patientSearchParams,
  samplePatients,
  tallyFields,
} from './checks.ts';
export type {
  ClinicianPace,
  ClinicianProgress,
  ClinicianShift,
  ClinicianTrafficOptions,
  PatientLookup,
} from './clinicians.ts';
export { CLINICIAN_HOUR, clinicianShifts, lookupOf, runClinicianTraffic } from './clinicians.ts';
export type { ConformanceCheck, ConformanceOptions, ConformanceReport, ConformanceStatus } from './conformance.ts';
export { conformanceJunit, formatConformanceTable, runConformance, validateConformanceOptions } from './conformance.ts';
export type { LoadtestErrorCode } from './errors.ts';
export { LOADTEST_ERRORS, LoadtestError } from './errors.ts';
export type { JunitCase, JunitSuite } from './junit.ts';
export { renderJunit } from './junit.ts';
export type { K6Options } from './k6-options.ts';
export { K6_METRICS, k6Options } from './k6-options.ts';
export type { LoadtestOptions, ProgressLine } from './loadtest.ts';
export { formatProgress, runLoadtest } from './loadtest.ts';
export type { MetricsSnapshot } from './metrics.ts';
export { Metrics } from './metrics.ts';
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
export type { ReportFiles } from './report-files.ts';
export { loadtestJunit, writeLoadtestReport } from './report-files.ts';
export { renderReportHtml } from './report-html.ts';
export type { CheckMode, OpenModelOptions, OpenModelResult, ShardTick } from './runner.ts';
export {
  arrivalsBy,
  defaultWorkers,
  expectedIterations,
  runOpenModel,
  scheduleTime,
  THROUGHPUT_DEEP_CHECK_EVERY,
} from './runner.ts';
export type { Executor, RampStage, ScenarioDef, ScenarioKnobs, ScenarioName } from './scenarios.ts';
export {
  executorDurationS,
  executorPeakRate,
  isScenarioName,
  parseMix,
  resolveScenario,
  SCENARIO_NAMES,
  SCENARIOS,
} from './scenarios.ts';
export type { HopLatency, QueryClient } from './server-side.ts';
export { HOP_NAMES, serverSideSplit } from './server-side.ts';
export type { LoadTarget, OpOutcome, SessionSetup } from './session.ts';
export { detectFhirVersion, FhirSession } from './session.ts';
export type { OpSlo, OpTag, SloTable, SloVerdict } from './slo.ts';
export { applySloOverrides, defaultSlo, LIST_REFRESH_P95_MS, listRefreshP95Ms, OP_TAGS } from './slo.ts';
export type { CapacityWindow, Engine, LoadtestReport, OpReport, SeriesPoint } from './summary.ts';
export { buildReport, environment, evaluateSlo } from './summary.ts';
