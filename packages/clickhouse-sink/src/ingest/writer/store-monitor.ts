/**
 * Tracks whether the store answers. A failed write marks it down; while down, a probe runs every
 * `probeIntervalMs` and marks it up again when the probe succeeds, then notifies listeners (spool replay).
 * The probe checks that the tables the sink writes exist, so a detached or dropped table counts as down.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_PATIENT_INDEX_TABLE } from '../../store/schema/audit-patient-index.ts';
import { AUDIT_REQUESTS_TABLE } from '../../store/schema/audit-requests.ts';
import { literal } from '../../store/schema/render.ts';
import { OTEL_TABLES } from '../../store/schema/telemetry.ts';

// audit_patient_index too: an insert into audit_requests also writes it (its materialized view), so without it
// audit writes fail
export const REQUIRED_TABLES: readonly string[] = [
  AUDIT_REQUESTS_TABLE,
  AUDIT_PATIENT_INDEX_TABLE,
  ...Object.values(OTEL_TABLES),
];

/**
 * A PHI-free description of a store error: the ClickHouse code and name, or the network error code. Store
 * messages can quote the rows being inserted, so they are never passed on.
 */
export function describeStoreError(error: unknown): string {
  const e = error as { code?: unknown; type?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  const name = typeof e?.type === 'string' ? e.type : (/\(([A-Z_]{3,})\)\s*$/.exec(message)?.[1] ?? '');
  const code = typeof e?.code === 'string' || typeof e?.code === 'number' ? String(e.code) : '';
  const parts = [code, name].filter((part) => part !== '');
  if (parts.length > 0) return `store error ${parts.join(' ')}`;
  return /closed/i.test(message) ? 'store client closed' : 'store error';
}

export class StoreMonitor {
  private readonly client: ClickHouseClient;
  private readonly probeIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private probing = false;
  private readonly listeners: (() => void)[] = [];
  private isUp = true;
  /** Last store error message (for /healthz; never contains record values). */
  lastError = '';

  private readonly repair: (() => Promise<void>) | undefined;

  /** `repair` runs when the probe finds sink tables missing (e.g. migrations on a store that was down at start). */
  constructor(client: ClickHouseClient, probeIntervalMs = 1000, repair?: () => Promise<void>) {
    this.client = client;
    this.probeIntervalMs = probeIntervalMs;
    this.repair = repair;
  }

  get up(): boolean {
    return this.isUp;
  }

  onUp(listener: () => void): void {
    this.listeners.push(listener);
  }

  markDown(error: unknown): void {
    this.lastError = describeStoreError(error);
    if (!this.isUp) return;
    this.isUp = false;
    this.schedule();
  }

  /** Probe now; resolves to the new state. */
  async probe(): Promise<boolean> {
    if (this.probing) return this.isUp;
    this.probing = true;
    try {
      let ok = (await this.tablesPresent()) === REQUIRED_TABLES.length;
      if (!ok && this.repair !== undefined) {
        await this.repair();
        ok = (await this.tablesPresent()) === REQUIRED_TABLES.length;
      }
      if (!ok) this.lastError = 'store is missing sink tables';
      this.setUp(ok);
      return ok;
    } catch (error) {
      this.lastError = describeStoreError(error);
      this.setUp(false);
      return false;
    } finally {
      this.probing = false;
    }
  }

  private async tablesPresent(): Promise<number> {
    const rows = await (
      await this.client.query({
        query: `SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name IN (${REQUIRED_TABLES.map(literal).join(', ')})`,
        format: 'JSONEachRow',
      })
    ).json<{ n: string | number }>();
    return Number(rows[0]?.n);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private setUp(up: boolean): void {
    const wasUp = this.isUp;
    this.isUp = up;
    if (up && !wasUp) for (const listener of this.listeners) listener();
    if (!up) this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.isUp) void this.probe();
    }, this.probeIntervalMs);
    this.timer.unref();
  }
}
