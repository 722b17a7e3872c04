/**
 * `audit verify`: the tamper evidence of the audit store, at both levels of the request-record design
 * (@fhirwatch/contract audit-request.ts; schema/audit-requests.ts).
 *
 * 1. The request chain. Each writer (`recorded_by`) chains its request records in `audit_requests`:
 *    hash = HMAC-SHA256(key, prev_hash + auditRequestCanonical(request)), prev_hash of seq 1 = ''. Each
 *    record's HMAC is computed once, by the engine next to the data (canonical form built in SQL, HMAC from
 *    SHA256 and the key's RFC 2104 pads, passed as query parameters: on a ClickHouse server they may appear
 *    in its query log, so keep that log to the audit operators); records it fails are re-checked in JS with
 *    the contract's exact canonical form. The walk (the contract's ChainWalker) streams each writer's
 *    (seq, id, prev_hash, hash, ok) in sort-key order, page by page over key ranges (recorded_by, seq) — no
 *    scan per page — and finds an altered request
 *    (hash mismatch), a deleted one (seq gap), a re-inserted modified copy (conflicting duplicate) and one
 *    moved out of place (its prev_hash names another record's hash). Legacy single records (v1) verify
 *    with their own canonical form, so chains that span the upgrade verify as one chain.
 * 2. The per-patient rows. `audit_events` must hold exactly the expansion of the requests (the same
 *    ARRAY JOIN and per-patient ids the materialized view uses): inside ClickHouse, per (recorded_by, seq),
 *    row count, XOR and sum of keyed row hashes (sipHash64 keyed from the HMAC key over a keyed 128-bit digest
 *    of the request fields, one of the entry fields, the row id and the patient: every column; the expected side
 *    computes the request digest once per request and the entry digest once per entry) are compared
 *    with the stored rows'; only requests that differ are read back and diffed row by row, which names each
 *    missing, altered or extra per-patient row. Identical duplicate deliveries are harmless.
 *    Level 2 runs in the engine while level 1 walks in JS.
 */
import * as crypto from 'node:crypto';
import { timingSafeEqual } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  AUDIT_EXPANSION,
  type AuditRecord,
  type AuditRequestRecord,
  auditRequestCanonical,
  type ChainState,
  ChainWalker,
  chainHasher,
  expandRequestRecord,
} from '@fhirwatch/contract';
import { requestFromRow } from '../store/audit-encode.ts';
import { concurrentClientOf } from '../store/concurrent.ts';
import { AUDIT_CHECKPOINTS_TABLE } from '../store/schema/audit-checkpoints.ts';
import {
  AUDIT_PATIENT_INDEX_TABLE,
  auditPatientIndexTable,
  PATIENT_INDEX_FIELDS,
} from '../store/schema/audit-patient-index.ts';
import { AUDIT_REQUEST_COLUMNS, AUDIT_REQUESTS_TABLE } from '../store/schema/audit-requests.ts';
import { expansionExpression } from '../store/schema/expansion.ts';
import { selectRows } from './records.ts';
import type { Report } from './types.ts';

export const CHAIN_BREAKS = [
  'hash-mismatch',
  'prev-hash-mismatch',
  'reordered',
  'seq-gap',
  'conflicting-duplicate',
  'forged-checkpoint',
] as const;
export type ChainBreak = (typeof CHAIN_BREAKS)[number];

export const ROW_ISSUES = ['missing-row', 'altered-row', 'extra-row'] as const;
export type RowIssueReason = (typeof ROW_ISSUES)[number];

export interface ChainIssue {
  reason: ChainBreak;
  seq: number;
  event_id: string;
  /** For seq-gap: the missing seq numbers as a range `a..b`. */
  detail: string;
}

/** A per-patient row that is not exactly the expansion of its verified request. */
export interface RowIssue {
  reason: RowIssueReason;
  /** The request (recorded_by, seq) the row belongs to, or claims to. */
  seq: number;
  /** The per-patient row's event_id. */
  event_id: string;
}

export interface WriterVerification {
  recorded_by: string;
  ok: boolean;
  /** Distinct request records walked (duplicate deliveries of the same record count once). */
  records: number;
  /** Identical duplicate deliveries seen (harmless). */
  duplicates: number;
  /** Records whose engine-side HMAC check failed and that were re-checked in JS (exact canonical form). */
  rechecked: number;
  first_seq: number;
  last_seq: number;
  first_broken?: ChainIssue;
  /** Every chain issue found, up to maxIssues. */
  issues: ChainIssue[];
  /** Per-patient rows the requests expand to, and rows stored (both counting duplicate deliveries not yet merged). */
  expected_rows: number;
  stored_rows: number;
  /** Per-patient rows that differ from the expansion, up to maxIssues. */
  row_issues: RowIssue[];
  /** With `sinceCheckpoint`: the checkpoint's seq the walk started after (records before it were not re-read). */
  since_seq?: number;
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
  /** Request records read per round trip (a key range of seq). Default 50,000. */
  pageSize?: number;
  /** Issues kept per writer (chain and rows each). Default 100. */
  maxIssues?: number;
  /** Also prove the per-patient rows (level 2). Default true; false checks the request chain only. */
  rows?: boolean;
  /**
   * Prove only what arrived after each writer's newest checkpoint (both levels), if its signature holds; a
   * forged checkpoint is reported (`forged-checkpoint`) and that writer is verified from the start.
   */
  sinceCheckpoint?: boolean;
  /**
   * After a writer verifies (both levels, from its chain start or a valid checkpoint), store a signed checkpoint
   * (`audit_verify_checkpoints`: last seq and hash, HMAC-SHA256 with a key derived from the HMAC key). Default true.
   */
  writeCheckpoint?: boolean;
}

export interface VerifyResult {
  ok: boolean;
  writers: WriterVerification[];
}

