/**
 * Finding the sink that owns an embedded store: a running sink writes `<store>/fhirwatch-sink.json` (its URL and
 * process id) and removes it when it closes. chDB lets one process own a data directory, so a command that cannot
 * open the store reads this file to say which `--sink-url` to use instead.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SINK_MARKER_FILE = 'fhirwatch-sink.json';

export interface SinkMarker {
  url: string;
  pid: number;
  startedAt: string;
}

/** Best effort: a store directory the sink cannot write to only loses the hint, not the sink. */
export function writeSinkMarker(store: string, url: string): void {
  const marker: SinkMarker = { url, pid: process.pid, startedAt: new Date().toISOString() };
  try {
    writeFileSync(join(store, SINK_MARKER_FILE), `${JSON.stringify(marker)}\n`);
  } catch {
    // the hint is optional
  }
}

export function removeSinkMarker(store: string): void {
  rmSync(join(store, SINK_MARKER_FILE), { force: true });
}

/** The marker of a sink that is still running on this store (its process exists), else undefined. */
export function findRunningSink(store: string): SinkMarker | undefined {
  let marker: SinkMarker;
  try {
    marker = JSON.parse(readFileSync(join(store, SINK_MARKER_FILE), 'utf8')) as SinkMarker;
  } catch {
    return undefined;
  }
  if (typeof marker.url !== 'string' || !Number.isInteger(marker.pid)) return undefined;
  try {
    process.kill(marker.pid, 0);
  } catch (error) {
    if ((error as { code?: string }).code === 'ESRCH') return undefined;
  }
  return marker;
}

/**
 * The running sink that owns this store, confirmed by its `GET /healthz` answering (a marker whose process id was
 * reused by another process after a crash is not taken for a sink), else undefined. Commands ask this before they
 * open an embedded store, so a store a sink owns is refused with the `--sink-url` to use and chDB is never asked
 * (it would print its own "Cannot lock file" line first).
 */
export async function findAnsweringSink(store: string, timeoutMs = 1500): Promise<SinkMarker | undefined> {
  const marker = findRunningSink(store);
  if (marker === undefined || marker.pid === process.pid) return undefined;
  try {
    const url = new URL('/healthz', marker.url);
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') return undefined;
    const answer = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await answer.body?.cancel();
    return answer.ok ? marker : undefined;
  } catch {
    return undefined;
  }
}
