/** Errors of the load-test and conformance tools, with stable `FW_LOAD_*` / `FW_CONF_*` codes. */
export class LoadtestError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
