/** One entry point for every output format of the compliance reports. */

import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from '../errors.ts';
import { type AuditEventShape, auditEventBundle } from '../fhir/audit-event.ts';
import type { Report } from '../types.ts';
import { formatCsv } from './csv.ts';
import { formatJson } from './json.ts';
import { formatTable } from './table.ts';

export const OUTPUT_FORMATS = ['table', 'csv', 'json', 'fhir'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface FormatOptions {
  /** AuditEvent shape for `fhir` (default R4). */
  fhirShape?: AuditEventShape;
  /** Bundle timestamp (tests pin it). */
  now?: Date;
}

/** Render a report; `fhir` needs a record-level report (access, activity, after-hours, vip, exports, tenant-isolation). */
export function formatReport(report: Report<object>, format: OutputFormat, options: FormatOptions = {}): string {
  switch (format) {
    case 'table':
      return formatTable(report);
    case 'csv':
      return formatCsv({ columns: report.exportColumns ?? report.columns, rows: report.rows });
    case 'json':
      return formatJson(report);
    case 'fhir':
      if (report.records === undefined) {
        throw new AuditQueryError(
          AUDIT_QUERY_ERROR_CODES.formatUnsupported,
          `the ${report.name} report aggregates records; FHIR AuditEvent output needs a record-level report`,
        );
      }
      return `${JSON.stringify(auditEventBundle(report.records, { shape: options.fhirShape ?? 'R4', timestamp: options.now }), null, 2)}\n`;
    default:
      throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, `unknown format '${String(format)}'`);
  }
}
