/**
 * The audit spool holds PHI: its directories are 0700 and its files 0600 whatever the umask (checked with
 * stat on the real files), and an HMAC key file open to group or others is refused with the fix.
 */
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_ERROR_CODES } from '../src/errors.ts';
import { readKeyFile } from '../src/key-file.ts';
import { AuditSpool } from '../src/spool.ts';
import { testRequest } from './requests.ts';

let dir: string;
let umask: number;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fw-modes-'));
  umask = process.umask(0o022); // the usual default, under which files would be 0644
});
afterEach(async () => {
  process.umask(umask);
  await rm(dir, { recursive: true, force: true });
});

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    out.push(path);
    if (entry.isDirectory()) out.push(...(await walk(path)));
  }
  return out;
}

describe('audit spool file modes', () => {
  it('creates the spool directories 0700 and every file 0600 (segments, chain state, lock, key)', async () => {
    const spoolDir = join(dir, 'spool');
    const spool = await AuditSpool.open({ dir: spoolDir, recordedBy: 'w', segmentMaxBytes: 1 });
    await spool.append([testRequest('pat-1')], true);
    const segment = spool.oldestSegment();
    expect(segment).toBeDefined();
    const contents = await spool.readSegment(segment!);
    await spool.acknowledge(segment!, contents); // writes chain.json
    await spool.append([testRequest('pat-2')], true);
    const paths = await walk(spoolDir);
    const names = paths.map((p) => p.slice(spoolDir.length + 1)).sort();
    expect(names).toEqual(expect.arrayContaining(['chain.json', 'hmac.key', 'rejected', 'spool.lock']));
    expect(names.some((n) => /^seg-\d+\.log$/.test(n))).toBe(true);
    expect(await modeOf(spoolDir)).toBe(0o700);
    for (const path of paths) {
      const st = await stat(path);
      expect(st.mode & 0o777, path).toBe(st.isDirectory() ? 0o700 : 0o600);
    }
    await spool.close();
  });

  it('tightens an existing spool directory created 0755', async () => {
    const spoolDir = join(dir, 'old');
    await mkdir(spoolDir, { mode: 0o755 });
    const spool = await AuditSpool.open({ dir: spoolDir, recordedBy: 'w', hmacKey: 'k' });
    expect(await modeOf(spoolDir)).toBe(0o700);
    await spool.close();
  });

  it('refuses a spool key file readable by others, naming the fix; nothing is overwritten', async () => {
    const spoolDir = join(dir, 'spool');
    const first = await AuditSpool.open({ dir: spoolDir, recordedBy: 'w' });
    await first.close();
    const keyPath = join(spoolDir, 'hmac.key');
    const key = await readKeyFile(keyPath);
    await chmod(keyPath, 0o644);
    const error = await AuditSpool.open({ dir: spoolDir, recordedBy: 'w' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: AUDIT_ERROR_CODES.keyFileMode });
    expect((error as Error).message).toContain(`chmod 600 ${keyPath}`);
    expect((error as Error).message).not.toContain(key);
    await chmod(keyPath, 0o600);
    expect(readKeyFile(keyPath)).toBe(key);
    const again = await AuditSpool.open({ dir: spoolDir, recordedBy: 'w' });
    await again.close();
  });

  it.each(['640', '604', '644', '660', '601'])('readKeyFile refuses mode %s and accepts 600 / 400', async (text) => {
    const path = join(dir, 'key');
    await writeFile(path, 'ab'.repeat(32));
    await chmod(path, Number.parseInt(text, 8));
    expect(() => readKeyFile(path)).toThrow(`(mode 0${text}); run \`chmod 600 ${path}\``);
    await chmod(path, 0o600);
    expect(readKeyFile(path)).toBe('ab'.repeat(32));
    await chmod(path, 0o400);
    expect(readKeyFile(path)).toBe('ab'.repeat(32));
  });
});
