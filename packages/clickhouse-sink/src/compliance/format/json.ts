/** JSON output: the report's metadata and every row (record-level reports carry every record field). */
import type { Report } from '../types.ts';

export function reportToJson(report: Report<object>): Record<string, unknown> {
  return {
    report: report.name,
    title: report.title,
    ...(report.range ? { from: report.range.from.toISOString(), to: report.range.to.toISOString() } : {}),
    tenant: report.tenant ?? null,
    parameters: report.parameters,
    notes: report.notes ?? [],
    count: report.rows.length,
    ...(report.flagged === undefined ? {} : { flagged: report.flagged }),
    ...(report.requests === undefined ? {} : { requests: report.requests }),
    rows: report.rows,
  };
}

export function formatJson(report: Report<object>): string {
  return `${JSON.stringify(reportToJson(report), null, 2)}\n`;
}
