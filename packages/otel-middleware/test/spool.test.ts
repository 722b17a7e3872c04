import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRequestRecord } from '@fhirwatch/contract';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/chain.ts';
import { AUDIT_ERROR_CODES } from '../src/errors.ts';
import { AuditSpool, parseSegment, segmentLine } from '../src/spool.ts';
import { patientOf, segmentRequests, testRequest } from './requests.ts';

const KEY = 'k';
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'fw-spool-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const rec = (patient: string) => testRequest(patient);
const allRecords = segmentRequests;

describe('AuditSpool', () => {
  it('group-commits concurrent durable appends: fewer fdatasyncs than appends, every record chained', async () => {
    const dir = await tempDir();
    const spool = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    await Promise.all(Array.from({ length: 200 }, (_, i) => spool.append([rec(`p${i}`)], true)));
    const stats = spool.stats();
    expect(stats.written).toBe(200);
    expect(stats.flushes).toBeLessThan(200);
    await spool.close();
    const { records } = await allRecords(dir);
    expect(records).toHaveLength(200);
    expect(verifyChain(KEY, records)).toBeUndefined();
  });

  it('skips a torn tail (kill -9 mid-write) and continues the chain from the last valid record after restart', async () => {
    const dir = await tempDir();
    const a = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    await a.append([rec('a'), rec('b'), rec('c')], true);
    await a.close();
    // What a kill -9 mid-write leaves: a half-written line at the end of the segment.
    const seg = (await readdir(dir)).find((n) => n.startsWith('seg-')) as string;
    await appendFile(join(dir, seg), '0badc0de {"event_id":"torn');
    const b = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    expect(b.chainState().seq).toBe(3);
    await b.append([rec('d')], true);
    await b.close();
    const { records, corrupt } = await allRecords(dir);
    expect(corrupt).toBe(1);
    expect(records.map(patientOf)).toEqual(['a', 'b', 'c', 'd']);
    expect(verifyChain(KEY, records)).toBeUndefined();
  });

  it('detects a corrupted line by its CRC', () => {
    const parsed = parseSegment('00000000 {"a":1}\n');
    expect(parsed.ranges).toHaveLength(0);
    expect(parsed.corrupt).toBe(1);
  });

  it('keeps the chain across restarts once every segment was shipped (chain.json)', async () => {
    const dir = await tempDir();
    const a = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    await a.append([rec('a'), rec('b')], true);
    await a.seal();
    const seg = a.oldestSegment();
    expect(seg).toBeDefined();
    const contents = await a.readSegment(seg as NonNullable<typeof seg>);
    await a.acknowledge(seg as NonNullable<typeof seg>, contents);
    await a.close();
    const b = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    expect(b.chainState().seq).toBe(2);
    await b.append([rec('c')], true);
    await b.close();
    const { records } = await allRecords(dir);
    expect(records.map((r) => r.seq)).toEqual([3]);
    const first = JSON.parse(segmentLine(contents, 1)) as AuditRequestRecord;
    expect(records[0]?.prev_hash).toBe(first.hash);
  });

  it('refuses durable appends with FW_AUDIT_SPOOL_FULL over maxSpoolBytes; batched ones are counted as dropped', async () => {
    const dir = await tempDir();
    const spool = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY, maxSpoolBytes: 4000 });
    await spool.append([rec('a'), rec('b'), rec('c')], true);
    await expect(spool.append([rec('d'), rec('e'), rec('f'), rec('g')], true)).rejects.toMatchObject({
      code: AUDIT_ERROR_CODES.spoolFull,
    });
    expect(spool.append([rec('h'), rec('i'), rec('j'), rec('k')], false)).toBeUndefined();
    expect(spool.stats().dropped).toBe(4);
    await spool.close();
  });

  it('refuses a second writer of the same directory in the same process', async () => {
    const dir = await tempDir();
    const a = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    await expect(AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY })).rejects.toMatchObject({
      code: AUDIT_ERROR_CODES.spoolLocked,
    });
    await a.close();
    const b = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    await b.close();
  });

  it('locks the directory against a second live writer', async () => {
    const dir = await tempDir();
    const a = await AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY });
    // A live process (our parent) holds the lock file.
    await a.close();
    await appendFile(join(dir, 'spool.lock'), String(process.ppid));
    await expect(AuditSpool.open({ dir, recordedBy: 'w1', hmacKey: KEY })).rejects.toMatchObject({
      code: AUDIT_ERROR_CODES.spoolLocked,
    });
  });

  it('creates and reuses a random HMAC key when none is configured', async () => {
    const dir = await tempDir();
    const a = await AuditSpool.open({ dir, recordedBy: 'w1' });
    await a.close();
    const key = (await readFile(join(dir, 'hmac.key'), 'utf8')).trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const b = await AuditSpool.open({ dir, recordedBy: 'w1' });
    await b.append([rec('a')], true);
    await b.close();
    const { records } = await allRecords(dir);
    expect(verifyChain(Buffer.from(key, 'hex'), records)).toBeUndefined();
  });

  it('refuses a key file that holds no hex key, naming the file and not its content', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'hmac.key'), 'not-a-hex-key secret words\n', { mode: 0o600 });
    const error = await AuditSpool.open({ dir, recordedBy: 'w1' }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error?.code).toBe(AUDIT_ERROR_CODES.invalidOption);
    expect(error?.message).toContain(join(dir, 'hmac.key'));
    expect(error?.message).not.toContain('secret');
    // the directory is released: a valid key file opens it
    await writeFile(join(dir, 'hmac.key'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const spool = await AuditSpool.open({ dir, recordedBy: 'w1' });
    await spool.close();
  });
});
