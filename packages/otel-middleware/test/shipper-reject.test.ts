/**
 * A batch the sink refuses (400) because of one record: the records before it are shipped, only the
 * bad one is quarantined in rejected/ with the sink's error code, the rest follows. Real spool, real
 * shipper, real HTTP receiver validating like the sink.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRequestRecord, UnchainedAuditRequest } from '@fhirwatch/contract';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/chain.ts';
import { AUDIT_ERROR_CODES, type FhirAuditError } from '../src/errors.ts';
import { AuditShipper } from '../src/shipper.ts';
import { AuditSpool } from '../src/spool.ts';
import { startReceiver } from './receiver.ts';
import { patientOf, testRequest } from './requests.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function record(i: number, userAgent = 'app'): UnchainedAuditRequest {
  return testRequest(`p${i}`, { event_time: new Date(1_790_000_000_000 + i).toISOString(), user_agent: userAgent });
}

async function setup(badAt: readonly number[], total: number, nameLine: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'fw-reject-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  receiver.rejectRecords((r) => r.user_agent === 'BAD', nameLine);
  const spool = await AuditSpool.open({ dir, recordedBy: 'w', hmacKey: 'k', segmentMaxBytes: 64 * 1024 * 1024 });
  cleanups.push(() => spool.close());
  const records: UnchainedAuditRequest[] = [];
  for (let i = 0; i < total; i++) records.push(record(i, badAt.includes(i) ? 'BAD' : 'app'));
  await spool.append(records, true);
  await spool.seal(); // one segment = one batch of `total` records
  const errors: FhirAuditError[] = [];
  const shipper = new AuditShipper(spool, {
    sinkUrl: receiver.url,
    shipIntervalMs: 20,
    minBackoffMs: 10,
    onError: (e) => errors.push(e),
  });
  cleanups.push(() => shipper.stop());
  shipper.start();
  await shipper.drained();
  const rejectedFiles = await readdir(join(dir, 'rejected'));
  const quarantined: { error: { code: string; status: number }; record: AuditRequestRecord }[] = [];
  for (const f of rejectedFiles) {
    for (const l of (await readFile(join(dir, 'rejected', f), 'utf8')).split('\n')) {
      if (l !== '') quarantined.push(JSON.parse(l));
    }
  }
  return { receiver, shipper, errors, quarantined, rejectedFiles, spool, records };
}

describe('sink rejects one record of a batch', () => {
  it('ships the 999 good records, quarantines the bad one with the sink error code (line named)', async () => {
    const { receiver, shipper, errors, quarantined, rejectedFiles, spool } = await setup([400], 1000, true);
    expect(receiver.records).toHaveLength(999);
    expect(receiver.records.some((r) => r.user_agent === 'BAD')).toBe(false);
    expect(receiver.refusedBatches).toBe(1);
    expect(rejectedFiles).toHaveLength(1);
    expect(rejectedFiles[0]).toMatch(/\.rejected\.ndjson$/);
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]?.error.code).toBe('FW_SINK_BAD_RECORD');
    expect(quarantined[0]?.error.status).toBe(400);
    expect(quarantined[0] ? patientOf(quarantined[0].record) : '').toBe('p400');
    expect(quarantined[0]?.record.seq).toBe(401);
    expect(shipper.stats.rejectedRecords).toBe(1);
    expect(shipper.stats.shippedRecords).toBe(999);
    expect(errors.map((e) => e.code)).toContain(AUDIT_ERROR_CODES.sinkRejected);
    expect(errors.every((e) => !e.message.includes('p400'))).toBe(true);
    expect(spool.stats().segments).toBe(0);
    // The shipped records are in order, chained, with exactly one gap (the quarantined seq 401).
    const seqs = receiver.records.map((r) => r.seq);
    expect(seqs).toEqual([
      ...Array.from({ length: 400 }, (_, i) => i + 1),
      ...Array.from({ length: 599 }, (_, i) => i + 402),
    ]);
    expect(verifyChain('k', receiver.requests.slice(0, 400))).toBeUndefined();
    expect(
      verifyChain('k', receiver.requests.slice(400), { seq: 401, hash: quarantined[0]?.record.hash ?? '' }),
    ).toBeUndefined();
  });

  it('quarantines several bad records, including the first and the last line', async () => {
    const { receiver, quarantined, shipper } = await setup([0, 17, 18, 299], 300, true);
    expect(receiver.records).toHaveLength(296);
    expect(quarantined.map((q) => patientOf(q.record)).sort()).toEqual(['p0', 'p17', 'p18', 'p299']);
    expect(shipper.stats.rejectedRecords).toBe(4);
    expect(new Set(receiver.records.map((r) => r.event_id)).size).toBe(296);
  });

  it('bisects when the sink does not name the line', async () => {
    const { receiver, quarantined, shipper } = await setup([5, 250], 256, false);
    expect(receiver.records).toHaveLength(254);
    expect(quarantined.map((q) => patientOf(q.record)).sort()).toEqual(['p250', 'p5']);
    expect(quarantined.every((q) => q.error.code === 'FW_SINK_BAD_RECORD')).toBe(true);
    expect(shipper.stats.rejectedRecords).toBe(2);
    // log2(256) = 8 levels, two bad leaves: a bounded number of refused POSTs.
    expect(receiver.refusedBatches).toBeLessThanOrEqual(2 * 9);
  });

  it('quarantines a single-record batch the sink refuses without a line', async () => {
    const { receiver, quarantined } = await setup([0], 1, false);
    expect(receiver.records).toHaveLength(0);
    expect(quarantined).toHaveLength(1);
  });
});
