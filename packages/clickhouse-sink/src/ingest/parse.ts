/**
 * `POST /v1/audit` bodies: one audit line per record, two line formats and two framings.
 *
 * Line formats (a mixed batch is fine: a spool written before an upgrade ships after it):
 * - a request record (`"v":2`, @fhirwatch/contract audit-request.ts): one per HTTP request;
 * - a legacy single record (the per-patient AuditRecord of earlier middleware versions), lifted into a
 *   v1 request with one entry and one patient (its chain and event_id unchanged).
 *
 * Framings:
 * - `application/x-ndjson`: one JSON value per line;
 * - `application/x-fhirwatch-spool`: the middleware's spool segment bytes as they are on disk, one
 *   `<crc32 as 8 hex> <json>\n` per line; the CRC is checked here (end to end), so the shipper sends
 *   segment bytes without decoding and re-encoding them.
 *
 * All lines valid or a 400 naming the first bad line (1-based) and field, never a value.
 */
import { crc32 } from 'node:zlib';
import { type AuditRecord, type AuditRequestRecord, requestFromAuditRecord } from '@fhirwatch/contract';
import { SinkError } from '../errors.ts';
import { auditRecordProblem, auditRequestProblem } from './validate.ts';

export const NDJSON_MEDIA_TYPE = 'application/x-ndjson';
export const SPOOL_MEDIA_TYPE = 'application/x-fhirwatch-spool';

function hexValue(body: Buffer, start: number): number {
  let value = 0;
  for (let i = start; i < start + 8; i++) {
    const c = body[i] as number;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

/** Parse and validate an audit batch (see module comment); `framed` = the spool framing. */
export function parseAuditLines(body: Buffer, maxRecords: number, framed = false): AuditRequestRecord[] {
  const records: AuditRequestRecord[] = [];
  let start = 0;
  let line = 0;
  const length = body.length;
  while (start < length) {
    let end = body.indexOf(10, start);
    if (end === -1) end = length;
    line++;
    const lineStart = start;
    start = end + 1;
    let jsonStart = lineStart;
    if (framed) {
      if (end === lineStart) continue;
      if (end - lineStart < 10 || body[lineStart + 8] !== 32) {
        throw new SinkError('FW_SINK_BAD_RECORD', `line ${line}: not a framed spool line`, { line });
      }
      jsonStart = lineStart + 9;
      if (hexValue(body, lineStart) !== crc32(body.subarray(jsonStart, end)) >>> 0) {
        throw new SinkError('FW_SINK_BAD_RECORD', `line ${line}: CRC mismatch`, { line });
      }
    }
    const raw = body.toString('utf8', jsonStart, end);
    if (raw.trim() === '') continue;
    if (records.length >= maxRecords) {
      throw new SinkError('FW_SINK_TOO_LARGE', `batch exceeds ${maxRecords} records`, { line });
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new SinkError('FW_SINK_BAD_JSON', `line ${line}: not valid JSON`, { line });
    }
    const request = typeof value === 'object' && value !== null && (value as { v?: unknown }).v !== undefined;
    const problem = request ? auditRequestProblem(value) : auditRecordProblem(value);
    if (problem !== undefined) {
      const where = problem.field === '' ? 'record' : `field '${problem.field}'`;
      throw new SinkError('FW_SINK_BAD_RECORD', `line ${line}: ${where} ${problem.rule}`, { line });
    }
    records.push(request ? (value as AuditRequestRecord) : requestFromAuditRecord(value as AuditRecord));
  }
  return records;
}
