/**
 * `fhirwatch console`: the web console (@fhirwatch/console) on its own port, over a store it opens (`--store`,
 * `--clickhouse-url`) or in front of a running sink (`--sink-url`, when the sink owns an embedded store). The
 * first stdout line is the console's URL. A sink can serve the console itself: `fhirwatch sink --console`.
 */
import { parseArgs } from 'node:util';
import { type Credential, parseCredentials } from '@fhirwatch/clickhouse-sink/query-client';
import type { ConsoleOptions } from '@fhirwatch/console';
import { UsageError } from '../command.ts';
import {
  isStoreBusy,
  numberFlag,
  readHmacKeyFile,
  readKeyFileText as readKeyFileTextOf,
  requireExistingStore,
  STORE_OPTIONS,
  storeInUseMessage,
  storeSource,
} from '../flags.ts';
import { stopSignal } from '../stop.ts';

export const description = 'Web console over the store: SRE overview, compliance search and reports, load tests';

const USAGE = `Usage: fhirwatch console [options]      serve the console until Ctrl-C; prints its URL first

Store (one of):
  --store <dir>            embedded chDB data directory, existing (not open in another process; if a sink owns it,
                           run \`fhirwatch sink --console\` there or use --sink-url)
  --clickhouse-url <url>   ClickHouse server (user/password from FHIRWATCH_CLICKHOUSE_USER / _PASSWORD; the
                           older CLICKHOUSE_USER / CLICKHOUSE_PASSWORD are still read)
  --sink-url <url>         a running sink: the console forwards its queries to the sink's query API

  --port <n>               port (default 0: any free port)
  --host <addr>            bind address (default 127.0.0.1; any other needs FHIRWATCH_QUERY_TOKEN(S), >= 16 chars)
  --hmac-key-file <file>   the audit writers' HMAC key (hex), for the chain-integrity status

The console and its API expose PHI (who saw which patient): every read of audit records is recorded in the
store's audit_query_log with the officer's token name (FHIRWATCH_QUERY_TOKENS=name:token,…) or the name entered
in the console (FHIRWATCH_QUERY_TOKEN, one shared token). With --sink-url the console forwards each caller's own
token to the sink and never adds one: a caller without a token gets the sink's 401.
`;

/** The HMAC key file's key (kept for importers; the rule lives in ../flags.ts). */
export function readHmacKey(file: string): Buffer {
  return readHmacKeyFile(file);
}

/** The text of `--hmac-key-file` (kept for importers; ../flags.ts). */
export function readKeyFileText(file: string): string {
  return readKeyFileTextOf(file);
}

/** `name:token` pairs from an environment variable (empty when unset). */
export function credentialsFromEnv(name: string): Credential[] {
  try {
    return parseCredentials(process.env[name] ?? '', name);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...STORE_OPTIONS,
      'sink-url': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'hmac-key-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const source = storeSource(values, { others: { 'sink-url': values['sink-url'] } });
  requireExistingStore(source);
  const port = numberFlag('port', values.port, { min: 0, max: 65535 }) ?? 0;
  const token = process.env.FHIRWATCH_QUERY_TOKEN || undefined;
  const tokens = credentialsFromEnv('FHIRWATCH_QUERY_TOKENS');
  const options: ConsoleOptions = { port, ...(values.host === undefined ? {} : { host: values.host }) };
  if (token !== undefined) options.token = token;
  if (tokens.length > 0) options.tokens = tokens;
  if (values['hmac-key-file'] !== undefined) options.hmacKey = readHmacKey(values['hmac-key-file']);
  if (source?.kind === 'store') options.store = source.path;
  if (values['sink-url'] !== undefined) options.sinkUrl = values['sink-url'];
  if (source?.kind === 'clickhouse') {
    options.clickhouseUrl = source.url;
    if (source.username !== undefined) options.username = source.username;
    if (source.password !== undefined) options.password = source.password;
  }
  const { startConsole } = await import('@fhirwatch/console');
  const { findAnsweringSink, findRunningSink } = await import('@fhirwatch/clickhouse-sink/query-client');
  const busy = (running: { pid: number; url: string } | undefined): number => {
    const message = storeInUseMessage(String(values.store), running, {
      unknownOwner:
        "start that sink with --console, or run `fhirwatch console --sink-url <the sink's URL>` (FW_CONSOLE_STORE_BUSY)",
      runningSink: (url) => `use it (FW_CONSOLE_STORE_BUSY):\n  fhirwatch console --sink-url ${url}`,
    });
    process.stderr.write(`fhirwatch console: ${message}\n`);
    return 1;
  };
  // a sink that answers owns the store: say so without asking chDB (which prints its own lock error first)
  const answering = options.store === undefined ? undefined : await findAnsweringSink(options.store);
  if (answering !== undefined) return busy(answering);
  let server: Awaited<ReturnType<typeof startConsole>>;
  try {
    server = await startConsole(options);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (isStoreBusy(error)) return busy(findRunningSink(String(values.store)));
    if (code === 'FW_CONSOLE_SINK_UNREACHABLE') {
      process.stderr.write(
        `fhirwatch console: ${(error as Error).message}: start it first (\`fhirwatch sink --store <dir>\`), or check the URL (FW_CONSOLE_SINK_UNREACHABLE)\n`,
      );
      return 1;
    }
    if (code === 'FW_SINK_OPTIONS') throw new UsageError((error as Error).message);
    throw error;
  }
  process.stdout.write(`${server.url}/\n`);
  const signal = await stopSignal().requested;
  process.stderr.write(`fhirwatch console: ${signal}, closing\n`);
  await server.close();
  return 0;
}
