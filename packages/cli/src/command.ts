/** The contract every `fhirwatch <name>` module (src/commands/<name>.ts) implements. */
export interface CommandModule {
  /** One line for `fhirwatch --help`. */
  readonly description: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** Resolve when the process is asked to stop (Ctrl-C, SIGTERM); servers await this, then close. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {
  readonly code = 'FW_CLI_USAGE';
}