/**
 * The canonical form (auditRequestCanonical) built in SQL, for the engine-side HMAC, in two spellings of one
 * layout (`canonicalV2`):
 * - escaped: each string through `toJSONString`. It matches the JS text for every value JSON.stringify and
 *   toJSONString escape alike (everything but control characters other than \b\f\n\r\t and U+2028/2029);
 * - plain: each string between bare quotes (one `concat` per request and per entry, a patient list joined with
 *   `","`), ~0.4 of the escaped text's engine CPU. It is the signed text exactly when no value holds `"` or `\`
 *   (a control character or a lone surrogate, which JSON.stringify escapes, cannot occur in a signed text raw, so
 *   such a value only fails the HMAC). `SQL_PLAIN_EXACT` proves that per record over the text itself: no `\` at
 *   all, and exactly the layout's own `"` (2 per string slot: 14 per request, 4 per entry, 1 per patient). Without
 *   it a value altered to spell the signed text's escapes, or values whose quotes shift a field boundary, would
 *   pass (`test/queries-verify.test.ts`).
 * A record the plain text cannot prove takes the escaped text (the `if` evaluates that branch for those rows
 * only); one whose escaped text differs fails the SQL check and is re-checked in JS with the contract's exact
 * canonical form, so a difference costs time, never a wrong answer. Static text.
 */
type Quote = (expr: string) => string[];
/** A string value as pieces of a concat: toJSONString, or the raw value between quotes. */
const ESCAPED: Quote = (expr) => [`toJSONString(${expr})`];
const PLAIN: Quote = (expr) => ["'\"'", expr, "'\"'"];
/** `concat` of pieces (SQL expressions or literals), adjacent literals merged (fewer arguments per row). */
const concatOf = (pieces: readonly string[]): string => {
  const out: string[] = [];
  for (const piece of pieces) {
    const last = out[out.length - 1];
    const literal = /^'[^'\\]*'$/.test(piece);
    if (literal && last !== undefined && /^'[^'\\]*'$/.test(last))
      out[out.length - 1] = `${last.slice(0, -1)}${piece.slice(1)}`;
    else out.push(piece);
  }
  return `concat(${out.join(', ')})`;
};
/** Pieces separated by a literal comma. */
const commaJoined = (items: readonly string[][]): string[] =>
  items.flatMap((item, i) => (i === 0 ? item : ["','", ...item]));
const NUM = (expr: string): string[] => [`toString(${expr})`];
const ISO_TIME = `concat(formatDateTime(event_time, '%Y-%m-%dT%H:%i:%S'), '.', leftPad(toString(toUnixTimestamp64Milli(event_time) % 1000), 3, '0'), 'Z')`;
const DURATION = `toString(floor(duration_ms * 1000 + 0.5) / 1000)`;
const RESULT_COUNT = (expr: string): string => `if(isNull(${expr}), 'null', toString(assumeNotNull(${expr})))`;
/**
 * Per entry, its patient ids as pieces of the entry's text: x_patient_id split where x_entry changes (each entry has
 * at least one patient and its rows are contiguous), so no lambda captures an outer array (linear, not quadratic).
 */
const SPLIT_PATIENTS = (ids: string): string => `arraySplit((p, d) -> d != 0, ${ids}, arrayDifference(x_entry))`;
const PATIENT_LISTS: Record<'escaped' | 'plain', { lists: string; piece: string[] }> = {
  escaped: {
    lists: `arrayMap(ps -> concat('[', arrayStringConcat(ps, ','), ']'), ${SPLIT_PATIENTS('arrayMap(p -> toJSONString(p), x_patient_id)')})`,
    piece: ['ps'],
  },
  plain: {
    lists: `arrayMap(ps -> arrayStringConcat(ps, '","'), ${SPLIT_PATIENTS('x_patient_id')})`,
    piece: ["'[\"'", 'ps', "'\"]'"],
  },
};
/** auditRequestCanonical's v2 layout: `[2, request fields…, [[entry fields…, [patients…]], …]]`. */
const canonicalV2 = (mode: 'escaped' | 'plain'): string => {
  const q = mode === 'escaped' ? ESCAPED : PLAIN;
  const entry = concatOf([
    "'['",
    ...commaJoined([
      q('t'),
      q('it'),
      q('rt'),
      q('q'),
      NUM('ix'),
      NUM('st'),
      NUM('oc'),
      [RESULT_COUNT('rc')],
      PATIENT_LISTS[mode].piece,
    ]),
    "']'",
  ]);
  return concatOf([
    "'['",
    ...commaJoined([
      ["'2'"],
      q('toString(request_id)'),
      q(ISO_TIME),
      q('recorded_by'),
      NUM('seq'),
      q('prev_hash'),
      q('tenant_id'),
      ["if(tenant_claimed = 1, 'true', 'false')"],
      q('routed_tenant_id'),
      q('client_id'),
      q('user_id'),
      q('user_name'),
      q('source_ip'),
      q('user_agent'),
      q('fhir_version'),
      q('batch_id'),
      q('trace_id'),
      NUM('http_status'),
      [DURATION],
      [
        `concat('[', arrayStringConcat(arrayMap((t, it, rt, q, ix, st, oc, rc, ps) -> ${entry}, e_event_type, e_fhir_interaction, e_resource_type, e_query, e_entry_index, e_http_status, e_outcome, e_result_count, ${PATIENT_LISTS[mode].lists}), ','), ']')`,
      ],
    ]),
    "']'",
  ]);
};
const SQL_CANONICAL_V2 = canonicalV2('escaped');
const SQL_PLAIN_V2 = canonicalV2('plain');
/**
 * The plain text is the signed one (a v2 record, no `\`, only the layout's quotes: 2 per string slot, 14 request
 * fields, 4 per entry, 1 per patient). A v1 record counts 0 slots here, so it takes the other branch.
 */
