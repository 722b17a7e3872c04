/** Plain-text table for a terminal: a title line, aligned columns, long cells cut with `…`. */

import { REQUEST_COLUMNS } from '../requests.ts';
import type { Report } from '../types.ts';
import { cellText } from './cells.ts';

export interface TableOptions {
  /** Longest cell shown, in characters. Default 48. */
  maxCellWidth?: number;
  /** Show the per-patient rows of a report that has request rows. Default false. */
  perPatient?: boolean;
}

/** A list (patients, categories) as plain words in a terminal, other cells as in CSV. */
function tableCell(value: unknown): string {
  return Array.isArray(value) ? value.map((item) => cellText(item)).join(' ') : cellText(value);
}

function clip(text: string, width: number): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

export function formatTable(
  report: Pick<Report<object>, 'title' | 'columns' | 'rows' | 'range' | 'tenant' | 'notes' | 'flagged' | 'requests'>,
  options: TableOptions = {},
): string {
  const maxWidth = options.maxCellWidth ?? 48;
  // a report about people shows one line per request; its per-patient rows are the detail (--format csv|json|fhir)
  const byRequest = report.requests !== undefined && options.perPatient !== true;
  const columns = byRequest ? REQUEST_COLUMNS : report.columns;
  const shown = (byRequest ? report.requests : report.rows) as readonly object[] as Record<string, unknown>[];
  const cells = shown.map((row) => columns.map((column) => clip(tableCell(row[column.key]), maxWidth)));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (values: string[]): string =>
    values
      .map((value, i) => value.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const scope = [
    report.range ? `${report.range.from.toISOString()} – ${report.range.to.toISOString()}` : '',
    report.tenant ? `tenant ${report.tenant}` : 'all tenants',
  ]
    .filter((part) => part !== '')
    .join(', ');
  const count = byRequest
    ? `${shown.length} request${shown.length === 1 ? '' : 's'} (${report.rows.length} per-patient row${report.rows.length === 1 ? '' : 's'}: --format csv, json or fhir)`
    : `${report.rows.length} row${report.rows.length === 1 ? '' : 's'}`;
  const out = [`${report.title} (${scope}): ${count}`];
  for (const note of report.notes ?? []) out.push(`Note: ${note}`);
  if (report.flagged !== undefined) {
    out.push(
      report.flagged.length === 0
        ? 'Flagged: no one'
        : `Flagged: ${report.flagged.map((f) => `${f.principal} (${f.rows} row${f.rows === 1 ? '' : 's'})`).join(', ')}`,
    );
  }
  if (shown.length > 0) {
    out.push(line(columns.map((column) => column.header)));
    out.push(line(widths.map((width) => '-'.repeat(width))));
    for (const row of cells) out.push(line(row));
  }
  return `${out.join('\n')}\n`;
}
