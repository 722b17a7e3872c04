/** Errors of the dashboards package, each with a stable `code`. */
import { type ErrorSpec, errorTable, FhirwatchError } from '@fhirwatch/contract';

export const DASHBOARD_ERROR_CODES = {
  /** A macro has the wrong number of arguments or unbalanced parentheses. */
  badMacro: 'FW_DASH_BAD_MACRO',
  /** The SQL names a `$__…` macro this expander does not know. */
  unknownMacro: 'FW_DASH_UNKNOWN_MACRO',
  /** A `${var}` outside `$__conditionalAll` has no concrete values (missing, or 'all'). */
  unboundVariable: 'FW_DASH_UNBOUND_VARIABLE',
  /** The time range or interval given to expandMacros is not usable. */
  badRange: 'FW_DASH_BAD_RANGE',
} as const;

export type DashboardErrorCode = (typeof DASHBOARD_ERROR_CODES)[keyof typeof DASHBOARD_ERROR_CODES];

/** Code → status and issue type (the contract's error helper): a bad panel query is the caller's 400. */
export const DASHBOARD_ERRORS = errorTable('dashboards', {
  FW_DASH_BAD_MACRO: { status: 400, issue: 'invalid' },
  FW_DASH_UNKNOWN_MACRO: { status: 400, issue: 'not-supported' },
  FW_DASH_UNBOUND_VARIABLE: { status: 400, issue: 'required' },
  FW_DASH_BAD_RANGE: { status: 400, issue: 'invalid' },
} satisfies Record<DashboardErrorCode, ErrorSpec>);

export class DashboardError extends FhirwatchError<DashboardErrorCode> {
  constructor(code: DashboardErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(DASHBOARD_ERRORS[code], code, message, options);
    this.name = 'DashboardError';
  }
}