const SQL_PLAIN_EXACT = `position(${SQL_PLAIN_V2}, '\\\\') = 0 AND countSubstrings(${SQL_PLAIN_V2}, '"') = 2 * (14 + 4 * length(e_event_type) + length(x_patient_id)) * (v = 2)`;
const SQL_CANONICAL_V1 = concatOf([
  "'['",
  ...commaJoined([
    ESCAPED('toString(request_id)'),
    ESCAPED(ISO_TIME),
    ESCAPED('recorded_by'),
    NUM('seq'),
    ESCAPED('prev_hash'),
    ESCAPED('tenant_id'),
    ESCAPED('routed_tenant_id'),
    ESCAPED('client_id'),
    ESCAPED('user_id'),
    ESCAPED('user_name'),
    ESCAPED('source_ip'),
    ESCAPED('user_agent'),
    ESCAPED('e_event_type[1]'),
    ESCAPED('e_fhir_interaction[1]'),
    ESCAPED('e_resource_type[1]'),
    ESCAPED('fhir_version'),
    ESCAPED('e_query[1]'),
    ESCAPED('x_patient_id[1]'),
    ESCAPED('batch_id'),
    NUM('e_entry_index[1]'),
    ESCAPED('trace_id'),
    NUM('e_outcome[1]'),
    NUM('e_http_status[1]'),
    [DURATION],
    [RESULT_COUNT('e_result_count[1]')],
  ]),
  "']'",
]);
/** HMAC-SHA256 in SQL: SHA256(opad ‖ SHA256(ipad ‖ message)), message = prev_hash ‖ canonical. */
const SQL_HMAC = (canonical: string): string =>
  `lower(hex(SHA256(concat(unhex({opad:String}), SHA256(concat(unhex({ipad:String}), prev_hash, ${canonical})))))) = hash`;
/**
 * The engine's check of a record: the plain text where it is exact, else the escaped one (v2) or the legacy form
 * (v1). Short-circuit evaluation computes the else branch for its rows only (a nested `if` in the condition or a
 * `v = 1` test first would compute both texts for every row: measured, ~1.6x the CPU).
 */
const SQL_HMAC_OK = `if(${SQL_PLAIN_EXACT}, ${SQL_HMAC(SQL_PLAIN_V2)}, if(v = 1, ${SQL_HMAC(SQL_CANONICAL_V1)}, ${SQL_HMAC(SQL_CANONICAL_V2)}))`;
const SQL_SETTINGS = {
  output_format_json_quote_64bit_integers: 0,
  output_format_json_escape_forward_slashes: 0,
} as const;
/**
 * A level-1 page (50,000 requests by default) is under the engine's threshold for reading one part with several
 * threads (merge_tree_min_rows_for_concurrent_read, 163,840 rows): read it granule by granule on every thread (the
 * HMACs computed in parallel; the rows merge-sorted back into key order, cheap for a page) instead of one.
 */
const PAGE_SETTINGS = {
  ...SQL_SETTINGS,
  merge_tree_min_rows_for_concurrent_read: 8192,
  merge_tree_min_bytes_for_concurrent_read: 1,
} as const;

/** HMAC pads of the key (RFC 2104: a key longer than the block is hashed first). */
function hmacPads(key: Uint8Array | string): { ipad: string; opad: string } {
  let k = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  if (k.length > 64) k = crypto.createHash('sha256').update(k).digest();
  const ipad = Buffer.alloc(64, 0x36);
  const opad = Buffer.alloc(64, 0x5c);
  for (let i = 0; i < k.length; i++) {
    ipad[i] = (ipad[i] as number) ^ (k[i] as number);
    opad[i] = (opad[i] as number) ^ (k[i] as number);
  }
  return { ipad: ipad.toString('hex'), opad: opad.toString('hex') };
}

/** The request columns verify reads, in AUDIT_REQUEST_COLUMNS order (static text). */
const REQUEST_COLUMNS_SQL = AUDIT_REQUEST_COLUMNS.map((c) => c.name).join(', ');
const READ_SETTINGS = { output_format_json_quote_64bit_integers: 0 } as const;

function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

async function compactRows(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown>,
  settings: Record<string, number> = READ_SETTINGS,
): Promise<unknown[][]> {
  const result = await client.query({
    query,
    query_params: params,
    format: 'JSONCompactEachRow',
    clickhouse_settings: settings,
  });
  return (await result.json()) as unknown[][];
}

interface ChainWalk {
  records: number;
  duplicates: number;
  rechecked: number;
  first_seq: number;
  last_seq: number;
  issues: ChainIssue[];
  first_broken?: ChainIssue;
  /** The rows of requests whose HMAC fails (what readers see of them was not signed). */
  alteredRows: RowIssue[];
  /** Hash of the last record walked (the next checkpoint's). */
  lastHash?: string;
}

