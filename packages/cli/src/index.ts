export type { CommandModule } from './command.ts';
export { UsageError } from './command.ts';
export { type StopSignal, stopSignal } from './stop.ts';
