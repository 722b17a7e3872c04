export type { CommandModule } from './command.ts';
export { UsageError, untilSignal } from './command.ts';
