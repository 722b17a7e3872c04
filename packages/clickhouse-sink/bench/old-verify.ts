/**
 * The `audit verify` of commit 5fd10a7 (before issue 11), kept ONLY for bench/verify.ts to measure the old
 * against the new verify in the same run. Not used by the product.
 *
 * `audit verify`: the tamper evidence of the audit store. Each writer (`recorded_by`) chains its
 * records: hash = HMAC-SHA256(key, prev_hash + auditRecordCanonical(record)), prev_hash of seq 1 = ''
 * (packages/contract/src/audit-record.ts). Walking each chain in seq order finds an altered record
 * (hash mismatch), a deleted record (seq gap), a re-inserted modified copy (conflicting duplicate) and
 * a record moved out of place (its prev_hash names another record's hash).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { type AuditRecord, auditRecordCanonical } from '@fhirwatch/contract';
import { AUDIT_EVENTS, RECORD_COLUMNS_SQL, selectRows, toAuditRecord } from '../src/compliance/records.ts';

export const CHAIN_BREAKS = [
  'hash-mismatch',
  'prev-hash-mismatch',
  'reordered',
  'seq-gap',
  'conflicting-duplicate',
] as const;
export type ChainBreak = (typeof CHAIN_BREAKS)[number];

export interface ChainIssue {
  reason: ChainBreak;
  seq: number;
  event_id: string;
  /** For seq-gap: the missing seq numbers as a range `a..b`. */
  detail: string;
}

export interface WriterVerification {
  recorded_by: string;
  ok: boolean;
  /** Distinct records walked (duplicate deliveries of the same record count once). */
  records: number;
  /** Identical duplicate deliveries seen (harmless). */
  duplicates: number;
  first_seq: number;
  last_seq: number;
  first_broken?: ChainIssue;
  /** Every issue found, up to maxIssues. */
  issues: ChainIssue[];
}

export interface VerifyOptions {
  /** The HMAC key the writers used. */
  key: Uint8Array | string;
  /** Only these writers (default: every recorded_by in the store). */
  recordedBy?: readonly string[];
  /**
   * Accept a chain whose first stored seq is > 1 (older records dropped by the retention TTL) and
   * trust that first record's prev_hash. Default false: a missing start is a seq gap.
   */
  allowTruncatedStart?: boolean;
  /** Rows read per round trip. Default 50,000. */
  pageSize?: number;
  /** Issues kept per writer. Default 100. */
  maxIssues?: number;
}

export interface VerifyResult {
  ok: boolean;
  writers: WriterVerification[];
}

/** The hash a writer must have stored for this record. */
export function chainHash(key: Uint8Array | string, record: Omit<AuditRecord, 'hash'>): string {
  return createHmac('sha256', key)
    .update(record.prev_hash + auditRecordCanonical(record))
    .digest('hex');
}

function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function sameRecord(a: AuditRecord, b: AuditRecord): boolean {
  return a.hash === b.hash && auditRecordCanonical(a) === auditRecordCanonical(b);
}

