export type { CommandModule } from './command.ts';
export { CLI_ERRORS, UsageError } from './command.ts';
export { type StopSignal, stopSignal } from './stop.ts';