/** Level 1: one writer's request chain, streamed in sort-key order, page = key range, next page prefetched. */
async function walkChain(
  client: ClickHouseClient,
  writer: string,
  hasher: ReturnType<typeof chainHasher>,
  pads: { ipad: string; opad: string },
  options: VerifyOptions,
  start?: ChainState,
): Promise<ChainWalk> {
  const pageSize = options.pageSize ?? 50_000;
  const maxIssues = options.maxIssues ?? 100;
  const after = start?.seq ?? 0;
  const [bounds] = await selectRows<{ lo: number; hi: number; n: number }>(
    client,
    `SELECT min(seq) AS lo, max(seq) AS hi, count() AS n FROM ${AUDIT_REQUESTS_TABLE} WHERE recorded_by = {writer:String} AND seq > {after:UInt64}`,
    { writer, after },
  );
  const n = Number(bounds?.n ?? 0);
  const lo = n === 0 ? 0 : Number(bounds?.lo ?? 0);
  const hi = n === 0 ? 0 : Number(bounds?.hi ?? 0);
  const walk: ChainWalk = {
    records: 0,
    duplicates: 0,
    rechecked: 0,
    first_seq: lo,
    last_seq: hi,
    issues: [],
    alteredRows: [],
  };
  const altered = (record: AuditRequestRecord | undefined): void => {
    if (record === undefined) return;
    for (const row of expandRequestRecord(record)) {
      if (walk.alteredRows.length < maxIssues) {
        walk.alteredRows.push({ reason: 'altered-row', seq: record.seq, event_id: row.event_id });
      }
    }
  };
  const report = (issue: ChainIssue): void => {
    walk.first_broken ??= issue;
    if (walk.issues.length < maxIssues) walk.issues.push(issue);
  };
  // hashes of this writer's records, to tell "reordered" (prev_hash names another record) from a plain break
  const knownHashes = n <= 2_000_000 ? new Set<string>() : undefined;
  const truncated = start === undefined && options.allowTruncatedStart === true;
  const walker = new ChainWalker(hasher, start ?? { seq: truncated ? lo - 1 : 0, hash: '' }, {
    trustFirstPrevHash: truncated,
  });
  let expectedSeq = start === undefined ? (truncated ? lo : 1) : start.seq + 1;

  type Walked = { record: AuditRequestRecord; canonical: string; ok: boolean; full?: AuditRequestRecord };
  const flushGroup = (group: Walked[]): void => {
    // walk the copy that verifies (if any): a forged copy beside the genuine one is reported once, as a conflict
    const first = group.find((g) => g.ok) ?? group[0];
    if (first === undefined) return;
    for (const other of group) {
      if (other === first) continue;
      if (other.record.hash === first.record.hash && other.canonical === first.canonical) walk.duplicates += 1;
      else {
        if (!other.ok) altered(other.full);
        report({
          reason: 'conflicting-duplicate',
          seq: other.record.seq,
          event_id: other.record.event_id,
          detail: 'two different records carry this seq',
        });
      }
    }
    const r = first.record;
    walk.records += 1;
    for (const reason of walker.next(r, first.canonical, first.ok)) {
      if (reason === 'seq-gap') {
        report({ reason, seq: r.seq, event_id: r.event_id, detail: `missing seq ${expectedSeq}..${r.seq - 1}` });
      } else if (reason === 'hash-mismatch') {
        report({ reason, seq: r.seq, event_id: r.event_id, detail: 'record altered or hash forged' });
        altered(first.full);
      } else {
        const reordered = knownHashes?.has(r.prev_hash) ?? false;
        report({
          reason: reordered ? 'reordered' : 'prev-hash-mismatch',
          seq: r.seq,
          event_id: r.event_id,
          detail: reordered
            ? 'prev_hash names another record of this writer'
            : 'prev_hash does not match the previous record',
        });
      }
    }
    expectedSeq = r.seq + 1;
  };

  // The engine computes each record's HMAC (once) next to the data; only (seq, id, prev_hash, hash, ok)
  // cross to JS, in sort-key order. A record the engine's check fails is read whole and checked here with
  // the contract's exact canonical form (so an escaping difference can never report a false break).
  const page = (start: number): Promise<unknown[][]> =>
    compactRows(
      client,
      `SELECT seq, toString(request_id), prev_hash, hash, ${SQL_HMAC_OK} AS ok FROM ${AUDIT_REQUESTS_TABLE}
        WHERE recorded_by = {writer:String} AND seq >= {start:UInt64} AND seq < {end:UInt64}
        ORDER BY seq, request_id, hash`,
      { writer, start, end: start + pageSize, ...pads },
      PAGE_SETTINGS,
    );
  /** The records of a page the engine's check failed, read whole (one query per page that has any). */
  const failedRecords = async (start: number): Promise<Map<string, AuditRequestRecord>> => {
    const rows = await compactRows(
      client,
      `SELECT ${REQUEST_COLUMNS_SQL} FROM ${AUDIT_REQUESTS_TABLE}
        WHERE recorded_by = {writer:String} AND seq >= {start:UInt64} AND seq < {end:UInt64} AND NOT (${SQL_HMAC_OK})`,
      { writer, start, end: start + pageSize, ...pads },
      PAGE_SETTINGS,
    );
    const out = new Map<string, AuditRequestRecord>();
    for (const row of rows) {
      const record = requestFromRow(row);
      out.set(`${record.seq} ${record.event_id} ${record.hash}`, record);
    }
    return out;
  };
  let pending: Walked[] = [];
  let next = hi > 0 ? page(lo) : undefined;
  for (let start = lo; next !== undefined; start += pageSize) {
    const rows = (await next) as [number, string, string, string, number | boolean][];
    next = start + pageSize <= hi ? page(start + pageSize) : undefined;
    const failed = rows.some((row) => row[4] !== 1 && row[4] !== true) ? await failedRecords(start) : undefined;
    for (const [seqValue, id, prevHash, hash, okValue] of rows) {
      const seq = Number(seqValue);
      let ok = okValue === 1 || okValue === true;
      // the canonical text is only needed to tell identical duplicates from conflicting ones: equal hashes
      // of two authentic records mean equal canonical texts, so the hash stands in for it
      let canonical = hash;
      let full: AuditRequestRecord | undefined;
      if (!ok) {
        walk.rechecked++;
        full = failed?.get(`${seq} ${id} ${hash}`);
        canonical = full === undefined ? '' : auditRequestCanonical(full);
        ok = full !== undefined && sameHex(hasher(full.prev_hash, canonical), full.hash);
      }
      const record = { seq, event_id: id, prev_hash: prevHash, hash } as AuditRequestRecord;
      knownHashes?.add(hash);
      const head = pending[0];
      if (head !== undefined && head.record.seq !== seq) {
        flushGroup(pending);
        pending = [];
      }
      pending.push(full === undefined ? { record, canonical, ok } : { record, canonical, ok, full });
    }
  }
  flushGroup(pending);
  if (walk.records > 0) walk.lastHash = walker.position.hash;
  return walk;
}

