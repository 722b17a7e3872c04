/**
 * The sink's operational log: one JSON object per line on stderr by default. Entries carry a stable `event`
 * code, counts, table names and PHI-free store error descriptions (`describeStoreError`): never row values,
 * since a refused telemetry row or audit record can hold anything a sender put in it.
 */

export interface SinkLogEntry {
  readonly level: 'info' | 'warn' | 'error';
  /** Stable code, e.g. `FW_SINK_TELEMETRY_REFUSED`. */
  readonly event: string;
  readonly message: string;
  readonly table?: string;
  readonly rows?: number;
  /** PHI-free store error descriptions (`store error 407 DECIMAL_OVERFLOW`). */
  readonly errors?: readonly string[];
}

export type SinkLogger = (entry: SinkLogEntry) => void;

/** Default logger: a JSON line on stderr with the time. */
export const stderrLogger: SinkLogger = (entry) => {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), component: 'fhirwatch-sink', ...entry })}\n`,
  );
};
