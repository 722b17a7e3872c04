/**
 * `fhirwatch <command> …`: dispatches to src/commands/<command>.ts. The CLI is thin: each command
 * parses its arguments, resolves options and calls a package.
 *
 * Only the command being run is imported (and it imports what it needs, late): `fhirwatch --help` and an
 * unknown command read each command's one-line `description` from its file text instead of importing every
 * command (which would load chDB, OpenTelemetry and the gateway just to print a list).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { CommandModule } from './command.ts';
import { UsageError } from './command.ts';
import { runsUntilStopped, stopSignal } from './stop.ts';

// Before the command (and chDB) load: a stop asked during start-up is kept, and the command closes cleanly.
if (runsUntilStopped(process.argv.slice(2))) stopSignal();

const commandsDir = new URL('./commands/', import.meta.url);
const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((file) => file.endsWith(extension) && !file.endsWith(`.test${extension}`) && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -extension.length))
    .sort();
}

async function load(name: string): Promise<CommandModule> {
  return (await import(new URL(`${name}${extension}`, commandsDir).href)) as CommandModule;
}

/** `export const description = '…'` (or "…", `…`) as written in the command's file; undefined when not a literal. */
const DESCRIPTION = /export const description\s*=\s*(?:\n\s*)?(['"`])((?:\\.|(?!\1).)*)\1/;

async function describe(name: string): Promise<string> {
  const text = readFileSync(new URL(`${name}${extension}`, commandsDir), 'utf8');
  const match = DESCRIPTION.exec(text);
  if (match?.[2] !== undefined) return match[2].replace(/\\(.)/g, '$1');
  return (await load(name)).description;
}

async function help(stream: NodeJS.WriteStream): Promise<void> {
  const lines = ['Usage: fhirwatch <command> [options]', '', 'Commands:'];
  for (const name of commandNames()) lines.push(`  ${name.padEnd(12)} ${await describe(name)}`);
  lines.push('', 'Run `fhirwatch <command> --help` for the options of one command.');
  stream.write(`${lines.join('\n')}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await help(process.stdout);
    return name === undefined ? 2 : 0;
  }
  if (!commandNames().includes(name)) {
    process.stderr.write(`fhirwatch: unknown command '${name}'\n`);
    await help(process.stdout);
    return 2;
  }
  return (await load(name)).run(rest);
}

// `fhirwatch audit … | head`: a reader that stops early is not an error
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`fhirwatch: ${(error as Error).message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`fhirwatch: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}

// A long-running command has closed what it opened when it returns: exit now, while the stop handlers are still
// installed. Left to the event loop, Node's exit first closes the signal handles (restoring the default action),
// and a signal landing in that window (a second Ctrl-C, a supervisor's repeated SIGTERM) ended the process by the
// signal, exit code null, instead of the command's code (src/stop.ts).
if (runsUntilStopped(process.argv.slice(2))) process.exit(process.exitCode ?? 0);
