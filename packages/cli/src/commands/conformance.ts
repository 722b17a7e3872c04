/**
 * `fhirwatch conformance`: check a FHIR server (any, not only ours) against the Patients-app contract and
 * print a pass/fail table with evidence; `--json` / `--junit` files too. Exit 1 when a check failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { parseFhirVersion } from '@fhirwatch/contract';
import {
  conformanceJunit,
  detectFhirVersion,
  formatConformanceTable,
  type LoadTarget,
  runConformance,
  validateConformanceOptions,
} from '@fhirwatch/loadtests';
import { UsageError } from '../command.ts';
import { positiveFlag } from '../flags.ts';
import { fromEnv, withLoadErrors } from './loadtest.ts';

export const description = 'Check a FHIR server against the Patients-app contract (pass/fail with evidence)';

const USAGE = `Usage: fhirwatch conformance --target <fhir-base> [options]

  --target <url>             FHIR base URL of the server to check
  --fhir-version <v>         dstu2 | stu3 (default: what /metadata declares)
  --client-id <id>           OAuth client (client credentials); without it the token checks are skipped
  --client-secret <secret>   its secret (prefer FHIRWATCH_CLIENT_SECRET)
  --tenant <guid>            tenant id, sent as the token scope
  --scope <scope>            token scope instead of the tenant id
  --token-url <url>          token endpoint (default: from /metadata's OAuth URIs extension)
  --max-batch-patients <n>   largest list refresh probed, in patients x 7 entries (default 20)
  --batch-patients <n>       patients a batch must accept to pass (default 10)
  --json <file>              write the report as JSON ('-' for stdout instead of the table)
  --junit <file>             write JUnit XML

Options can also come from FHIRWATCH_* environment variables (FHIRWATCH_TARGET, FHIRWATCH_CLIENT_SECRET…).
Exit status: 0 when no check failed, 1 when one did, 2 on a usage error.
`;

const OPTIONS = {
  target: { type: 'string' },
  'fhir-version': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  tenant: { type: 'string' },
  scope: { type: 'string' },
  'token-url': { type: 'string' },
  'max-batch-patients': { type: 'string' },
  'batch-patients': { type: 'string' },
  json: { type: 'string' },
  junit: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

export function run(args: string[]): Promise<number> {
  return withLoadErrors(async () => {
    const { values } = parseArgs({ args, options: OPTIONS, strict: true });
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    const get = (name: keyof typeof OPTIONS): string | undefined => fromEnv(values, name);
    const baseUrl = get('target');
    if (baseUrl === undefined) throw new UsageError('--target <fhir-base> is required');
    try {
      new URL(baseUrl);
    } catch {
      throw new UsageError('--target must be a URL');
    }
    const versionText = get('fhir-version');
    let version = versionText === undefined ? undefined : parseFhirVersion(versionText);
    if (versionText !== undefined && version === undefined)
      throw new UsageError('--fhir-version must be dstu2 or stu3');
    version ??= await detectFhirVersion(baseUrl);
    if (version === undefined) throw new UsageError('could not read fhirVersion from /metadata: give --fhir-version');
    const target: LoadTarget = { baseUrl, fhirVersion: version };
    for (const [key, flag] of [
      ['clientId', 'client-id'],
      ['clientSecret', 'client-secret'],
      ['tenantId', 'tenant'],
      ['scope', 'scope'],
      ['tokenUrl', 'token-url'],
    ] as const) {
      const value = get(flag);
      if (value !== undefined) target[key] = value;
    }
    const maxBatchPatients = positiveFlag('max-batch-patients', get('max-batch-patients'));
    const requiredBatchPatients = positiveFlag('batch-patients', get('batch-patients'));
    const options = {
      target,
      ...(maxBatchPatients === undefined ? {} : { maxBatchPatients }),
      ...(requiredBatchPatients === undefined ? {} : { requiredBatchPatients }),
    };
    validateConformanceOptions(options);
    const report = await runConformance(options);
    const json = get('json');
    const junit = get('junit');
    if (json === '-') process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      process.stdout.write(formatConformanceTable(report));
      if (json !== undefined) write(json, `${JSON.stringify(report, null, 2)}\n`);
    }
    if (junit !== undefined) write(junit, conformanceJunit(report));
    return report.passed ? 0 : 1;
  });
}
