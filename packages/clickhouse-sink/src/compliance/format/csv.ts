/**
 * CSV that opens correctly in Excel: RFC 4180 (CRLF line ends, fields with `"` `,` CR or LF quoted,
 * `"` doubled), UTF-8 with a byte-order mark so Excel does not guess a legacy code page.
 *
 * Text cells that start with `=`, `+`, `-`, `@`, TAB, CR, LF, a space, NUL or the full-width `＝ ＋ － ＠` (which
 * spreadsheet programs read as their ASCII forms) are prefixed with `'` (OWASP CSV injection):
 * the audit store holds search strings typed by users, which must never run as formulas on the
 * compliance officer's machine. Numbers and booleans are written as they are.
 */
import type { Report } from '../types.ts';
import { cellText } from './cells.ts';

export const CSV_BOM = '\uFEFF';

const FORMULA_START = /^[=+\-@\t\r\n \0\uFF1D\uFF0B\uFF0D\uFF20]/;

export function csvField(value: unknown): string {
  let text = cellText(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The report's columns as CSV (header row + one row per report row), BOM first, CRLF after every row. */
export function formatCsv(report: Pick<Report<object>, 'columns' | 'rows'>): string {
  const lines = [report.columns.map((column) => csvField(column.header)).join(',')];
  for (const row of report.rows as readonly object[] as Record<string, unknown>[]) {
    lines.push(report.columns.map((column) => csvField(row[column.key])).join(','));
  }
  return `${CSV_BOM}${lines.join('\r\n')}\r\n`;
}

/** Parse RFC 4180 text (BOM tolerated) into rows of fields; the inverse of formatCsv up to the `'` guard. */
export function parseCsv(text: string): string[][] {
  const input = text.startsWith(CSV_BOM) ? text.slice(1) : text;
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < input.length; i += 1) {
    const char = input[i]!;
    if (quoted) {
      if (char === '"' && input[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\r' && input[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 1;
    } else field += char;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
