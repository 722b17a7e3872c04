/**
 * Large answers without holding the event loop: a 25,000-record access report is ~10 MB of JSON, and one
 * `JSON.stringify` of it blocks the sink's event loop (and so `POST /v1/audit`) for about half a second on a
 * laptop core. These generators serialize a report in slices of {@link SLICE_ROWS} rows and yield to the event
 * loop between slices; the API writes each slice as it comes (chunked transfer, backpressure honoured).
 * Same bytes as the one-shot formatters up to JSON key order (rows last).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { AuditRecord } from '@fhirwatch/contract';
import { type AuditEventShape, auditEventFromRecord } from '../compliance/fhir/audit-event.ts';
import { CSV_BOM, csvField } from '../compliance/format/csv.ts';
import { reportToJson } from '../compliance/format/json.ts';
import type { Report, ReportColumn } from '../compliance/types.ts';

export const SLICE_ROWS = 500;

/** `reportToJson(report)` as text, rows in slices. */
export async function* jsonReportChunks(report: Report<object>): AsyncGenerator<string> {
  const { rows, ...head } = reportToJson(report) as { rows: readonly unknown[] } & Record<string, unknown>;
  yield `${JSON.stringify(head).slice(0, -1)},"rows":[`;
  for (let i = 0; i < rows.length; i += SLICE_ROWS) {
    if (i > 0) await yieldToLoop();
    const slice = rows.slice(i, i + SLICE_ROWS).map((row) => JSON.stringify(row));
    yield (i > 0 ? ',' : '') + slice.join(',');
  }
  yield ']}';
}

/** formatCsv({ columns, rows }) in slices: BOM + header, then CRLF-terminated rows. */
export async function* csvChunks(columns: readonly ReportColumn[], rows: readonly object[]): AsyncGenerator<string> {
  yield `${CSV_BOM}${columns.map((column) => csvField(column.header)).join(',')}\r\n`;
  for (let i = 0; i < rows.length; i += SLICE_ROWS) {
    if (i > 0) await yieldToLoop();
    let text = '';
    for (const row of rows.slice(i, i + SLICE_ROWS) as Record<string, unknown>[]) {
      text += `${columns.map((column) => csvField(row[column.key])).join(',')}\r\n`;
    }
    yield text;
  }
}

/** auditEventBundle(records) as text, entries in slices. */
export async function* fhirBundleChunks(
  records: readonly AuditRecord[],
  shape: AuditEventShape,
  timestamp = new Date(),
): AsyncGenerator<string> {
  yield `{"resourceType":"Bundle","type":"collection","timestamp":${JSON.stringify(timestamp.toISOString())},"entry":[`;
  for (let i = 0; i < records.length; i += SLICE_ROWS) {
    if (i > 0) await yieldToLoop();
    const slice = records
      .slice(i, i + SLICE_ROWS)
      .map((record) =>
        JSON.stringify({ fullUrl: `urn:uuid:${record.event_id}`, resource: auditEventFromRecord(record, { shape }) }),
      );
    yield (i > 0 ? ',' : '') + slice.join(',');
  }
  yield ']}\n';
}
