/** Errors of the dashboards package, each with a stable `code`. */

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

export class DashboardError extends Error {
  readonly code: DashboardErrorCode;

  constructor(code: DashboardErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DashboardError';
    this.code = code;
  }
}