/**
 * The row-hash keys derived from the HMAC key (four UInt64: k0/k1 for the row hash, k2/k3 for the request and entry
 * digests inside it): an attacker without the key cannot forge a row hash.
 */
function rowHashKey(key: Uint8Array | string): RowHashKeys {
  const digest = crypto.createHmac('sha256', key).update('fhirwatch audit verify: per-patient rows').digest();
  const k = (i: number): string => digest.readBigUInt64BE(i * 8).toString();
  return { k0: k(0), k1: k(1), k2: k(2), k3: k(3) };
}
type RowHashKeys = { k0: string; k1: string; k2: string; k3: string };

const ROW_KEY = '(toUInt64({k0:String}), toUInt64({k1:String}))';
const PART_KEY = '(toUInt64({k2:String}), toUInt64({k3:String}))';
/** Fixed-width bytes of the index's numeric fields, typed alike on both sides (expansion and stored index). */
const FIXED_WIDTH: Readonly<Partial<Record<string, (value: string) => string>>> = {
  seq: (v) => `toUInt64(${v})`,
  event_time: (v) => `toUnixTimestamp64Milli(${v})`,
  entry_index: (v) => `toInt32(${v})`,
  outcome: (v) => `toUInt8(${v})`,
  http_status: (v) => `toUInt16(${v})`,
  duration_ms: (v) => `toFloat64(${v})`,
  // null (unknown) as -1, which a UInt32 count never is
  result_count: (v) => `ifNull(toInt64(${v}), -1)`,
};
/**
 * The index's LowCardinality text columns, hashed alone first (sipHash64Keyed, 8 fixed bytes): the engine hashes a
 * LowCardinality column's dictionary, not each row (profile, 1.23 M rows: ~0.01 µs per row against ~0.04 µs per
 * field as text in the row's byte string). Any text hashes alike, so this only decides speed, never the answer.
 */
const LOW_CARDINALITY: ReadonlySet<string> = new Set(
  auditPatientIndexTable(0)
    .columns.filter((column) => column.type.startsWith('LowCardinality('))
    .map((column) => column.name),
);
/** Where each index field comes from: a request field, an entry field, the row's patient or the row's id. */
const fieldsFrom = (from: 'request' | 'entry'): readonly (keyof AuditRecord)[] =>
  PATIENT_INDEX_FIELDS.filter((field) => AUDIT_EXPANSION[field].from === from);
const REQUEST_FIELDS = fieldsFrom('request');
const ENTRY_FIELDS = fieldsFrom('entry');
/**
 * A keyed 128-bit digest (sipHash128Keyed, key k2/k3) of some fields, over one unambiguous byte string: the
 * fixed-width fields first, then each text field after its byte length. `value` gives each field's SQL.
 */
const partDigest = (fields: readonly (keyof AuditRecord)[], value: (field: keyof AuditRecord) => string): string =>
  `sipHash128Keyed(${PART_KEY}, concat(${[
    ...fields.flatMap((field) => {
      const fixed = FIXED_WIDTH[field];
      if (fixed !== undefined) return [`reinterpretAsFixedString(${fixed(value(field))})`];
      return LOW_CARDINALITY.has(field)
        ? [`reinterpretAsFixedString(sipHash64Keyed(${PART_KEY}, ${value(field)}))`]
        : [];
    }),
    ...fields.flatMap((field) =>
      FIXED_WIDTH[field] === undefined && !LOW_CARDINALITY.has(field)
        ? [`reinterpretAsFixedString(toUInt32(length(${value(field)})))`, `toString(${value(field)})`]
        : [],
    ),
  ].join(', ')}))`;
/**
 * Keyed hash of one per-patient index row (every PATIENT_INDEX_FIELDS field, since migration 14 every record
 * field): sipHash64Keyed (k0/k1) over the request fields' digest (16 bytes), the entry fields' digest (16 bytes),
 * the row id as its UInt128 (16 bytes) and the patient id (the rest). The expected side computes the request
 * digest once per request and the entry digest once per entry (profile, 1.23 M rows: the expected side cost
 * 4.75 µs per row hashing all 26 fields per row); the stored side computes both from each row's own fields.
 */
const rowHash = (requestDigest: string, entryDigest: string, id: string, patient: string): string =>
  `sipHash64Keyed(${ROW_KEY}, concat(${requestDigest}, ${entryDigest}, reinterpretAsFixedString(toUInt128(${id})), toString(${patient})))`;
/** The row hash of a stored index row (its columns by name). */
const STORED_ROW_HASH = rowHash(
  partDigest(REQUEST_FIELDS, (field) => field),
  partDigest(ENTRY_FIELDS, (field) => field),
  'event_id',
  'patient_id',
);

/** A writer's part of level 2: requests with seq > `after`, index rows from `minTime` on (since a checkpoint). */
interface RowScope {
  writer: string;
  after: number;
  /** Lower bound of the index rows' event_time (the new requests' earliest), or undefined for all. */
  minTime?: string;
}

/** Entry fields as arrayMap lambda parameters (no lambda captures an outer array: linear, not quadratic). */
const entryParam = (field: string): string => `_x_${field}`;
/**
 * (seq, event_id, h) of the index rows the scope's requests expand to (what the index must hold): the expansion
 * (expansion.ts, the contract's definition) with the request digest computed once per request and the entry
 * digests once per entry, before the ARRAY JOIN. `idAsNumber`: the event id as its UInt128 (hashed alike), cheaper
 * than the UUID the diagnostics name rows by.
 */
