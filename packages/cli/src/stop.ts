/**
 * How the long-running commands (`demo`, `sink`, `gateway`, `console`, `mock-ehr`) stop: SIGINT (Ctrl-C) or
 * SIGTERM asks once, the command closes what it opened (servers, spools, the store) and exits 0.
 *
 * The handlers are installed once per process and stay installed until exit, so that:
 * - a signal that arrives before the command awaits it (during start-up, or between printing the URL and
 *   awaiting) is kept, not lost: `requested` is already settled and the command closes as soon as it looks;
 * - a second signal while closing does not kill the process half-way (with no listener left Node restores the
 *   default action, and a repeated SIGTERM used to end the process by the signal, exit code null, the store
 *   left open); it is reported and otherwise ignored. SIGKILL still ends a stuck close.
 * main.ts installs them before it loads such a command (`runsUntilStopped`); the command calls `stopSignal()`
 * too (it returns the same object). Short commands keep Node's default: Ctrl-C ends them at once.
 * Listening on a signal does not keep the process alive (Node unrefs signal handles).
 */

export interface StopSignal {
  /** Settles with the first SIGINT/SIGTERM received since the handlers were installed. */
  readonly requested: Promise<NodeJS.Signals>;
  /** Aborted on that first signal (for work that takes an AbortSignal). */
  readonly abort: AbortSignal;
  /** The first signal received, once one was. */
  readonly received: NodeJS.Signals | undefined;
}

let installed: StopSignal | undefined;

/** Installs the handlers on first call; later calls return the same StopSignal. */
export function stopSignal(): StopSignal {
  if (installed !== undefined) return installed;
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  let settle: (signal: NodeJS.Signals) => void = () => {};
  const requested = new Promise<NodeJS.Signals>((resolve) => {
    settle = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received !== undefined) {
      process.stderr.write(`fhirwatch: ${signal} again: still closing (the store is closed before exit)\n`);
      return;
    }
    received = signal;
    settle(signal);
    controller.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  installed = {
    requested,
    abort: controller.signal,
    get received() {
      return received;
    },
  };
  return installed;
}

const UNTIL_STOPPED = new Set(['demo', 'sink', 'gateway', 'console', 'mock-ehr']);
/** `sink` subcommands that run once and return (Ctrl-C ends them as any short command). */
const ONE_SHOT_SUBCOMMANDS = new Set(['migrate', 'ddl']);

/** Whether `fhirwatch <argv>` is a command that runs until stopped (or, for `demo`, closes early when stopped). */
export function runsUntilStopped(argv: readonly string[]): boolean {
  const [name, sub] = argv;
  if (name === undefined || !UNTIL_STOPPED.has(name)) return false;
  return !(name === 'sink' && sub !== undefined && ONE_SHOT_SUBCOMMANDS.has(sub));
}
