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
 *    row count, XOR and sum of keyed row hashes (sipHash64 keyed from the HMAC key over every column;
 *    request part hashed once per request, entry part once per entry on the expected side) are compared
 *    with the stored rows'; only requests that differ are read back and diffed row by row, which names each
 *    missing, altered or extra per-patient row. Identical duplicate deliveries are harmless.
 *    Level 2 runs in the engine while level 1 walks in JS.
 */
import * as crypto from 'node:crypto';
import { timingSafeEqual } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  type AuditOutcome,
  type AuditRequestEntry,
  type AuditRequestRecord,
  auditRequestCanonical,
  ChainWalker,
  chainHasher,
} from '@fhirwatch/contract';
import { AUDIT_COLUMNS } from '../store/schema/audit.ts';
import {
  AUDIT_EXPANSION_SELECT,
  AUDIT_REQUEST_COLUMNS,
  AUDIT_REQUESTS_TABLE,
  PER_PATIENT_ID,
} from '../store/schema/audit-requests.ts';
import { AUDIT_EVENTS, selectRows } from './records.ts';
import { isoFromClickHouse } from './time-range.ts';
import type { Report } from './types.ts';

export const CHAIN_BREAKS = [
  'hash-mismatch',
  'prev-hash-mismatch',
  'reordered',
  'seq-gap',
  'conflicting-duplicate',
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
}

export interface VerifyResult {
  ok: boolean;
  writers: WriterVerification[];
}

/**
 * The canonical form (auditRequestCanonical) built in SQL, for the engine-side HMAC. It matches the JS text
 * for every value JSON.stringify and toJSONString escape alike (everything but control characters other than
 * \b\f\n\r\t and U+2028/2029); a record whose SQL text differs fails the SQL check and is re-checked in JS
 * with the contract's exact canonical form, so a difference costs time, never a wrong answer. Static text.
 */
const Q = (expr: string): string => `toJSONString(${expr})`;
const NUM = (expr: string): string => `toString(${expr})`;
const ISO_TIME = `concat(formatDateTime(event_time, '%Y-%m-%dT%H:%i:%S'), '.', leftPad(toString(toUnixTimestamp64Milli(event_time) % 1000), 3, '0'), 'Z')`;
const DURATION = `toString(floor(duration_ms * 1000 + 0.5) / 1000)`;
const RESULT_COUNT = (expr: string): string => `if(isNull(${expr}), 'null', toString(assumeNotNull(${expr})))`;
/**
 * Per entry, its patient ids as a JSON array text: x_patient_id split where x_entry changes (each entry has at
 * least one patient and its rows are contiguous), so no lambda captures an outer array (linear, not quadratic).
 */
