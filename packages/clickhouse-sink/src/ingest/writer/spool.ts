/**
 * Disk spool for telemetry rows the store could not take. One file per batch and table,
 * `<dir>/<table>/<time>-<pid>-<n>.ndjson` (JSONEachRow), written to a temp name, fsynced, then renamed, so a
 * file is either complete or absent. Replay inserts each file with `insert_deduplication_token` = its name
 * (the telemetry tables keep a non-replicated deduplication window), then deletes it: a crash between the
 * insert and the delete replays the file, and ClickHouse drops the repeated block.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SinkError } from '../../errors.ts';

export interface SpoolFile {
  readonly table: string;
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
}

export class Spool {
  readonly dir: string;
  private readonly maxBytes: number;
  private counter = 0;
  private bytes = 0;

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    // rows may hold PHI: directories 0700, files 0600 whatever the umask; an existing directory is tightened
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    this.bytes = this.files().reduce((sum, file) => sum + file.bytes, 0);
  }

  /** Bytes currently spooled. */
  get size(): number {
    return this.bytes;
  }

  /** True when the spool is at 90 % of its limit: senders should back off rather than be spooled. */
  get nearlyFull(): boolean {
    return this.bytes >= this.maxBytes * 0.9;
  }

  /** Persist rows for a table; throws FW_SINK_BUSY when the spool is full. */
  append(table: string, rows: readonly unknown[]): void {
    if (rows.length === 0) return;
    const body = Buffer.from(rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    if (this.bytes + body.length > this.maxBytes) {
      throw new SinkError('FW_SINK_BUSY', 'telemetry spool is full', { retryAfter: 5 });
    }
    const tableDir = join(this.dir, table);
    mkdirSync(tableDir, { recursive: true, mode: 0o700 });
    const name = `${Date.now().toString().padStart(15, '0')}-${process.pid}-${(this.counter++).toString().padStart(6, '0')}.ndjson`;
    const temp = join(tableDir, `.${name}.tmp`);
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, join(tableDir, name));
    this.bytes += body.length;
  }

  /** Limit in bytes. */
  get limit(): number {
    return this.maxBytes;
  }

  /**
   * Can the spool take a file right now? Writes, fsyncs and removes a small probe file (the readiness check);
   * undefined when it can, else the errno name (`ENOSPC`, `EROFS`…).
   */
  probeWritable(): string | undefined {
    const probe = join(this.dir, `.probe-${process.pid}.tmp`);
    try {
      const fd = openSync(probe, 'w', 0o600);
      try {
        writeSync(fd, Buffer.alloc(4096));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return undefined;
    } catch (error) {
      return String((error as NodeJS.ErrnoException).code ?? 'EIO');
    } finally {
      rmSync(probe, { force: true });
    }
  }

  /** Spooled files, oldest first per table. */
  files(): SpoolFile[] {
    const result: SpoolFile[] = [];
    for (const table of safeReaddir(this.dir)) {
      const tableDir = join(this.dir, table);
      if (!statSync(tableDir).isDirectory()) continue;
      for (const name of safeReaddir(tableDir).sort()) {
        if (!name.endsWith('.ndjson') || name.startsWith('.')) continue;
        const path = join(tableDir, name);
        result.push({ table, name, path, bytes: statSync(path).size });
      }
    }
    return result;
  }

  async read(file: SpoolFile): Promise<unknown[]> {
    const text = await readFile(file.path, 'utf8');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as unknown);
  }

  async remove(file: SpoolFile): Promise<void> {
    await rm(file.path, { force: true });
    this.bytes = Math.max(0, this.bytes - file.bytes);
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
