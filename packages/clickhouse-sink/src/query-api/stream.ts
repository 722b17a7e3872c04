/**
 * Large answers without holding the event loop: a 25,000-record access report is ~10 MB of JSON, and one
 * `JSON.stringify` of it blocks the sink's event loop (and so `POST /v1/audit`) for about half a second on a
 * laptop core. These generators serialize a report in slices of {@link SLICE_ROWS} rows and yield to the event
 * loop between slices; the API writes each slice as it comes (chunked transfer, backpressure honoured).
 * Same bytes as the one-shot formatters up to JSON key order (rows last). The `…PageChunks` forms take the rows as
 * pages (an export fetched from ClickHouse page by page, search.ts): memory holds one page, not the answer.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { type AuditEventShape, auditEventFromRecord } from '../compliance/fhir/audit-event.ts';
import { CSV_BOM, csvField } from '../compliance/format/csv.ts';
import { reportToJson } from '../compliance/format/json.ts';
import type { Report, ReportColumn } from '../compliance/types.ts';

export const SLICE_ROWS = 500;

/** A whole array as pages of {@link SLICE_ROWS}, yielding to the event loop between them. */
async function* slices<T>(rows: readonly T[]): AsyncGenerator<readonly T[]> {
  for (let i = 0; i < rows.length; i += SLICE_ROWS) {
    if (i > 0) await yieldToLoop();
    yield rows.slice(i, i + SLICE_ROWS);
  }
}

/** `reportToJson(report)` as text, rows in slices. */
export async function* jsonReportChunks(report: Report<object>): AsyncGenerator<string> {
  const { rows, ...head } = reportToJson(report) as { rows: readonly unknown[] } & Record<string, unknown>;
  yield `${JSON.stringify(head).slice(0, -1)},"rows":[`;
  let first = true;
  for await (const slice of slices(rows)) {
    yield (first ? '' : ',') + slice.map((row) => JSON.stringify(row)).join(',');
    first = false;
  }
  yield ']}';
}

/** formatCsv({ columns, rows }) in slices: BOM + header, then CRLF-terminated rows. */
export function csvChunks(columns: readonly ReportColumn[], rows: readonly object[]): AsyncGenerator<string> {
  return csvPageChunks(columns, slices(rows));
}

export async function* csvPageChunks(
  columns: readonly ReportColumn[],
  pages: AsyncIterable<readonly object[]>,
): AsyncGenerator<string> {
  yield `${CSV_BOM}${columns.map((column) => csvField(column.header)).join(',')}\r\n`;
  for await (const page of pages) {
    let text = '';
    for (const row of page as readonly Record<string, unknown>[]) {
      text += `${columns.map((column) => csvField(row[column.key])).join(',')}\r\n`;
    }
    yield text;
  }
}

/** auditEventBundle(records) as text, entries in slices. */
export function fhirBundleChunks(
  records: readonly AuditRecord[],
  shape: AuditEventShape,
  timestamp = new Date(),
): AsyncGenerator<string> {
  return fhirBundlePageChunks(slices(records), shape, timestamp);
}

export async function* fhirBundlePageChunks(
  pages: AsyncIterable<readonly AuditRecord[]>,
  shape: AuditEventShape,
  timestamp = new Date(),
): AsyncGenerator<string> {
  yield `{"resourceType":"Bundle","type":"collection","timestamp":${JSON.stringify(timestamp.toISOString())},"entry":[`;
  let first = true;
  for await (const page of pages) {
    const entries = page.map((record) =>
      JSON.stringify({ fullUrl: `urn:uuid:${record.event_id}`, resource: auditEventFromRecord(record, { shape }) }),
    );
    yield (first ? '' : ',') + entries.join(',');
    first = false;
  }
  yield ']}\n';
}

/** One AuditRecord per line (application/x-ndjson, the ingest wire format), fields in contract order. */
export async function* ndjsonPageChunks(pages: AsyncIterable<readonly AuditRecord[]>): AsyncGenerator<string> {
  for await (const page of pages) {
    let text = '';
    for (const record of page) text += `${JSON.stringify(record, AUDIT_RECORD_FIELDS as unknown as string[])}\n`;
    yield text;
  }
}
