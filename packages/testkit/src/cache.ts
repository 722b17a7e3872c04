/**
 * The cache outside the repository where tools the tests need are unpacked or built on first use
 * (`~/.cache/fhirwatch`, or `$XDG_CACHE_HOME/fhirwatch`, or `$FHIRWATCH_CACHE`), and `buildOnce`, which
 * makes one entry of it safely when several test processes ask at the same time.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export function cacheDir(): string {
  const explicit = process.env.FHIRWATCH_CACHE;
  if (explicit !== undefined && explicit !== '') return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'fhirwatch');
}

/**
 * Returns `final`, a directory that `build` fills; builds it only when it does not exist yet. `build`
 * writes into a private temporary sibling that is renamed into place when complete, so a reader never
 * sees a half-built entry, and when two processes build at once the first rename wins and the other's
 * copy is discarded. A failed build leaves nothing behind.
 */
export async function buildOnce(final: string, build: (dir: string) => Promise<void>): Promise<string> {
  if (existsSync(final)) return final;
  mkdirSync(dirname(final), { recursive: true });
  const tmp = `${final}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    try {
      renameSync(tmp, final);
    } catch (error) {
      if (!existsSync(final)) throw error;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return final;
}
