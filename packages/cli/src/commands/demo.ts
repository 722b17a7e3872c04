/**
 * `fhirwatch demo` (npm run demo): for now, the synthetic EHR (STU3, 1,000 patients, seed 42) on
 * 127.0.0.1 with example requests; it grows into the full demo (gateway, middleware, store, traffic,
 * dashboards) as those packages land. First stdout line: the FHIR base URL.
 */
import { parseArgs } from 'node:util';
import { startMockEhr } from '@fhirwatch/mock-ehr';
import { untilSignal } from '../command.ts';
import { mockEhrSummary } from './mock-ehr.ts';

export const description = 'Start the demo: the synthetic EHR with example requests (Ctrl-C to stop)';

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('Usage: fhirwatch demo [--port <n>]\n');
    return 0;
  }
  const options = { fhirVersion: 'STU3', patients: 1000, seed: 42, port: Number(values.port ?? 0) } as const;
  const server = await startMockEhr(options);
  const u = server.url;
  process.stdout.write(
    [
      u,
      mockEhrSummary(options, server.population.patients.length),
      '',
      'Try:',
      `  curl -s ${u}/metadata`,
      `  curl -s '${u}/Patient?name:contains=smi&_count=5'`,
      `  curl -s -X POST ${u}/Patient/_search -H 'content-type: application/x-www-form-urlencoded' -d 'family:contains=son&_count=3'`,
      `  curl -s '${u}/Patient?_count=1'                      # take a patient id from here, then:`,
      `  curl -s '${u}/Observation?patient=<id>&category=vital-signs&_sort=-date&_count=7'`,
      `  curl -s '${u}/Encounter?patient=<id>&_sort:desc=date&_count=1'`,
      `  curl -s -X POST ${u} -H 'content-type: application/fhir+json' \\`,
      `       -d '{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/<id>"}},{"request":{"method":"GET","url":"Condition?patient=<id>"}}]}'`,
      '',
      'Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  await untilSignal();
  await server.close();
  return 0;
}