const PATIENT_LISTS = `arrayMap(ps -> concat('[', arrayStringConcat(ps, ','), ']'), arraySplit((p, d) -> d != 0, arrayMap(p -> toJSONString(p), x_patient_id), arrayDifference(x_entry)))`;
const SQL_CANONICAL_V2 = `concat('[2,', ${[
  Q('toString(request_id)'),
  Q(ISO_TIME),
  Q('recorded_by'),
  NUM('seq'),
  Q('prev_hash'),
  Q('tenant_id'),
  "if(tenant_claimed = 1, 'true', 'false')",
  Q('routed_tenant_id'),
  Q('client_id'),
  Q('user_id'),
  Q('user_name'),
  Q('source_ip'),
  Q('user_agent'),
  Q('fhir_version'),
  Q('batch_id'),
  Q('trace_id'),
  NUM('http_status'),
  DURATION,
].join(", ',', ")}, ',[', arrayStringConcat(arrayMap((t, it, rt, q, ix, st, oc, rc, ps) -> concat('[', ${[
  Q('t'),
  Q('it'),
  Q('rt'),
  Q('q'),
  NUM('ix'),
  NUM('st'),
  NUM('oc'),
  RESULT_COUNT('rc'),
].join(
  ", ',', ",
)}, ',', ps, ']'), e_event_type, e_fhir_interaction, e_resource_type, e_query, e_entry_index, e_http_status, e_outcome, e_result_count, ${PATIENT_LISTS}), ','), ']]')`;
const SQL_CANONICAL_V1 = `concat('[', ${[
  Q('toString(request_id)'),
  Q(ISO_TIME),
  Q('recorded_by'),
  NUM('seq'),
  Q('prev_hash'),
  Q('tenant_id'),
  Q('routed_tenant_id'),
  Q('client_id'),
  Q('user_id'),
  Q('user_name'),
  Q('source_ip'),
  Q('user_agent'),
  Q('e_event_type[1]'),
  Q('e_fhir_interaction[1]'),
  Q('e_resource_type[1]'),
  Q('fhir_version'),
  Q('e_query[1]'),
  Q('x_patient_id[1]'),
  Q('batch_id'),
  NUM('e_entry_index[1]'),
  Q('trace_id'),
  NUM('e_outcome[1]'),
  NUM('e_http_status[1]'),
  DURATION,
  RESULT_COUNT('e_result_count[1]'),
].join(", ',', ")}, ']')`;
/** HMAC-SHA256 in SQL: SHA256(opad ‖ SHA256(ipad ‖ message)), message = prev_hash ‖ canonical. */
const SQL_HMAC_OK = `lower(hex(SHA256(concat(unhex({opad:String}), SHA256(concat(unhex({ipad:String}), prev_hash, if(v = 1, ${SQL_CANONICAL_V1}, ${SQL_CANONICAL_V2}))))))) = hash`;
const SQL_SETTINGS = {
  output_format_json_quote_64bit_integers: 0,
  output_format_json_escape_forward_slashes: 0,
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

/** One JSONCompactEachRow row of `SELECT ${REQUEST_COLUMNS_SQL}` as the request record it stores. */
export function requestFromRow(row: readonly unknown[]): AuditRequestRecord {
  const [
    requestId,
    eventTime,
    recordedBy,
    seq,
    prevHash,
    hash,
    v,
    tenantId,
    tenantClaimed,
    routedTenantId,
    clientId,
    userId,
    userName,
    sourceIp,
    userAgent,
    fhirVersion,
    batchId,
    traceId,
    httpStatus,
    durationMs,
    eventType,
    interaction,
    resourceType,
    query,
    entryIndex,
    status,
    outcome,
    resultCount,
    xEntry,
    xPatient,
  ] = row as [
    string,
    string,
    string,
    number,
    string,
    string,
    number,
    string,
    number,
    string,
    string,
    string,
    string,
    string,
    string,
    AuditRequestRecord['fhir_version'],
    string,
    string,
    number,
    number,
    AuditRequestEntry['event_type'][],
    AuditRequestEntry['fhir_interaction'][],
    string[],
    string[],
    number[],
    number[],
    number[],
    (number | null)[],
    number[],
    string[],
  ];
  const entries: AuditRequestEntry[] = eventType.map((type, i) => ({
    event_type: type,
    fhir_interaction: interaction[i] as AuditRequestEntry['fhir_interaction'],
    resource_type: resourceType[i] ?? '',
    query: query[i] ?? '',
    entry_index: entryIndex[i] ?? -1,
    http_status: status[i] ?? 0,
    outcome: (outcome[i] ?? 0) as AuditOutcome,
    result_count: resultCount[i] ?? null,
    patient_ids: [],
  }));
  for (let j = 0; j < xEntry.length; j++) entries[(xEntry[j] as number) - 1]?.patient_ids.push(xPatient[j] ?? '');
  return {
    v: v === 1 ? 1 : 2,
    event_id: requestId,
    event_time: isoFromClickHouse(eventTime),
    recorded_by: recordedBy,
    seq: Number(seq),
    prev_hash: prevHash,
    hash,
    tenant_id: tenantId,
    tenant_claimed: tenantClaimed === 1,
    routed_tenant_id: routedTenantId,
    client_id: clientId,
    user_id: userId,
    user_name: userName,
    source_ip: sourceIp,
    user_agent: userAgent,
    fhir_version: fhirVersion,
    batch_id: batchId,
    trace_id: traceId,
    http_status: httpStatus,
    duration_ms: durationMs,
    entries,
  };
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
}

/** Level 1: one writer's request chain, streamed in sort-key order, page = key range, next page prefetched. */
async function walkChain(
  client: ClickHouseClient,
  writer: string,
  hasher: ReturnType<typeof chainHasher>,
  pads: { ipad: string; opad: string },
  options: VerifyOptions,
): Promise<ChainWalk> {
  const pageSize = options.pageSize ?? 50_000;
  const maxIssues = options.maxIssues ?? 100;
  const [bounds] = await selectRows<{ lo: number; hi: number; n: number }>(
    client,
    `SELECT min(seq) AS lo, max(seq) AS hi, count() AS n FROM ${AUDIT_REQUESTS_TABLE} WHERE recorded_by = {writer:String}`,
    { writer },
  );
  const lo = Number(bounds?.lo ?? 0);
  const hi = Number(bounds?.hi ?? 0);
  const walk: ChainWalk = { records: 0, duplicates: 0, rechecked: 0, first_seq: lo, last_seq: hi, issues: [] };
  const report = (issue: ChainIssue): void => {
    walk.first_broken ??= issue;
    if (walk.issues.length < maxIssues) walk.issues.push(issue);
  };
  // hashes of this writer's records, to tell "reordered" (prev_hash names another record) from a plain break
  const knownHashes = Number(bounds?.n ?? 0) <= 2_000_000 ? new Set<string>() : undefined;
  const walker = new ChainWalker(
    hasher,
    { seq: options.allowTruncatedStart ? lo - 1 : 0, hash: '' },
    {
      trustFirstPrevHash: options.allowTruncatedStart === true,
    },
  );
  let expectedSeq = options.allowTruncatedStart ? lo : 1;

  const flushGroup = (group: { record: AuditRequestRecord; canonical: string; ok: boolean }[]): void => {
    // walk the copy that verifies (if any): a forged copy beside the genuine one is reported once, as a conflict
    const first = group.find((g) => g.ok) ?? group[0];
    if (first === undefined) return;
    for (const other of group) {
      if (other === first) continue;
      if (other.record.hash === first.record.hash && other.canonical === first.canonical) walk.duplicates += 1;
      else {
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
      SQL_SETTINGS,
    );
  /** The records of a page the engine's check failed, read whole (one query per page that has any). */
  const failedRecords = async (start: number): Promise<Map<string, AuditRequestRecord>> => {
    const rows = await compactRows(
      client,
      `SELECT ${REQUEST_COLUMNS_SQL} FROM ${AUDIT_REQUESTS_TABLE}
        WHERE recorded_by = {writer:String} AND seq >= {start:UInt64} AND seq < {end:UInt64} AND NOT (${SQL_HMAC_OK})`,
      { writer, start, end: start + pageSize, ...pads },
      SQL_SETTINGS,
    );
    const out = new Map<string, AuditRequestRecord>();
    for (const row of rows) {
      const record = requestFromRow(row);
      out.set(`${record.seq} ${record.event_id} ${record.hash}`, record);
    }
    return out;
  };
  let pending: { record: AuditRequestRecord; canonical: string; ok: boolean }[] = [];
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
      if (!ok) {
        walk.rechecked++;
        const record = failed?.get(`${seq} ${id} ${hash}`);
        canonical = record === undefined ? '' : auditRequestCanonical(record);
        ok = record !== undefined && sameHex(hasher(record.prev_hash, canonical), record.hash);
      }
      const record = { seq, event_id: id, prev_hash: prevHash, hash } as AuditRequestRecord;
      knownHashes?.add(hash);
      const head = pending[0];
      if (head !== undefined && head.record.seq !== seq) {
        flushGroup(pending);
        pending = [];
      }
      pending.push({ record, canonical, ok });
    }
  }
  flushGroup(pending);
  return walk;
}

/** The row-hash key (two UInt64) derived from the HMAC key: an attacker without the key cannot forge a row hash. */
function rowHashKey(key: Uint8Array | string): { k0: string; k1: string } {
  const digest = crypto.createHmac('sha256', key).update('fhirwatch audit verify: per-patient rows').digest();
  return { k0: digest.readBigUInt64BE(0).toString(), k1: digest.readBigUInt64BE(8).toString() };
}

/** Keyed hash of one audit_events row over every column (AUDIT_COLUMNS order; NULL result_count as -1). */
const ROW_HASH = `sipHash64Keyed((toUInt64({k0:String}), toUInt64({k1:String})), ${AUDIT_COLUMNS.map((c) =>
  c.name === 'result_count' ? 'ifNull(toInt64(result_count), -1)' : c.name,
).join(', ')})`;

/** The expansion, typed exactly like audit_events (so equal values hash equally). */
const EXPANSION_TYPED = `SELECT ${AUDIT_COLUMNS.map((c) =>
  c.name === 'result_count'
    ? 'CAST(result_count AS Nullable(UInt32)) AS result_count'
    : `CAST(${c.name} AS ${c.type}) AS ${c.name}`,
).join(
  ', ',
)} FROM (${AUDIT_EXPANSION_SELECT.replace('{from}', `(SELECT * FROM ${AUDIT_REQUESTS_TABLE} WHERE recorded_by IN {writers:Array(String)})`)})`;

const KEY_TUPLE = '(toUInt64({k0:String}), toUInt64({k1:String}))';
/** Request-level columns of a per-patient row (the same in every row of a request). */
const REQUEST_PART = `sipHash64Keyed(${KEY_TUPLE}, event_time, recorded_by, seq, prev_hash, hash, tenant_id, routed_tenant_id, client_id, user_id, user_name, source_ip, user_agent, fhir_version, batch_id, trace_id, duration_ms)`;
/** Entry-level columns of a per-patient row; result count as Int64 with null (or legacy -1) = -1. */
const ENTRY_PART = (t: string, it: string, rt: string, q: string, ix: string, oc: string, st: string, rc: string) =>
  `sipHash64Keyed(${KEY_TUPLE}, ${t}, ${it}, ${rt}, ${q}, ${ix}, ${oc}, ${st}, ${rc})`;
/** Keyed hash of a stored audit_events row, structured as request part, entry part, patient, id. */
const STORED_ROW_HASH = `sipHash64Keyed(${KEY_TUPLE}, ${REQUEST_PART}, ${ENTRY_PART(
  'event_type',
  'fhir_interaction',
  'resource_type',
  'query',
  'entry_index',
  'outcome',
  'http_status',
  'ifNull(toInt64(result_count), -1)',
)}, patient_id, event_id)`;
/**
 * Per request: the count, XOR and sum of the hashes of the rows it expands to, computed with array functions on
 * the request row (no ARRAY JOIN, no aggregation): the request part hashed once, the entry part once per entry
 * (spread over its patients by arraySplit lengths, so no lambda captures an outer array), the per-patient id as
 * the view computes it.
 */
const EXPECTED_GROUPS = `SELECT recorded_by, seq, 1 AS side, length(x_patient_id) AS n,
    arrayReduce('groupBitXor', _hs) AS x, arrayReduce('sum', _hs) AS s
  FROM (
    SELECT recorded_by, seq, x_patient_id,
      arrayMap((eh, p, _o) -> sipHash64Keyed(${KEY_TUPLE}, _r, eh, p, ${PER_PATIENT_ID('request_id', '_o')}),
        arrayFlatten(arrayMap((h, c) -> arrayWithConstant(c, h), _eh,
          arrayMap(ps -> length(ps), arraySplit((p, d) -> d != 0, x_patient_id, arrayDifference(x_entry))))),
        x_patient_id, arrayEnumerate(x_patient_id)) AS _hs
    FROM (
      SELECT recorded_by, seq, request_id, x_entry, x_patient_id, ${REQUEST_PART} AS _r,
        arrayMap((t, it, rt, q, ix, oc, st, rc) -> ${ENTRY_PART('t', 'it', 'rt', 'q', 'ix', 'oc', 'st', 'if(ifNull(rc, -1) < 0, -1, assumeNotNull(rc))')},
          e_event_type, e_fhir_interaction, e_resource_type, e_query, e_entry_index, e_outcome, e_http_status, e_result_count) AS _eh
      FROM ${AUDIT_REQUESTS_TABLE} WHERE recorded_by IN {writers:Array(String)}
    )
  )`;

interface RowGroupDiff {
  recorded_by: string;
  seq: number;
}

/**
 * Level 2 (in the engine): (recorded_by, seq) groups whose per-patient rows may differ from the expansion.
 * Per group and side: row count, XOR and sum of the keyed row hashes (an attacker without the key cannot make
 * a changed row compensate). Duplicate deliveries change the count: such a group goes to the row-by-row diff,
 * which tells identical duplicates (harmless) from a changed row.
 */
async function rowGroupDiffs(
  client: ClickHouseClient,
  writers: readonly string[],
  keys: { k0: string; k1: string },
): Promise<{ diffs: RowGroupDiff[]; totals: Map<string, { expected: number; stored: number }> }> {
  const rows = await compactRows(
    client,
    `SELECT recorded_by, seq, sumIf(n, side = 1) AS en, sumIf(n, side = 2) AS sn,
            groupBitXorIf(x, side = 1) = groupBitXorIf(x, side = 2) AND sumIf(s, side = 1) = sumIf(s, side = 2) AS same
     FROM (
       ${EXPECTED_GROUPS}
       UNION ALL
       SELECT recorded_by, seq, 2 AS side, count() AS n, groupBitXor(h) AS x, sum(h) AS s
       FROM (SELECT recorded_by, seq, ${STORED_ROW_HASH} AS h FROM ${AUDIT_EVENTS} WHERE recorded_by IN {writers:Array(String)})
       GROUP BY recorded_by, seq
     )
     GROUP BY recorded_by, seq`,
    { writers, ...keys },
  );
  const totals = new Map<string, { expected: number; stored: number }>();
  const diffs: RowGroupDiff[] = [];
  for (const [writer, seq, en, sn, same] of rows as [string, number, number, number, number | boolean][]) {
    const t = totals.get(writer) ?? { expected: 0, stored: 0 };
    t.expected += Number(en);
    t.stored += Number(sn);
    totals.set(writer, t);
    if (Number(en) !== Number(sn) || !(same === 1 || same === true))
      diffs.push({ recorded_by: writer, seq: Number(seq) });
  }
  return { diffs, totals };
}

/** Row by row for the groups that differ: which per-patient rows are missing, altered or extra. */
async function rowIssues(
  client: ClickHouseClient,
  diffs: readonly RowGroupDiff[],
  keys: { k0: string; k1: string },
): Promise<Map<string, RowIssue[]>> {
  const out = new Map<string, RowIssue[]>();
  if (diffs.length === 0) return out;
  const pairs = diffs.map((d) => `${d.recorded_by}\u0000${d.seq}`);
  const writers = [...new Set(diffs.map((d) => d.recorded_by))];
  const read = (source: string): Promise<unknown[][]> =>
    compactRows(
      client,
      `SELECT DISTINCT recorded_by, seq, toString(event_id), ${ROW_HASH} AS h FROM (${source})
       WHERE concat(recorded_by, char(0), toString(seq)) IN {pairs:Array(String)}`,
      { writers, pairs, ...keys },
    );
  const [expected, stored] = await Promise.all([
    read(EXPANSION_TYPED),
    read(`SELECT * FROM ${AUDIT_EVENTS} WHERE recorded_by IN {writers:Array(String)}`),
  ]);
  const key = (writer: string, seq: number, id: string): string => `${writer}\u0000${seq}\u0000${id}`;
  const expectedHash = new Map<string, string>();
  for (const [w, s, id, h] of expected as [string, number, string, string][])
    expectedHash.set(key(w, s, id), String(h));
  const storedHashes = new Map<string, Set<string>>();
  for (const [w, s, id, h] of stored as [string, number, string, string][]) {
    const k = key(w, s, id);
    const set = storedHashes.get(k) ?? new Set<string>();
    set.add(String(h));
    storedHashes.set(k, set);
  }
  const add = (writer: string, issue: RowIssue): void => {
    const list = out.get(writer) ?? [];
    list.push(issue);
    out.set(writer, list);
  };
  for (const [k, h] of expectedHash) {
    const [w, s, id] = k.split('\u0000') as [string, string, string];
    const got = storedHashes.get(k);
    if (got === undefined) add(w, { reason: 'missing-row', seq: Number(s), event_id: id });
    else if (got.size !== 1 || !got.has(h)) add(w, { reason: 'altered-row', seq: Number(s), event_id: id });
  }
  for (const k of storedHashes.keys()) {
    if (expectedHash.has(k)) continue;
    const [w, s, id] = k.split('\u0000') as [string, string, string];
    add(w, { reason: 'extra-row', seq: Number(s), event_id: id });
  }
  for (const list of out.values()) list.sort((a, b) => a.seq - b.seq || (a.event_id < b.event_id ? -1 : 1));
  return out;
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
           UNION ALL SELECT DISTINCT recorded_by FROM ${AUDIT_EVENTS})
         ORDER BY recorded_by`,
        {},
      )
    ).map((row) => row.recorded_by);
  const maxIssues = options.maxIssues ?? 100;
  const keys = rowHashKey(options.key);
  // level 2 runs in the engine (off the event loop) while level 1 walks the chains here
  const level2 =
    options.rows === false
      ? Promise.resolve({ totals: new Map<string, { expected: number; stored: number }>(), issues: new Map() })
      : rowGroupDiffs(client, writers, keys).then(async ({ diffs, totals }) => ({
          totals,
          issues: await rowIssues(client, diffs.slice(0, maxIssues * Math.max(1, writers.length)), keys),
        }));
  level2.catch(() => undefined);
  const hasher = chainHasher(crypto, options.key);
  const walks: ChainWalk[] = [];
  const pads = hmacPads(options.key);
  for (const writer of writers) walks.push(await walkChain(client, writer, hasher, pads, options));
  const rows = await level2;
  const results: WriterVerification[] = writers.map((writer, i) => {
    const walk = walks[i] as ChainWalk;
    const rowList = (rows.issues.get(writer) ?? []).slice(0, maxIssues);
    const totals = rows.totals.get(writer) ?? { expected: 0, stored: 0 };
    // a writer asked for by name that has no records is not "verified": nothing was checked
    const absent = options.recordedBy !== undefined && walk.records === 0 && totals.stored === 0;
    const result: WriterVerification = {
      recorded_by: writer,
      ok: walk.issues.length === 0 && rowList.length === 0 && !absent,
      records: walk.records,
      duplicates: walk.duplicates,
      rechecked: walk.rechecked,
      first_seq: walk.first_seq,
      last_seq: walk.last_seq,
      issues: walk.issues,
      expected_rows: totals.expected,
      stored_rows: totals.stored,
      row_issues: rowList,
    };
    if (walk.first_broken !== undefined) result.first_broken = walk.first_broken;
    return result;
  });
  return { ok: results.every((writer) => writer.ok), writers: results };
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
