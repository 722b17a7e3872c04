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
 *   `<crc32 as 8 lowercase hex> <json>\n` per line (the contract's wire module, docs/wire.md); the CRC
 *   is checked here (end to end), so the shipper sends segment bytes without decoding and re-encoding them.
 *
 * All lines valid or a 400 naming the first bad line (1-based) and field, never a value.
 */
import { crc32 } from 'node:zlib';
import {
  type AuditRecord,
  type AuditRequestRecord,
  NDJSON_MEDIA_TYPE,
  requestFromAuditRecord,
  SPOOL_MEDIA_TYPE,
  SPOOL_PREFIX_BYTES,
  spoolLineProblem,
} from '@fhirwatch/contract';
import { SinkError } from '../errors.ts';
import { auditRecordProblem, auditRequestProblem } from './validate.ts';

export { NDJSON_MEDIA_TYPE, SPOOL_MEDIA_TYPE };

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
      const problem = spoolLineProblem(body, lineStart, end, crc32);
      if (problem === 'framing') {
        throw new SinkError('FW_SINK_BAD_RECORD', `line ${line}: not a framed spool line`, { line });
      }
      if (problem === 'crc') throw new SinkError('FW_SINK_BAD_RECORD', `line ${line}: CRC mismatch`, { line });
      jsonStart = lineStart + SPOOL_PREFIX_BYTES;
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
