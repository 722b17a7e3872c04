/**
 * `audit_verify_checkpoints` (migration 11): where `audit verify` records how far each writer's chain has been
 * proved, so `audit verify --since-checkpoint` proves only what arrived after (ledger databases' "digest"). One
 * row per successful verify of a writer (both levels): the last verified seq and its record's hash, the counts,
 * the time, and an HMAC-SHA256 signature over them with a key derived from the audit HMAC key (compliance/verify.ts
 * `checkpointSignature`): a checkpoint changed or inserted by anyone without the key does not verify, and
 * verify then reports `forged-checkpoint` and proves that writer from the start. The full verify stays
 * available and ignores checkpoints.
 */
import type { TableDef } from './types.ts';

export const AUDIT_CHECKPOINTS_TABLE = 'audit_verify_checkpoints';

export function auditCheckpointsTable(retentionDays: number): TableDef {
  return {
    kind: 'table',
    name: AUDIT_CHECKPOINTS_TABLE,
    comment: 'fhirwatch audit verify checkpoints (signed): last verified seq and hash per writer',
    columns: [
      { name: 'recorded_by', type: 'LowCardinality(String)' },
      { name: 'seq', type: 'UInt64' },
      { name: 'hash', type: 'String' },
      { name: 'records', type: 'UInt64' },
      { name: 'rows', type: 'UInt64' },
      { name: 'verified_at', type: "DateTime64(3, 'UTC')" },
      { name: 'signature', type: 'String', comment: 'HMAC-SHA256 (hex) of the fields, key derived from the audit key' },
    ],
    engine: 'MergeTree',
    orderBy: '(recorded_by, seq, verified_at)',
    ttl: `toDateTime(verified_at) + toIntervalDay(${retentionDays})`,
    shardingKey: 'cityHash64(recorded_by)',
  };
}
