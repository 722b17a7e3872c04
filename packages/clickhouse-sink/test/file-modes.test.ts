/**
 * The store and the sink's disk spool hold PHI: every directory chDB or the sink creates is 0700 and every
 * file 0600, even under the usual umask 0022 (checked with stat on the real files after real ingest).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSink } from '../src/index.ts';
import { Spool } from '../src/ingest/index.ts';
import { generateRecords } from './records.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-modes-'));
  process.umask(0o022);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function walk(root: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    out.push(path);
    if (entry.isDirectory()) out.push(...walk(path));
  }
  return out;
}

/** Paths whose mode is not 0700 (directories) / 0600 (files), with their mode. */
function loose(root: string): string[] {
  return [root, ...walk(root)].flatMap((path) => {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st === undefined || st.isSymbolicLink()) return [];
    const want = st.isDirectory() ? 0o700 : 0o600;
    return (st.mode & 0o777) === want ? [] : [`${path} 0${(st.mode & 0o777).toString(8)}`];
  });
}

describe('store and spool file modes', () => {
  it('a chDB store written through the sink is 0700 / 0600 throughout', async () => {
    const storeDir = join(dir, 'store');
    mkdirSync(storeDir, { mode: 0o755 }); // an existing, loose store directory is tightened too
    const sink = await startSink({ store: storeDir, flushIntervalMs: 50 });
    try {
      const records = generateRecords({ count: 50 });
      const res = await fetch(`${sink.url}/v1/audit`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: `${records.map((r) => JSON.stringify(r)).join('\n')}\n`,
      });
      expect(res.status).toBe(200);
      await sink.audit.flush();
    } finally {
      await sink.close();
    }
    const files = walk(storeDir).filter((p) => statSync(p).isFile());
    expect(files.length).toBeGreaterThan(10); // real data parts, metadata and logs were written
    expect(loose(storeDir)).toEqual([]);
  });

  it("the sink's outage spool creates 0700 directories and 0600 files", () => {
    const spoolDir = join(dir, 'spool');
    const spool = new Spool(spoolDir, 1024 * 1024);
    spool.append('otel_traces', [{ TraceId: 'a' }]);
    expect(walk(spoolDir).length).toBeGreaterThanOrEqual(2);
    expect(loose(spoolDir)).toEqual([]);
  });
});
