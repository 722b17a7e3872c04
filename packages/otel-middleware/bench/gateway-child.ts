/**
 * One gateway process of the benchmark. BENCH_MODE = `baseline` (the gateway alone) | `batched` |
 * `strict` (the same gateway wrapped by the full middleware: audit + spans + metrics, exporting to
 * the receiver at BENCH_SINK) | `audit-only` (batched audit, no OTel SDK). Prints `{url, clientId, clientSecret}` once listening.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type GatewayOptions } from '@fhirwatch/gateway';
import { fhirAudit, setupTelemetry } from '../src/index.ts';

const mode = process.env.BENCH_MODE ?? 'baseline';
const sink = process.env.BENCH_SINK as string;
const tenant = process.env.BENCH_TENANT as string;
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), `gw-${mode}-`));
let wrapHandler: GatewayOptions['wrapHandler'];
if (mode !== 'baseline') {
  // `audit-only`: the middleware without an SDK (spans and metrics are the API's no-ops), to split
  // the cost between telemetry and audit.
  if (mode !== 'audit-only')
    setupTelemetry({ endpoint: sink, serviceName: 'fhirwatch-bench', metricExportIntervalMs: 2000 });
  const audit = fhirAudit({
    mode: mode === 'strict' ? 'strict' : 'batched',
    spoolDir: join(dir, 'spool'),
    sinkUrl: sink,
    hmacKey: 'bench',
    recordedBy: `bench-${mode}`,
  });
  await audit.ready();
  wrapHandler = (handler) => audit.wrap(handler);
}
const gateway = await createGateway({
  dataDir: join(dir, 'gateway'),
  rateLimit: false,
  tenants: { [tenant]: { baseUrl: process.env.BENCH_EHR as string, fhirVersion: 'STU3' } },
  ...(wrapHandler === undefined ? {} : { wrapHandler }),
});
const client = await gateway.registry.createClient({ tenants: [tenant], name: 'bench' });
process.stdout.write(
  `${JSON.stringify({ url: gateway.url, clientId: client.clientId, clientSecret: client.clientSecret })}\n`,
);
process.on('SIGTERM', () => process.exit(0));
