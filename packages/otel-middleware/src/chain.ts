/**
 * The middleware's side of the keyed HMAC chain. The chain itself (link, walk) lives in
 * @fhirwatch/contract (audit-chain.ts), shared with the sink's verify and the dataset generator; here
 * it gets `node:crypto` and the key as a KeyObject made once (createHmac with a raw Buffer key
 * re-imports the key on every call: ~50 µs per record with a Buffer, ~5 µs with a KeyObject).
 */
import * as crypto from 'node:crypto';
import { createSecretKey, type KeyObject } from 'node:crypto';
import {
  type AuditRequestRecord,
  auditRequestCanonical,
  type ChainBreakReason,
  type ChainHasher,
  type ChainState,
  chainHasher,
  firstChainBreak,
} from '@fhirwatch/contract';

export type { ChainState };

/** The key as a KeyObject (made once). */
export function chainKey(key: Buffer | string | KeyObject): KeyObject {
  return typeof key === 'object' && 'symmetricKeySize' in key
    ? key
    : createSecretKey(Buffer.from(key as Buffer | string));
}

/** The chain hasher for a key (node:crypto HMAC-SHA256). */
export function requestHasher(key: Buffer | string | KeyObject): ChainHasher {
  return chainHasher(crypto, chainKey(key));
}

export interface ChainBreak {
  /** Index in the input where the chain breaks. */
  index: number;
  seq: number;
  reason: ChainBreakReason;
}

/**
 * Verify one writer's request records (sorted by seq). Returns the first break, or undefined when
 * intact. `start` is the chain state before the first record (default: the chain start).
 */
export function verifyChain(
  key: Buffer | string | KeyObject,
  records: readonly AuditRequestRecord[],
  start: ChainState = { seq: 0, hash: '' },
): ChainBreak | undefined {
  return firstChainBreak(requestHasher(key), records, auditRequestCanonical, start);
}