const expectedRowHashes = (idAsNumber: boolean): string => {
  const entryDigests = `arrayMap((${ENTRY_FIELDS.map(entryParam).join(', ')}) -> ${partDigest(ENTRY_FIELDS, (field) =>
    expansionExpression(field, false, entryParam),
  )}, ${ENTRY_FIELDS.map((field) => `e_${(AUDIT_EXPANSION[field] as { field: string }).field}`).join(', ')})`;
  const requestDigest = partDigest(REQUEST_FIELDS, (field) => expansionExpression(field));
  return `SELECT seq, ${expansionExpression('event_id', idAsNumber)} AS event_id,
    ${rowHash('_r', '_re', 'event_id', '_p')} AS h
  FROM (SELECT seq, request_id, x_entry, x_patient_id, ${requestDigest} AS _r, ${entryDigests} AS _es, ${ROW_ENTRY_DIGESTS} AS _res
        FROM ${AUDIT_REQUESTS_TABLE} WHERE recorded_by = {writer:String} AND seq > {after:UInt64})
  ARRAY JOIN _res AS _re, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o`;
};
/**
 * Each expansion row's entry digest, from the entry digests `_es`, before the ARRAY JOIN (not `_es[_e]` after it:
 * that copies the request's whole digest array to each of its rows, ~0.2 µs per row). As a writer stores a request
 * (x_entry = 1,1,2,3,3,… : each entry's rows together, in entry order, at least one each) each digest repeated over
 * its entry's run; any other x_entry (a hand-made row) by index, as the expansion reads it.
 */
const ROW_ENTRY_DIGESTS = `if(x_entry[1] = 1 AND x_entry[-1] = length(_es) AND arrayAll(d -> d = 0 OR d = 1, arrayDifference(x_entry)),
    arrayFlatten(arrayMap((d, n) -> arrayWithConstant(n, d), _es, arrayMap(r -> length(r), arraySplit((e, d) -> d != 0, x_entry, arrayDifference(x_entry))))),
    arrayMap(e -> _es[e], x_entry))`;
const EXPECTED_ROW_HASHES = expectedRowHashes(true);
const EXPECTED_ROW_HASHES_UUID = expectedRowHashes(false);
/** (seq, event_id, h) of the scope's stored index rows. */
const storedRowHashes = (scope: RowScope): string =>
  `SELECT seq, event_id, ${STORED_ROW_HASH} AS h FROM ${AUDIT_PATIENT_INDEX_TABLE}
   WHERE recorded_by = {writer:String} AND seq > {after:UInt64}${scope.minTime === undefined ? '' : " AND event_time >= parseDateTime64BestEffort({minTime:String}, 3, 'UTC')"}`;
const scopeParams = (scope: RowScope, keys: RowHashKeys): Record<string, unknown> => ({
  writer: scope.writer,
  after: scope.after,
  ...(scope.minTime === undefined ? {} : { minTime: scope.minTime }),
  ...keys,
});

/**
 * Level 2 (in the engine): the per-patient index must hold exactly the index rows of the writer's requests.
 * First one pass per side with no grouping (count, XOR and sum of keyed row hashes: an attacker without the
 * key cannot make a changed row compensate); only when they differ, per request (seq) and then row by row,
 * which names each missing, altered or extra row (identical duplicate deliveries are harmless).
 */
async function verifyRows(
  client: ClickHouseClient,
  scope: RowScope,
  keys: RowHashKeys,
  maxIssues: number,
): Promise<{ expected: number; stored: number; issues: RowIssue[] }> {
  const params = scopeParams(scope, keys);
  const [totals] = (await compactRows(
    client,
    `SELECT sumIf(n, side = 1), sumIf(n, side = 2),
            groupBitXorIf(x, side = 1) = groupBitXorIf(x, side = 2) AND sumIf(s, side = 1) = sumIf(s, side = 2)
     FROM (
       SELECT 1 AS side, count() AS n, groupBitXor(h) AS x, sum(h) AS s FROM (${EXPECTED_ROW_HASHES})
       UNION ALL
       SELECT 2 AS side, count() AS n, groupBitXor(h) AS x, sum(h) AS s FROM (${storedRowHashes(scope)})
     )`,
    params,
  )) as [number, number, number | boolean][];
  const expected = Number(totals?.[0] ?? 0);
  const stored = Number(totals?.[1] ?? 0);
  if (expected === stored && (totals?.[2] === 1 || totals?.[2] === true)) return { expected, stored, issues: [] };
  const groups = (await compactRows(
    client,
    `SELECT seq FROM (
       SELECT seq, 1 AS side, count() AS n, groupBitXor(h) AS x, sum(h) AS s
       FROM (${EXPECTED_ROW_HASHES}) GROUP BY seq
       UNION ALL
       SELECT seq, 2 AS side, count() AS n, groupBitXor(h) AS x, sum(h) AS s
       FROM (${storedRowHashes(scope)}) GROUP BY seq
     )
     GROUP BY seq
     HAVING sumIf(n, side = 1) != sumIf(n, side = 2) OR groupBitXorIf(x, side = 1) != groupBitXorIf(x, side = 2)
        OR sumIf(s, side = 1) != sumIf(s, side = 2)
     ORDER BY seq LIMIT {limit:UInt32}`,
    { ...params, limit: maxIssues },
  )) as [number][];
  const seqs = groups.map(([seq]) => Number(seq));
  const read = (source: string): Promise<unknown[][]> =>
    compactRows(
      client,
      `SELECT DISTINCT seq, toString(event_id), h FROM (${source}) WHERE seq IN {seqs:Array(UInt64)}`,
      { ...params, seqs },
    );
  const [expectedRows, storedRows] = await Promise.all([read(EXPECTED_ROW_HASHES_UUID), read(storedRowHashes(scope))]);
  const expectedHash = new Map<string, { seq: number; h: string }>();
  for (const [seq, id, h] of expectedRows as [number, string, string][])
    expectedHash.set(id, { seq: Number(seq), h: String(h) });
  const storedHashes = new Map<string, { seq: number; hs: Set<string> }>();
  for (const [seq, id, h] of storedRows as [number, string, string][]) {
    const entry = storedHashes.get(id) ?? { seq: Number(seq), hs: new Set<string>() };
    entry.hs.add(String(h));
    storedHashes.set(id, entry);
  }
  const issues: RowIssue[] = [];
  for (const [id, { seq, h }] of expectedHash) {
    const got = storedHashes.get(id);
    if (got === undefined) issues.push({ reason: 'missing-row', seq, event_id: id });
    else if (got.hs.size !== 1 || !got.hs.has(h)) issues.push({ reason: 'altered-row', seq, event_id: id });
  }
  for (const [id, { seq }] of storedHashes) {
    if (!expectedHash.has(id)) issues.push({ reason: 'extra-row', seq, event_id: id });
  }
  return { expected, stored, issues };
}

