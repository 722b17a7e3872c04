/**
 * One gateway process of the benchmark. BENCH_MODE = `baseline` (the gateway alone) | `batched` |
 * `strict` (the same gateway wrapped by the full middleware: audit + spans + metrics, exporting to
 * the receiver at BENCH_SINK) | `audit-only` (batched audit, no OTel SDK) | `stock` (no middleware: the
 * stock OpenTelemetry `@opentelemetry/instrumentation-http` + `@opentelemetry/instrumentation-undici`,
 * spans + metrics, no audit, same SDK exporters and batch settings as the middleware's setupTelemetry);
 * a `-old` suffix (`batched-old`) runs the same mode with the middleware at BENCH_SRC.
 * Prints `{url, clientId, clientSecret}` once listening. With BENCH_MEM_INTERVAL_MS (the soak bench), then
 * prints one `{"mem": process.memoryUsage(), "gateway": …}` line per interval. BENCH_RATE_LIMIT=1 keeps the
 * gateway's default per-client rate limiter on (the go-live configuration; off for throughput runs).
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayOptions } from '@fhirwatch/gateway';
import type * as Middleware from '../src/index.ts';

const mode = process.env.BENCH_MODE ?? 'baseline';
const sink = process.env.BENCH_SINK as string;
const tenant = process.env.BENCH_TENANT as string;
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), `gw-${mode}-`));

if (mode === 'stock') {
  // Before the gateway is loaded. The http instrumentation wraps `http.Server.prototype.emit` when `http` is
  // required (require-in-the-middle); the gateway imports node:http as ESM, which shares that prototype, so
  // requiring it here once is enough. undici is instrumented through its diagnostics channels (no patching).
  const [{ HttpInstrumentation }, { UndiciInstrumentation }, sdk] = await Promise.all([
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-undici'),
    import('./stock-sdk.ts'),
  ]);
  sdk.startStockSdk(sink, [new HttpInstrumentation(), new UndiciInstrumentation()]);
  const http = createRequire(import.meta.url)('node:http') as typeof import('node:http') & {
    Server: { prototype: { emit: { __wrapped?: boolean } } };
  };
  if (http.Server.prototype.emit.__wrapped !== true) throw new Error('stock: http.Server.prototype.emit not wrapped');
}

const { createGateway } = await import('@fhirwatch/gateway');
let wrapHandler: GatewayOptions['wrapHandler'];
if (mode !== 'baseline' && mode !== 'stock') {
  // `BENCH_SRC`: another copy of the middleware's src/index.ts (e.g. an earlier commit's, extracted by
  // run.ts for `--compare`), so old and new code run side by side in the same window.
  const { fhirAudit, setupTelemetry } = (await import(
    process.env.BENCH_SRC === undefined ? '../src/index.ts' : process.env.BENCH_SRC
  )) as typeof Middleware;
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
  ...(process.env.BENCH_RATE_LIMIT === '1' ? {} : { rateLimit: false }),
  tenants: { [tenant]: { baseUrl: process.env.BENCH_EHR as string, fhirVersion: 'STU3' } },
  ...(wrapHandler === undefined ? {} : { wrapHandler }),
});
const client = await gateway.registry.createClient({ tenants: [tenant], name: 'bench' });
process.stdout.write(
  `${JSON.stringify({ url: gateway.url, clientId: client.clientId, clientSecret: client.clientSecret })}\n`,
);
const memInterval = Number(process.env.BENCH_MEM_INTERVAL_MS ?? 0);
if (memInterval > 0) {
  setInterval(() => {
    const stats = gateway.registry.stats();
    process.stdout.write(`${JSON.stringify({ mem: process.memoryUsage(), gateway: stats })}\n`);
  }, memInterval).unref();
}
process.on('SIGTERM', () => process.exit(0));
