/** The provider FHIR server of the benchmark, in its own process (own core). */
import { startMockEhr } from '@fhirwatch/mock-ehr';

const ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 1000, seed: 42 });
process.stdout.write(
  `${JSON.stringify({ url: ehr.url, ids: ehr.population.patients.slice(0, 200).map((p) => p.id) })}\n`,
);
process.on('SIGTERM', () => process.exit(0));
