/**
 * A real small file system for the tests that must see a full disk (ENOSPC) or a read-only one (EROFS): a tmpfs
 * mounted on a fresh directory. Needs root (the CI container runs as root); anywhere else the test fails with
 * the command that failed and how to run it, never skips.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallTmpfs {
  readonly dir: string;
  /** Fill every free block with one file (the write ends in ENOSPC); returns a function that frees it. */
  fill(): () => void;
  /** Remount read-only (writes then fail with EROFS; refused with EBUSY while a file is open for writing). */
  readOnly(): void;
  /** Remount read-write. */
  writable(): void;
  /** Unmount and remove the directory. */
  close(): void;
}

/** Mount a tmpfs of `size` (default 900k, the issue-15 reproduction) on a new directory. */
export function mountSmallTmpfs(size = '900k'): SmallTmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'fw-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const why = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    throw new Error(
      `this test needs a real small file system: \`mount -t tmpfs -o size=${size} tmpfs ${dir}\` failed (${why}); ` +
        'run the tests as root (the CI container does), e.g. `sudo npm test`',
    );
  }
  return {
    dir,
    fill() {
      const filler = join(dir, `filler-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      try {
        writeFileSync(filler, Buffer.alloc(64 * 1024 * 1024, 1));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        return () => unlinkSync(filler);
      }
      unlinkSync(filler);
      throw new Error(`${dir} did not fill up`);
    },
    readOnly() {
      execFileSync('mount', ['-o', 'remount,ro', dir]);
    },
    writable() {
      execFileSync('mount', ['-o', 'remount,rw', dir]);
    },
    close() {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
