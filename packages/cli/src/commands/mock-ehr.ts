/**
 * `fhirwatch mock-ehr`: run the synthetic provider FHIR server until SIGINT/SIGTERM. The first stdout
 * line is its FHIR base URL, the second a one-line summary (no PHI: counts and settings only).
 */
import { parseArgs } from 'node:util';
import { parseFhirVersion } from '@fhirwatch/contract';
import { type MockEhrOptions, startMockEhr } from '@fhirwatch/mock-ehr';
import { UsageError } from '../command.ts';
import { numberFlag } from '../flags.ts';
import { stopSignal } from '../stop.ts';

export const description = 'Run the synthetic provider FHIR server (DSTU2/STU3, seeded population)';

const USAGE = `Usage: fhirwatch mock-ehr [options]

  --fhir-version <v>     dstu2 | stu3 (default stu3)
  --patients <n>         number of synthetic patients (default 1000)
  --seed <n>             PRNG seed; the same seed serves the same data (default 42)
  --port <n>             port (default 0: any free port)
  --host <addr>          interface (default 127.0.0.1)
  --base-path <path>     FHIR base path, e.g. /fhir (default: the root)
  --latency-ms <n>       fixed added latency per request
  --latency-p50-ms <n>   lognormal added latency: median (with --latency-p99-ms)
  --latency-p99-ms <n>   lognormal added latency: 99th percentile
  --error-rate <r>       share of requests (0..1) answered with an injected 500/503 OperationOutcome
  --max-body-bytes <n>   largest request body accepted (default 1048576)
`;

/** Parse `mock-ehr` arguments into MockEhrOptions (exported for the demo command). */
export function mockEhrOptions(args: string[]): MockEhrOptions | 'help' {
  const { values } = parseArgs({
    args,
    options: {
      'fhir-version': { type: 'string' },
      patients: { type: 'string' },
      seed: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'base-path': { type: 'string' },
      'latency-ms': { type: 'string' },
      'latency-p50-ms': { type: 'string' },
      'latency-p99-ms': { type: 'string' },
      'error-rate': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const options: MockEhrOptions = {};
  if (values['fhir-version'] !== undefined) {
    const version = parseFhirVersion(values['fhir-version']);
    if (version === undefined) throw new UsageError('--fhir-version must be dstu2 or stu3');
    options.fhirVersion = version;
  }
  const set = <K extends keyof MockEhrOptions>(key: K, value: MockEhrOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set('patients', numberFlag('patients', values.patients, { min: 0, max: 10_000_000, integer: true }));
  set('seed', numberFlag('seed', values.seed, { min: 0, max: 0xffffffff, integer: true }));
  set('port', numberFlag('port', values.port, { min: 0, max: 65535, integer: true }));
  set('host', values.host);
  if (values['base-path'] !== undefined) {
    if (!values['base-path'].startsWith('/')) throw new UsageError("--base-path must start with '/'");
    options.basePath = values['base-path'];
  }
  const fixed = numberFlag('latency-ms', values['latency-ms'], { min: 0, max: 60_000, integer: false });
  const p50 = numberFlag('latency-p50-ms', values['latency-p50-ms'], { min: 0, max: 60_000, integer: false });
  const p99 = numberFlag('latency-p99-ms', values['latency-p99-ms'], { min: 0, max: 60_000, integer: false });
  if (fixed !== undefined && (p50 !== undefined || p99 !== undefined)) {
    throw new UsageError('--latency-ms excludes --latency-p50-ms/--latency-p99-ms');
  }
  if ((p50 === undefined) !== (p99 === undefined)) {
    throw new UsageError('--latency-p50-ms and --latency-p99-ms go together');
  }
  if (p50 !== undefined && p99 !== undefined) {
    if (!(p50 > 0 && p99 >= p50)) throw new UsageError('need 0 < --latency-p50-ms <= --latency-p99-ms');
    options.latency = { p50Ms: p50, p99Ms: p99 };
  } else set('latency', fixed);
  set('errorRate', numberFlag('error-rate', values['error-rate'], { min: 0, max: 1, integer: false }));
  set(
    'maxBodyBytes',
    numberFlag('max-body-bytes', values['max-body-bytes'], { min: 1, max: 1024 ** 3, integer: true }),
  );
  return options;
}

/** One PHI-free line describing a running mock EHR. */
export function mockEhrSummary(options: MockEhrOptions, patients: number): string {
  const latency =
    options.latency === undefined
      ? 'none'
      : typeof options.latency === 'number'
        ? `${options.latency} ms`
        : `lognormal p50 ${options.latency.p50Ms} ms / p99 ${options.latency.p99Ms} ms`;
  return `mock-ehr: ${options.fhirVersion ?? 'STU3'}, ${patients} patients, seed ${options.seed ?? 42}, latency ${latency}, error rate ${options.errorRate ?? 0}`;
}

export async function run(args: string[]): Promise<number> {
  const options = mockEhrOptions(args);
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const server = await startMockEhr(options);
  process.stdout.write(`${server.url}\n${mockEhrSummary(options, server.population.patients.length)}\n`);
  const signal = await stopSignal().requested;
  process.stderr.write(`fhirwatch mock-ehr: ${signal}, closing\n`);
  await server.close();
  return 0;
}
