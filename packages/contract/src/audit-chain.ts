/**
 * The keyed HMAC chain of audit-events.md ("`seq`, `hash`/`prev_hash`, keyed HMAC chain, for tamper
 * evidence"), in one place for its three users: the middleware's spool (writer), the sink's
 * `audit verify` (verifier) and the synthetic dataset generator (signer). Per writer (`recorded_by`):
 * `hash` = hex HMAC-SHA256(key, prev_hash + canonical form), `prev_hash` = the previous link's `hash`
 * ('' for seq 1), `seq` = previous seq + 1. The canonical form is the record's (auditRequestCanonical
 * for request records, auditRecordCanonical for legacy single records).
 *
 * The contract stays free of `node:` imports: the caller passes `node:crypto` (or anything with the
 * same `createHmac`), see `chainHasher`.
 */

/** What the chain needs of `node:crypto`: pass the module itself (`import * as crypto from 'node:crypto'`). */
export interface ChainCrypto {
  createHmac(algorithm: 'sha256', key: never): { update(data: string): { digest(encoding: 'hex'): string } };
  /** When present, a string or byte key is imported once (re-importing a raw key per HMAC is ~10x slower). */
  createSecretKey?(key: Uint8Array): unknown;
}

/** Keyed hash of one link: hex HMAC-SHA256(key, prevHash + canonical). */
export type ChainHasher = (prevHash: string, canonical: string) => string;

/** Build the chain's hasher for a key (string = its UTF-8 bytes; a KeyObject is used as is). */
export function chainHasher(crypto: ChainCrypto, key: unknown): ChainHasher {
  let k = key;
  if (crypto.createSecretKey !== undefined && (typeof key === 'string' || key instanceof Uint8Array)) {
    k = crypto.createSecretKey(typeof key === 'string' ? new TextEncoder().encode(key) : key);
  }
  const hmacKey = k as never;
  return (prevHash, canonical) =>
    crypto
      .createHmac('sha256', hmacKey)
      .update(prevHash + canonical)
      .digest('hex');
}

export interface ChainState {
  seq: number;
  hash: string;
}

/** The chain fields of a link. */
export interface ChainLink {
  seq: number;
  prev_hash: string;
  hash: string;
}

export const CHAIN_START: Readonly<ChainState> = Object.freeze({ seq: 0, hash: '' });

/**
 * Writer side: make `record` the next link after `state` (sets seq, prev_hash, then hash over the
 * canonical form, which includes seq and prev_hash) and return the new state.
 */
export function chainAppend<T extends Partial<ChainLink>>(
  hasher: ChainHasher,
  state: ChainState,
  record: T,
  canonical: (record: T & ChainLink) => string,
): ChainState {
  const linked = record as T & ChainLink;
  linked.seq = state.seq + 1;
  linked.prev_hash = state.hash;
  linked.hash = '';
  linked.hash = hasher(linked.prev_hash, canonical(linked));
  return { seq: linked.seq, hash: linked.hash };
}

/** Sign a list of records as one chain, in the given order, from `start`. Returns the end state. */
export function signChain<T extends Partial<ChainLink>>(
  hasher: ChainHasher,
  records: readonly T[],
  canonical: (record: T & ChainLink) => string,
  start: ChainState = CHAIN_START,
): ChainState {
  let state = start;
  for (const record of records) state = chainAppend(hasher, state, record, canonical);
  return state;
}

export type ChainBreakReason = 'seq-gap' | 'prev-hash-mismatch' | 'hash-mismatch';

/**
 * Verifier side: walk one writer's links in seq order, one HMAC per link. `next` reports what is wrong
 * with a link (empty when it continues the chain) and moves on from it either way, so one break is
 * reported once and the links after it are judged against their own predecessor.
 */
export class ChainWalker {
  private readonly hasher: ChainHasher;
  private state: ChainState;
  private first = true;
  private readonly trustFirstPrevHash: boolean;

  /**
   * `start`: the state before the first link (default: the chain start). `trustFirstPrevHash`: the
   * first link may start anywhere (older links dropped by retention): its seq and prev_hash are taken
   * as given.
   */
  constructor(hasher: ChainHasher, start: ChainState = CHAIN_START, options: { trustFirstPrevHash?: boolean } = {}) {
    this.hasher = hasher;
    this.state = { ...start };
    this.trustFirstPrevHash = options.trustFirstPrevHash === true;
  }

  /** Whether the link's hash is the keyed hash of its prev_hash and canonical form. */
  hashOk(link: ChainLink, canonical: string): boolean {
    return this.hasher(link.prev_hash, canonical) === link.hash;
  }

  /** The chain state after the last link walked. */
  get position(): ChainState {
    return { ...this.state };
  }

  /** Check the next link; `hashOk` may be passed when the caller computed it already. */
  next(link: ChainLink, canonical: string, hashOk?: boolean): ChainBreakReason[] {
    const reasons: ChainBreakReason[] = [];
    const trusted = this.first && this.trustFirstPrevHash;
    if (!trusted && link.seq !== this.state.seq + 1) reasons.push('seq-gap');
    if (!trusted && link.seq === this.state.seq + 1 && link.prev_hash !== this.state.hash) {
      reasons.push('prev-hash-mismatch');
    }
    if (!(hashOk ?? this.hashOk(link, canonical))) reasons.push('hash-mismatch');
    this.first = false;
    this.state = { seq: link.seq, hash: link.hash };
    return reasons;
  }
}

/** First break of a list of links (sorted by seq), or undefined when intact. */
export function firstChainBreak<T extends ChainLink>(
  hasher: ChainHasher,
  links: readonly T[],
  canonical: (link: T) => string,
  start: ChainState = CHAIN_START,
): { index: number; seq: number; reason: ChainBreakReason } | undefined {
  const walker = new ChainWalker(hasher, start);
  for (let i = 0; i < links.length; i++) {
    const link = links[i] as T;
    const reasons = walker.next(link, canonical(link));
    if (reasons.length > 0) return { index: i, seq: link.seq, reason: reasons[0] as ChainBreakReason };
  }
  return undefined;
}
