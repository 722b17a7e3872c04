/**
 * Errors of the load-test and conformance tools: stable `FW_LOAD_*` codes in one table (the contract's
 * error helper), with the status and issue type they would map to where they face HTTP.
 */
import { errorTable, FhirwatchError } from '@fhirwatch/contract';

export const LOADTEST_ERRORS = errorTable('loadtests', {
  /** A run knob (duration, rate, mix, workers, batch size …) is out of range. */
  FW_LOAD_KNOB: { status: 400, issue: 'invalid' },
  FW_LOAD_SCENARIO: { status: 400, issue: 'invalid' },
  FW_LOAD_SLO: { status: 400, issue: 'invalid' },
  FW_LOAD_UNBOUNDED: { status: 400, issue: 'invalid' },
  FW_LOAD_NO_TARGET: { status: 400, issue: 'required' },
  FW_LOAD_NOT_LOOPBACK: { status: 403, issue: 'forbidden' },
  /** The target's /metadata could not be read or names no token URL. */
  FW_LOAD_METADATA: { status: 502, issue: 'transient' },
  FW_LOAD_TOKEN: { status: 502, issue: 'login' },
  FW_LOAD_SETUP: { status: 502, issue: 'processing' },
  FW_LOAD_NETWORK: { status: 502, issue: 'transient' },
  FW_LOAD_AUTOCANNON: { status: 500, issue: 'exception' },
  FW_LOAD_WORKER: { status: 500, issue: 'exception' },
  FW_LOAD_PLANTED: { status: 500, issue: 'exception' },
  /** A clinician shift plan is out of range (demo pacing). */
  FW_LOAD_SHIFT: { status: 400, issue: 'invalid' },
});
export type LoadtestErrorCode = keyof typeof LOADTEST_ERRORS;

export class LoadtestError extends FhirwatchError<LoadtestErrorCode> {
  constructor(code: LoadtestErrorCode, message: string, options?: { cause?: unknown }) {
    super(LOADTEST_ERRORS[code], code, message, options);
    this.name = 'LoadtestError';
  }
}
