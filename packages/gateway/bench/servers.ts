/**
 * Bench helper: runs one server in its own process and prints one JSON line on stdout
 * (`{"url": ...}`, plus client credentials for the gateway), then waits for SIGTERM.
 *   node bench/servers.ts mock-ehr <fhirVersion> <patients>
 *   node bench/servers.ts gateway <providerUrl> <fhirVersion> <dataDir> [audited]
 *     (started as partners run it, through startInstrumentedGateway; `audited`: batched audit into a
 *     spool under dataDir, no sink; default without the audit, to measure forwarding alone)
 *   node bench/servers.ts token-gateway <dataDir> cache|no-cache   (token endpoint only; no provider is called)
 */
import { openSync, writeSync } from 'node:fs';
import type { FhirVersion } from '@fhirwatch/contract';
import { startMockEhr } from '@fhirwatch/mock-ehr';
import { createGateway, parseGatewayConfig, startInstrumentedGateway } from '../src/index.ts';

const TENANT = '5c1f0e2d-4b3a-4c5d-8e7f-9a0b1c2d3e4f';
const [kind, ...args] = process.argv.slice(2);

const stop = (close: () => Promise<void>): void => {
  const onSignal = (): void => {
    close().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
};

if (kind === 'mock-ehr') {
  const [version, patients] = args;
  const server = await startMockEhr({ fhirVersion: version as FhirVersion, patients: Number(patients), seed: 42 });
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  stop(() => server.close());
} else if (kind === 'gateway') {
  const [providerUrl, version, dataDir, audited] = args as [string, FhirVersion, string, string | undefined];
  // The request log goes to /dev/null: the gateway still builds and writes every line.
  const devNull = openSync('/dev/null', 'w');
  const config = parseGatewayConfig({
    dataDir,
    tenants: { [TENANT]: { baseUrl: providerUrl, fhirVersion: version } },
    // Off: the bench measures forwarding capacity; at full speed one client would exceed the default limit.
    rateLimit: false,
    audit: audited === 'audited' ? { spoolDir: `${dataDir}/audit-spool`, recordedBy: 'bench-gateway' } : false,
  });
  const instrumented = await startInstrumentedGateway(config, {
    log: (line) => {
      writeSync(devNull, `${line}\n`);
    },
  });
  const client = await instrumented.gateway.registry.createClient({ tenants: [TENANT], name: 'bench' });
  process.stdout.write(
    `${JSON.stringify({ url: instrumented.url, tenant: TENANT, clientId: client.clientId, clientSecret: client.clientSecret })}\n`,
  );
  stop(() => instrumented.close());
} else if (kind === 'token-gateway') {
  const [dataDir, mode] = args as [string, string];
  const gateway = await createGateway({
    dataDir,
    tenants: { [TENANT]: { baseUrl: 'http://127.0.0.1:9/unused', fhirVersion: 'STU3' } },
    verificationCache: mode === 'cache' ? {} : false,
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT], name: 'bench' });
  process.stdout.write(
    `${JSON.stringify({ url: gateway.url, tenant: TENANT, clientId: client.clientId, clientSecret: client.clientSecret })}\n`,
  );
  stop(() => gateway.close());
} else {
  process.stderr.write('usage: servers.ts mock-ehr|gateway|token-gateway ...\n');
  process.exit(2);
}
