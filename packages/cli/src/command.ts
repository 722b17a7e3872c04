/** The contract every `fhirwatch <name>` module (src/commands/<name>.ts) implements. */
export interface CommandModule {
  /** One line for `fhirwatch --help`. */
  readonly description: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {
  readonly code = 'FW_CLI_USAGE';
}
