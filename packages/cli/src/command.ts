import { errorTable, FhirwatchError } from '@fhirwatch/contract';

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

/** The CLI's own error codes (the contract's error helper; a usage error is the caller's mistake). */
export const CLI_ERRORS = errorTable('cli', {
  FW_CLI_USAGE: { status: 400, issue: 'invalid' },
});

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends FhirwatchError<'FW_CLI_USAGE'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(CLI_ERRORS.FW_CLI_USAGE, 'FW_CLI_USAGE', message, options);
    this.name = 'UsageError';
  }
}
