/**
 * One gateway process of the benchmark. BENCH_MODE = `baseline` (the gateway alone) | `batched` |
 * `strict` (the same gateway wrapped by the full middleware: audit + spans + metrics, exporting to
 * the receiver at BENCH_SINK) | `audit-only` (batched audit, no OTel SDK); a `-old` suffix
 * (`batched-old`) runs the same mode with the middleware at BENCH_SRC. Prints `{url, clientId, clientSecret}` once listening.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type GatewayOptions } from '@fhirwatch/gateway';
import * as current from '../src/index.ts';

const mode = process.env.BENCH_MODE ?? 'baseline';
// `BENCH_SRC`: another copy of the middleware's src/index.ts (e.g. an earlier commit's, extracted by
// run.ts for `--compare`), so old and new code run side by side in the same window.
const { fhirAudit, setupTelemetry } = (
  process.env.BENCH_SRC === undefined ? current : await import(process.env.BENCH_SRC)
) as typeof current;
const sink = process.env.BENCH_SINK as string;
const tenant = process.env.BENCH_TENANT as string;
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), `gw-${mode}-`));
let wrapHandler: GatewayOptions['wrapHandler'];
if (mode !== 'baseline') {
  // `audit-only`: the middleware without an SDK (spans and metrics are the API's no-ops), to split
  // the cost between telemetry and audit.
  if (!mode.startsWith('audit-only'))
    setupTelemetry({ endpoint: sink, serviceName: 'fhirwatch-bench', metricExportIntervalMs: 2000 });
  const audit = fhirAudit({
    mode: mode.startsWith('strict') ? 'strict' : 'batched',
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