async function verifyWriter(
  client: ClickHouseClient,
  writer: string,
  options: VerifyOptions,
): Promise<WriterVerification> {
  const pageSize = options.pageSize ?? 50_000;
  const maxIssues = options.maxIssues ?? 100;
  const [bounds] = await selectRows<{ lo: string; hi: string }>(
    client,
    `SELECT min(seq) AS lo, max(seq) AS hi FROM ${AUDIT_EVENTS} WHERE recorded_by = {writer:String}`,
    { writer },
  );
  const lo = Number(bounds?.lo ?? 0);
  const hi = Number(bounds?.hi ?? 0);
  const result: WriterVerification = {
    recorded_by: writer,
    ok: true,
    records: 0,
    duplicates: 0,
    first_seq: lo,
    last_seq: hi,
    issues: [],
  };
  const report = (issue: ChainIssue): void => {
    result.ok = false;
    result.first_broken ??= issue;
    if (result.issues.length < maxIssues) result.issues.push(issue);
  };
  // hashes of this writer's records, to tell "reordered" (prev_hash names another record) from a plain break
  const [hashCount] = await selectRows<{ n: string }>(
    client,
    `SELECT uniqExact(hash) AS n FROM ${AUDIT_EVENTS} WHERE recorded_by = {writer:String}`,
    { writer },
  );
  const knownHashes = Number(hashCount?.n ?? 0) <= 2_000_000 ? new Set<string>() : undefined;

  let previous: AuditRecord | undefined;
  let expectedSeq = options.allowTruncatedStart ? lo : 1;
  const pending: AuditRecord[] = [];
  const walk = (record: AuditRecord): void => {
    result.records += 1;
    if (record.seq !== expectedSeq) {
      report({
        reason: 'seq-gap',
        seq: record.seq,
        event_id: record.event_id,
        detail: `missing seq ${expectedSeq}..${record.seq - 1}`,
      });
    }
    if (!sameHex(chainHash(options.key, record), record.hash)) {
      report({
        reason: 'hash-mismatch',
        seq: record.seq,
        event_id: record.event_id,
        detail: 'record altered or hash forged',
      });
    }
    const expectedPrev = previous === undefined ? (options.allowTruncatedStart ? record.prev_hash : '') : previous.hash;
    if (record.prev_hash !== expectedPrev && record.seq === expectedSeq) {
      const reordered = knownHashes?.has(record.prev_hash) ?? false;
      report({
        reason: reordered ? 'reordered' : 'prev-hash-mismatch',
        seq: record.seq,
        event_id: record.event_id,
        detail: reordered
          ? 'prev_hash names another record of this writer'
          : 'prev_hash does not match the previous record',
      });
    }
    previous = record;
    expectedSeq = record.seq + 1;
  };
  const flushGroup = (group: AuditRecord[]): void => {
    // walk the copy that verifies (if any): a forged copy beside the genuine one is reported once, as a conflict
    const first = group.find((record) => sameHex(chainHash(options.key, record), record.hash)) ?? group[0];
    if (first === undefined) return;
    for (const other of group) {
      if (other === first) continue;
      if (sameRecord(first, other)) result.duplicates += 1;
      else {
        report({
          reason: 'conflicting-duplicate',
          seq: other.seq,
          event_id: other.event_id,
          detail: 'two different records carry this seq',
        });
      }
    }
    walk(first);
  };

  for (let start = lo; start <= hi && hi > 0; start += pageSize) {
    const rows = await selectRows(
      client,
      `SELECT ${RECORD_COLUMNS_SQL} FROM ${AUDIT_EVENTS}
        WHERE recorded_by = {writer:String} AND seq >= {start:UInt64} AND seq < {end:UInt64}
        ORDER BY seq, event_id, hash`,
      { writer, start, end: start + pageSize },
    );
    for (const row of rows) {
      const record = toAuditRecord(row);
      knownHashes?.add(record.hash);
      const head = pending[0];
      if (head !== undefined && head.seq !== record.seq) {
        flushGroup(pending.splice(0));
      }
      pending.push(record);
    }
  }
  flushGroup(pending.splice(0));
  return result;
}

/** Verify the chain of every writer (or the given ones). */
export async function verifyAuditChain(client: ClickHouseClient, options: VerifyOptions): Promise<VerifyResult> {
  const writers =
    options.recordedBy ??
    (
      await selectRows<{ recorded_by: string }>(
        client,
        `SELECT DISTINCT recorded_by FROM ${AUDIT_EVENTS} ORDER BY recorded_by`,
        {},
      )
    ).map((row) => row.recorded_by);
  const results: WriterVerification[] = [];
  for (const writer of writers) results.push(await verifyWriter(client, writer, options));
  return { ok: results.every((writer) => writer.ok), writers: results };
}
