/** Plain-text table for a terminal: a title line, aligned columns, long cells cut with `…`. */
import type { Report } from '../types.ts';
import { cellText } from './cells.ts';

export interface TableOptions {
  /** Longest cell shown, in characters. Default 48. */
  maxCellWidth?: number;
}

function clip(text: string, width: number): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

export function formatTable(
  report: Pick<Report<object>, 'title' | 'columns' | 'rows' | 'range' | 'tenant' | 'notes'>,
  options: TableOptions = {},
): string {
  const maxWidth = options.maxCellWidth ?? 48;
  const cells = (report.rows as readonly object[] as Record<string, unknown>[]).map((row) =>
    report.columns.map((column) => clip(cellText(row[column.key]), maxWidth)),
  );
  const widths = report.columns.map((column, i) =>
    Math.max(column.header.length, ...cells.map((row) => row[i]?.length ?? 0)),
  );
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
  const out = [`${report.title} (${scope}): ${report.rows.length} row${report.rows.length === 1 ? '' : 's'}`];
  for (const note of report.notes ?? []) out.push(`Note: ${note}`);
  if (report.rows.length > 0) {
    out.push(line(report.columns.map((column) => column.header)));
    out.push(line(widths.map((width) => '-'.repeat(width))));
    for (const row of cells) out.push(line(row));
  }
  return `${out.join('\n')}\n`;
}