/** The newest checkpoint of a writer, as stored. */
interface StoredCheckpoint {
  seq: number;
  hash: string;
  records: number;
  rows: number;
  verified_at: string;
  signature: string;
}

/** The checkpoint's signing key, derived from the HMAC key (an attacker without it cannot forge one). */
function checkpointKey(key: Uint8Array | string): Buffer {
  return crypto.createHmac('sha256', key).update('fhirwatch audit verify: checkpoint').digest();
}

/** HMAC-SHA256 of a checkpoint's fields (hex). */
export function checkpointSignature(
  key: Uint8Array | string,
  writer: string,
  cp: Omit<StoredCheckpoint, 'signature'>,
): string {
  const text = JSON.stringify(['fhirwatch-checkpoint-1', writer, cp.seq, cp.hash, cp.records, cp.rows, cp.verified_at]);
  return crypto.createHmac('sha256', checkpointKey(key)).update(text).digest('hex');
}

async function latestCheckpoint(client: ClickHouseClient, writer: string): Promise<StoredCheckpoint | undefined> {
  const [row] = await compactRows(
    client,
    `SELECT seq, hash, records, rows, toUnixTimestamp64Milli(verified_at), signature
     FROM ${AUDIT_CHECKPOINTS_TABLE} WHERE recorded_by = {writer:String} ORDER BY seq DESC, verified_at DESC LIMIT 1`,
    { writer },
  );
  if (row === undefined) return undefined;
  const [seq, hash, records, rows, verifiedMs, signature] = row as [number, string, number, number, number, string];
  return {
    seq: Number(seq),
    hash,
    records: Number(records),
    rows: Number(rows),
    verified_at: new Date(Number(verifiedMs)).toISOString(),
    signature,
  };
}

async function writeCheckpoint(
  client: ClickHouseClient,
  key: Uint8Array | string,
  writer: string,
  cp: Omit<StoredCheckpoint, 'signature'>,
): Promise<void> {
  await client.insert({
    table: AUDIT_CHECKPOINTS_TABLE,
    values: [{ recorded_by: writer, ...cp, signature: checkpointSignature(key, writer, cp) }],
    format: 'JSONEachRow',
  });
}

/** Verify every writer (or the given ones): the request chain and the per-patient rows. */
export async function verifyAuditChain(client: ClickHouseClient, options: VerifyOptions): Promise<VerifyResult> {
  const writers =
    options.recordedBy ??
    (
      await selectRows<{ recorded_by: string }>(
        client,
        `SELECT DISTINCT recorded_by FROM (
           SELECT DISTINCT recorded_by FROM ${AUDIT_REQUESTS_TABLE}
           UNION ALL SELECT DISTINCT recorded_by FROM ${AUDIT_PATIENT_INDEX_TABLE})
         ORDER BY recorded_by`,
        {},
      )
    ).map((row) => row.recorded_by);
  const maxIssues = options.maxIssues ?? 100;
  const keys = rowHashKey(options.key);
  const hasher = chainHasher(crypto, options.key);
  const pads = hmacPads(options.key);
  // where each writer starts: its chain start, or (--since-checkpoint) after its newest checkpoint whose
  // signature holds; a forged one is a break and that writer is proved from the start
  const starts = new Map<string, { start?: StoredCheckpoint; forged?: ChainIssue; minTime?: string }>();
  for (const writer of writers) {
    const cp = options.sinceCheckpoint === true ? await latestCheckpoint(client, writer) : undefined;
    if (cp === undefined) {
      starts.set(writer, {});
      continue;
    }
    const { signature, ...fields } = cp;
    if (!sameHex(checkpointSignature(options.key, writer, fields), signature)) {
      starts.set(writer, {
        forged: {
          reason: 'forged-checkpoint',
          seq: cp.seq,
          event_id: '',
          detail: 'the checkpoint’s signature does not hold: verified from the start instead',
        },
      });
      continue;
    }
    const [first] = await selectRows<{ t: string; n: string }>(
      client,
      `SELECT toString(min(event_time)) AS t, count() AS n FROM ${AUDIT_REQUESTS_TABLE} WHERE recorded_by = {writer:String} AND seq > {after:UInt64}`,
      { writer, after: cp.seq },
    );
    starts.set(
      writer,
      Number(first?.n ?? 0) > 0 && first?.t !== undefined ? { start: cp, minTime: first.t } : { start: cp },
    );
  }
  // Level 2 runs in the engine on a connection of its own (a chDB connection runs one query at a time), writer after
  // writer, while level 1's pages run on this one and are walked here: the two levels' engine work and the walk overlap.
  const rowsClient = options.rows === false ? client : concurrentClientOf(client);
  try {
    return await verifyWriters(client, rowsClient, writers, starts, options, { keys, hasher, pads, maxIssues });
  } finally {
    if (rowsClient !== client) await rowsClient.close();
  }
}

