/**
 * One error shape for every package: a stable `code` (`FW_<PACKAGE>_<WHAT>`), the HTTP `status` it maps
 * to and the FHIR issue type (http://hl7.org/fhir/issue-type) it becomes in an OperationOutcome, both
 * looked up in the package's error table (`errorTable`), never chosen at the throw. Messages never
 * carry PHI.
 *
 * Each package defines its table with its prefix and a subclass of `FhirwatchError`; FHIR-facing
 * handlers answer `errorOutcome(error)` with `error.status`.
 */
import { type IssueType, type OperationOutcome, operationOutcome } from './operation-outcome.ts';

/** What a code means where it faces HTTP. */
export interface ErrorSpec {
  readonly status: number;
  readonly issue: IssueType;
}

/**
 * The code prefix(es) of each owner. A prefix has one owner and a code belongs to one table
 * (packages/e2e/test/error-codes.test.ts). `audit` is the contract's audit-errors.ts: the one table of
 * every `FW_AUDIT_` code, whichever package raises it (middleware spool/shipper, the sink's compliance
 * queries, the CLI's `audit`).
 */
export const ERROR_PREFIXES = {
  contract: ['FW_CONTRACT_'],
  audit: ['FW_AUDIT_'],
  middleware: ['FW_OTEL_'],
  sink: ['FW_SINK_'],
  gateway: ['FW_GATEWAY_'],
  mockEhr: ['FW_MOCKEHR_'],
  loadtests: ['FW_LOAD_', 'FW_CONF_'],
  dashboards: ['FW_DASH_'],
  console: ['FW_CONSOLE_'],
  cli: ['FW_CLI_'],
} as const satisfies Record<string, readonly string[]>;
export type ErrorPackage = keyof typeof ERROR_PREFIXES;

/**
 * A package's error table: code → status and issue type. Throws at module load when a code does not
 * start with one of the package's prefixes (so a wrong prefix fails every test of the package).
 */
export function errorTable<const T extends Readonly<Record<string, ErrorSpec>>>(pkg: ErrorPackage, table: T): T {
  const prefixes: readonly string[] = ERROR_PREFIXES[pkg];
  for (const code of Object.keys(table)) {
    if (!prefixes.some((p) => code.startsWith(p)) || !/^FW_[A-Z0-9_]+$/.test(code)) {
      throw new Error(`error code ${code} of ${pkg} must be FW_… upper case and start with ${prefixes.join(' or ')}`);
    }
  }
  return table;
}

/** Options of one throw: the cause, and where the table's answer is refined for this occurrence. */
export interface FhirwatchErrorOptions {
  cause?: unknown;
  /** A more precise issue type than the table's, e.g. `required` for a missing field. */
  issue?: IssueType;
  /**
   * Another status than the table's: only where one code legitimately answers two (an injected fault is
   * a 500 or a 503, a caller's Retry-After decides which); everything else takes the table's.
   */
  status?: number;
}

/** The base of every package's error class. */
export class FhirwatchError<C extends string = string> extends Error {
  readonly code: C;
  readonly status: number;
  readonly issue: IssueType;

  constructor(spec: ErrorSpec, code: C, message: string, options: FhirwatchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FhirwatchError';
    this.code = code;
    this.status = options.status ?? spec.status;
    this.issue = options.issue ?? spec.issue;
  }
}

/** The OperationOutcome of an error: its issue type, message and code (in `details.coding`). */
export function errorOutcome(error: {
  readonly code: string;
  readonly issue: IssueType;
  readonly message: string;
}): OperationOutcome {
  return operationOutcome(error.issue, error.message, { code: error.code });
}
