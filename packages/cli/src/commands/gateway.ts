/**
 * `fhirwatch gateway`: run the reference interop gateway until SIGINT/SIGTERM. The first stdout line
 * is the gateway's base URL; then one JSON log line per request (no PHI).
 * The admin API credential comes from the environment (FHIRWATCH_GATEWAY_ADMIN_TOKEN), never argv.
 */
import { parseArgs } from 'node:util';
import { createGateway, type GatewayOptions, loadGatewayConfig } from '@fhirwatch/gateway';
import { UsageError, untilSignal } from '../command.ts';

export const description = 'Run the reference interop gateway (/metadata, /token, tenant routing, FHIR proxy)';

const USAGE = `Usage: fhirwatch gateway [--config <file>] [--port <n>] [--host <addr>] [--data-dir <dir>] [--public-url <url>] [--quiet]

  --config <file>     JSON config: { "tenants": { "<guid>": { "baseUrl", "fhirVersion", "timeoutMs" } }, "dataDir", ... }
  --port <n>          port (default 0: any free port)
  --host <addr>       interface (default 127.0.0.1)
  --data-dir <dir>    client registry and signing key (default: the config's dataDir, else .fhirwatch/gateway)
  --public-url <url>  base URL clients use, when behind a proxy
  --quiet             no request log lines

Environment: FHIRWATCH_GATEWAY_ADMIN_TOKEN enables the admin API (/admin/...) with that bearer token.
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'public-url': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let options: GatewayOptions = {};
  if (values.config !== undefined) {
    try {
      options = loadGatewayConfig(values.config);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'FW_GATEWAY_CONFIG_INVALID') throw error;
      process.stderr.write(`fhirwatch gateway: ${(error as Error).message} (${code})\n`);
      return 1;
    }
  }
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
    options.port = port;
  }
  if (values.host !== undefined) options.host = values.host;
  if (values['data-dir'] !== undefined) options.dataDir = values['data-dir'];
  if (values['public-url'] !== undefined) options.publicUrl = values['public-url'];
  const adminToken = process.env.FHIRWATCH_GATEWAY_ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken !== '') options.adminToken = adminToken;
  if (!values.quiet) options.log = (line) => process.stdout.write(`${line}\n`);

  const gateway = await createGateway(options);
  process.stdout.write(`${gateway.url}\n`);
  await untilSignal();
  await gateway.close();
  return 0;
}