/** Both levels of each writer: level 2 queued on `rowsClient`, level 1 walked on `client`. */
async function verifyWriters(
  client: ClickHouseClient,
  rowsClient: ClickHouseClient,
  writers: readonly string[],
  starts: ReadonlyMap<string, { start?: StoredCheckpoint; forged?: ChainIssue; minTime?: string }>,
  options: VerifyOptions,
  run: {
    keys: RowHashKeys;
    hasher: ReturnType<typeof chainHasher>;
    pads: { ipad: string; opad: string };
    maxIssues: number;
  },
): Promise<VerifyResult> {
  const { keys, hasher, pads, maxIssues } = run;
  const results: WriterVerification[] = [];
  const level2 = new Map<string, Promise<{ expected: number; stored: number; issues: RowIssue[] }>>();
  let previous: Promise<unknown> = Promise.resolve();
  for (const writer of writers) {
    const { start, minTime } = starts.get(writer) ?? {};
    const scope: RowScope = { writer, after: start?.seq ?? 0, ...(minTime === undefined ? {} : { minTime }) };
    const next =
      options.rows === false
        ? Promise.resolve({ expected: 0, stored: 0, issues: [] as RowIssue[] })
        : previous.then(() => verifyRows(rowsClient, scope, keys, maxIssues));
    next.catch(() => undefined);
    level2.set(writer, next);
    previous = next.catch(() => undefined);
  }
  for (const writer of writers) {
    const { start, forged } = starts.get(writer) ?? {};
    const walk = await walkChain(client, writer, hasher, pads, options, start);
    const rows = (await level2.get(writer)) ?? { expected: 0, stored: 0, issues: [] };
    const issues = forged === undefined ? walk.issues : [forged, ...walk.issues];
    // the per-patient rows readers see are the expansion of the stored request: a request that fails its HMAC
    // makes each of its rows an altered row
    const rowIssues = dedupeRowIssues([...rows.issues, ...walk.alteredRows])
      .sort((a, b) => a.seq - b.seq || (a.event_id < b.event_id ? -1 : 1))
      .slice(0, maxIssues);
    // a writer asked for by name that has no records is not "verified": nothing was checked
    const absent = options.recordedBy !== undefined && walk.records === 0 && rows.stored === 0 && start === undefined;
    const result: WriterVerification = {
      recorded_by: writer,
      ok: issues.length === 0 && rowIssues.length === 0 && !absent,
      records: walk.records + (start?.records ?? 0),
      duplicates: walk.duplicates,
      rechecked: walk.rechecked,
      first_seq: start === undefined ? walk.first_seq : 1,
      last_seq: walk.records === 0 && start !== undefined ? start.seq : walk.last_seq,
      issues: issues.slice(0, maxIssues),
      expected_rows: rows.expected + (start?.rows ?? 0),
      stored_rows: rows.stored + (start?.rows ?? 0),
      row_issues: rowIssues,
      ...(start === undefined ? {} : { since_seq: start.seq }),
    };
    const firstBroken = forged ?? walk.first_broken;
    if (firstBroken !== undefined) result.first_broken = firstBroken;
    // a fully verified chain (both levels) ends in a signed checkpoint the next --since-checkpoint starts from
    if (
      result.ok &&
      options.rows !== false &&
      options.writeCheckpoint !== false &&
      options.allowTruncatedStart !== true &&
      walk.lastHash !== undefined
    ) {
      await writeCheckpoint(client, options.key, writer, {
        seq: walk.last_seq,
        hash: walk.lastHash,
        records: result.records,
        rows: result.stored_rows,
        verified_at: new Date().toISOString(),
      });
    }
    results.push(result);
  }
  return { ok: results.every((writer) => writer.ok), writers: results };
}

function dedupeRowIssues(list: RowIssue[]): RowIssue[] {
  const seen = new Set<string>();
  return list.filter((issue) => {
    const k = `${issue.reason} ${issue.event_id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export interface VerifyRow {
  recorded_by: string;
  /** `not-found`: a writer asked for by name has no records in the store (nothing verified). */
  status: 'ok' | 'broken' | 'not-found';
  records: number;
  duplicates: number;
  first_seq: number;
  last_seq: number;
  first_broken_seq: number | '';
  first_broken_event_id: string;
  reason: string;
  detail: string;
  issues: number;
  rows: number;
  row_issues: number;
  first_row_issue: string;
  first_row_event_id: string;
  /** The checkpoint (seq) a --since-checkpoint verify started after; '' for a full verify. */
  since_seq: number | '';
}

/** The verification as a report (one row per writer) for the output formatters. */
export function verifyReport(result: VerifyResult): Report<VerifyRow> {
  const rows: VerifyRow[] = result.writers.map((writer) => ({
    recorded_by: writer.recorded_by,
    status: writer.ok ? 'ok' : writer.records === 0 && writer.stored_rows === 0 ? 'not-found' : 'broken',
    records: writer.records,
    duplicates: writer.duplicates,
    first_seq: writer.first_seq,
    last_seq: writer.last_seq,
    first_broken_seq: writer.first_broken?.seq ?? '',
    first_broken_event_id: writer.first_broken?.event_id ?? '',
    reason: writer.first_broken?.reason ?? '',
    detail: writer.first_broken?.detail ?? '',
    issues: writer.issues.length,
    rows: writer.stored_rows,
    row_issues: writer.row_issues.length,
    first_row_issue: writer.row_issues[0]?.reason ?? '',
    first_row_event_id: writer.row_issues[0]?.event_id ?? '',
    since_seq: writer.since_seq ?? '',
  }));
  const keys = Object.keys(rows[0] ?? { recorded_by: '', status: '' }) as (keyof VerifyRow)[];
  return {
    name: 'verify',
    title: result.ok
      ? 'Audit chain verified'
      : rows.every((row) => row.status === 'not-found')
        ? 'No records of that writer: nothing verified'
        : 'Audit chain BROKEN',
    parameters: { ok: result.ok },
    columns: keys.map((key) => ({ key, header: key })),
    rows,
  };
}
