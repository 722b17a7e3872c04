/**
 * The keyed HMAC chain of audit-events.md ("`seq`, `hash`/`prev_hash`, keyed HMAC chain, for tamper
 * evidence"): per writer (`recorded_by`), `hash` = hex HMAC-SHA256(key, prev_hash + auditRecordCanonical(record)),
 * `prev_hash` = the previous record's `hash` ('' for seq 1). Deleting, reordering or altering a record breaks
 * the chain at that point; the verifier needs the same key.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { AUDIT_RECORD_FIELDS, type AuditRecord, auditRecordCanonical } from '@fhirwatch/contract';

export interface ChainState {
  seq: number;
  hash: string;
}

/**
 * Key for `chainHash`. A KeyObject made once: createHmac with a raw Buffer key re-imports the key on
 * every call (measured on Node 24: ~50 µs per record with a Buffer, ~5 µs with a KeyObject).
 */
export function chainKey(key: Buffer | string | KeyObject): KeyObject {
  return typeof key === 'object' && 'symmetricKeySize' in key
    ? key
    : createSecretKey(Buffer.from(key as Buffer | string));
}

export function chainHash(
  key: Buffer | string | KeyObject,
  prevHash: string,
  record: Omit<AuditRecord, 'hash'>,
): string {
  return createHmac('sha256', typeof key === 'string' || Buffer.isBuffer(key) ? chainKey(key) : key)
    .update(prevHash + auditRecordCanonical(record))
    .digest('hex');
}

export interface ChainBreak {
  /** Index in the input where the chain breaks. */
  index: number;
  seq: number;
  reason: 'seq-gap' | 'prev-hash-mismatch' | 'hash-mismatch';
}

/**
 * Verify one writer's records (sorted by seq). Returns the first break, or undefined when intact.
 * `start` is the chain state before the first record (default: the chain start).
 */
export function verifyChain(
  key: Buffer | string | KeyObject,
  records: readonly AuditRecord[],
  start: ChainState = { seq: 0, hash: '' },
): ChainBreak | undefined {
  const k = chainKey(key);
  let { seq, hash } = start;
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as AuditRecord;
    if (r.seq !== seq + 1) return { index: i, seq: r.seq, reason: 'seq-gap' };
    if (r.prev_hash !== hash) return { index: i, seq: r.seq, reason: 'prev-hash-mismatch' };
    if (chainHash(k, r.prev_hash, r) !== r.hash) return { index: i, seq: r.seq, reason: 'hash-mismatch' };
    seq = r.seq;
    hash = r.hash;
  }
  return undefined;
}

/** The fields of the canonical form, in order (every field but `hash`). */
const CANONICAL_FIELDS = AUDIT_RECORD_FIELDS.filter((f) => f !== 'hash');
/** `"name":` prefixes of the record JSON line, one per canonical field. */
const LINE_KEYS = CANONICAL_FIELDS.map((f) => `${JSON.stringify(f)}:`);

/**
 * Chain one record and serialize it in one pass: each field is JSON-encoded once and used both for
 * the canonical form (`auditRecordCanonical`, byte-identical: a JSON array of the same encodings)
 * and for the record's JSON line (`{"event_id":…,…,"hash":"…"}`, fields in AUDIT_RECORD_FIELDS order
 * with `hash` last). Replaces `chainHash` + `JSON.stringify(record)` (two serializations) on the
 * spool's write path. `duration_ms` is written rounded to 3 decimals, as the canonical form signs it.
 */
export function chainLine(
  key: KeyObject,
  prevHash: string,
  record: Omit<AuditRecord, 'hash'>,
): { hash: string; json: string } {
  let canonical = '[';
  let line = '{';
  const r = record as unknown as Record<string, unknown>;
  for (let i = 0; i < CANONICAL_FIELDS.length; i++) {
    const field = CANONICAL_FIELDS[i] as string;
    let value = r[field];
    if (field === 'duration_ms') value = Math.round((value as number) * 1000) / 1000;
    const encoded = JSON.stringify(value);
    if (i > 0) canonical += ',';
    if (encoded === undefined)
      canonical += 'null'; // as JSON.stringify does inside an array
    else {
      canonical += encoded;
      line += `${LINE_KEYS[i]}${encoded},`;
    }
  }
  canonical += ']';
  const hash = createHmac('sha256', key)
    .update(prevHash + canonical)
    .digest('hex');
  return { hash, json: `${line}"hash":"${hash}"}` };
}
