import { errorTable, FhirwatchError } from '@fhirwatch/contract';

/** The contract every `fhirwatch <name>` module (src/commands/<name>.ts) implements. */
export interface CommandModule {
  /** One line for `fhirwatch --help`. */
  readonly description: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
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
