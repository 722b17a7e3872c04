export type { CommandModule } from './command.ts';
export { CLI_ERRORS, UsageError, untilSignal } from './command.ts';
