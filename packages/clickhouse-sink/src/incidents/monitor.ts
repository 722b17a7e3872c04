/**
 * The sink's incident monitor: on a schedule from each tenant's stored settings (`incidents.intervalMinutes`,
 * else the sink's default), it runs the registry's monitoring reports (those with `flags`) for the tenant over the
 * current and the previous period (`incidents.periodHours`, aligned to the epoch, so every run and every restart
 * sees the same periods), turns each flagged principal into an incident keyed by report, tenant, principal and
 * period (store.ts: read before insert, so a hit found again is not a second incident), and delivers new incidents
 * from the persisted outbox to the configured destinations, retrying a destination that is down with exponential
 * backoff and jitter (capped). The log names destinations, attempts and error codes, never a payload.
 * In a sink whose query API runs on its worker thread (the default) the monitor runs there too (worker.ts), so the
 * report logic never holds the event loop ingest runs on; its statements go to the sink's thread like the API's.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { tenantDisplayNames } from '../compliance/names.ts';
import { selectRows } from '../compliance/records.ts';
import { getReportDef, REPORT_REGISTRY, runReport } from '../compliance/registry.ts';
import { listTenantSettings, type TenantIncidentSettings } from '../compliance/settings.ts';
import { chDateTime } from '../compliance/time-range.ts';
import { SinkError } from '../errors.ts';
import { type SinkLogger, stderrLogger } from '../log.ts';
import { AUDIT_REQUESTS_TABLE } from '../store/schema/audit-requests.ts';
import { checkDestinations, DeliveryError, type DestinationConfig, deliver, incidentMessage } from './destinations.ts';
import {
  dueDeliveries,
  type Incident,
  type IncidentCandidate,
  incidentsById,
  recordAttempt,
  storeNewIncidents,
} from './store.ts';

/** Version in the CEF header. */
const SINK_VERSION = '0.1.0';

/** The sink's incidents config (`fhirwatch sink --incidents <file.json>`, `startSink({ incidents })`). */
export interface IncidentsOptions {
  destinations?: readonly DestinationConfig[];
  /** Hosts other than loopback that destinations may name (the operator's explicit list). */
  allowHosts?: readonly string[];
  /** Base of the console link in each payload (default: the sink's own URL). */
  consoleUrl?: string;
  /** Minutes between runs for a tenant whose settings do not say (default 15). */
  intervalMinutes?: number;
  /** Period length in hours for a tenant whose settings do not say (default 24). */
  periodHours?: number;
  /** How often the scheduler looks for a tenant that is due (ms, default 30 000). */
  tickMs?: number;
  /** How often the outbox is read for deliveries that are due (ms, default 2 000). */
  deliveryPollMs?: number;
  /** Backoff of a failed delivery: first delay and cap (ms; defaults 2 000 and 300 000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Timeout of every send (ms, default 5 000). */
  sendTimeoutMs?: number;
  /**
   * Evaluate as if the time were this (ISO instant): replaying a past dataset (the seeded demo data ends on a
   * fixed day). Default: the clock.
   */
  evaluateAt?: string;
}

export interface IncidentMonitorStats {
  /** Scheduled runs finished (one per due tenant). */
  runs: number;
  /** Incidents this process created. */
  created: number;
  /** Deliveries that succeeded / failed (attempts). */
  delivered: number;
  failedAttempts: number;
}

const DEFAULTS = {
  intervalMinutes: 15,
  periodHours: 24,
  tickMs: 30_000,
  deliveryPollMs: 2_000,
  retryBaseMs: 2_000,
  retryMaxMs: 300_000,
  sendTimeoutMs: 5_000,
};

/** The reports that flag (monitoring reports), by name. */
export function monitoringReports(): string[] {
  return REPORT_REGISTRY.filter((def) => def.flags !== undefined).map((def) => def.name);
}

/** Delay before attempt n + 1 after n failures: exponential, capped, with jitter (half fixed, half random). */
export function backoffMs(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const capped = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(capped / 2 + (random() * capped) / 2);
}

/** The period grid: [start, end) of the period holding `at`, and the one before it. */
export function periodsAround(at: Date, periodHours: number): { from: Date; to: Date }[] {
  const size = periodHours * 3_600_000;
  const start = Math.floor(at.getTime() / size) * size;
  return [
    { from: new Date(start - size), to: new Date(start) },
    { from: new Date(start), to: new Date(start + size) },
  ];
}

/** Patient ids a report row names (record-level rows: `patient_id`). */
function patientIdsOf(row: Record<string, unknown>): string[] {
  const id = row.patient_id;
  return typeof id === 'string' && id !== '' && id !== '*' ? [id] : [];
}

function patientCountOf(row: Record<string, unknown>): number {
  for (const key of ['unexplained_patients', 'patients', 'distinct_patients']) {
    const value = Number(row[key]);
    if (Number.isFinite(value) && value > 0) return value;
  }
  return 0;
}

export class IncidentMonitor {
  readonly stats: IncidentMonitorStats = { runs: 0, created: 0, delivered: 0, failedAttempts: 0 };
  private readonly client: ClickHouseClient;
  private readonly options: Required<Omit<IncidentsOptions, 'evaluateAt' | 'allowHosts' | 'consoleUrl'>> & {
    consoleUrl: string;
  };
  private readonly destinations: Map<string, DestinationConfig>;
  private readonly logger: SinkLogger;
  private readonly lastRun = new Map<string, number>();
  private readonly offset: number;
  private tickTimer: NodeJS.Timeout | undefined;
  private deliveryTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private delivering: Promise<void> | undefined;
  private closed = false;
  private readonly listeners = new Set<() => void>();

  private readonly onStats: ((stats: IncidentMonitorStats) => void) | undefined;

  /** `onStats`: called with the counters after each run and delivery pass (the worker thread reports them). */
  constructor(
    client: ClickHouseClient,
    options: IncidentsOptions & { consoleUrl: string },
    logger: SinkLogger = stderrLogger,
    onStats?: (stats: IncidentMonitorStats) => void,
  ) {
    this.client = client;
    this.logger = logger;
    this.onStats = onStats;
    const destinations = checkDestinations(options.destinations ?? [], options.allowHosts ?? []);
    this.destinations = new Map(destinations.map((d) => [d.name, d]));
    const positive = (name: keyof typeof DEFAULTS): number => {
      const value = options[name] ?? DEFAULTS[name];
      if (!Number.isFinite(value) || value <= 0) {
        throw new SinkError('FW_SINK_OPTIONS', `incidents.${name} must be a positive number`);
      }
      return value;
    };
    this.options = {
      destinations,
      consoleUrl: options.consoleUrl,
      intervalMinutes: positive('intervalMinutes'),
      periodHours: positive('periodHours'),
      tickMs: positive('tickMs'),
      deliveryPollMs: positive('deliveryPollMs'),
      retryBaseMs: positive('retryBaseMs'),
      retryMaxMs: positive('retryMaxMs'),
      sendTimeoutMs: positive('sendTimeoutMs'),
    };
    let offset = 0;
    if (options.evaluateAt !== undefined) {
      const at = Date.parse(options.evaluateAt);
      if (Number.isNaN(at)) throw new SinkError('FW_SINK_OPTIONS', 'incidents.evaluateAt must be an ISO instant');
      offset = at - Date.now();
    }
    this.offset = offset;
  }

  /** The monitor's clock (shifted when evaluateAt is set). */
  now(): Date {
    return new Date(Date.now() + this.offset);
  }

  /** Start the schedule: a run at once, then every tickMs; the outbox every deliveryPollMs. */
  start(): void {
    const tick = (): void => {
      if (this.closed) return;
      this.ticking ??= this.runDue()
        .then(() => undefined)
        .catch((error) => this.log('error', 'FW_INCIDENT_RUN_FAILED', error))
        .finally(() => {
          this.ticking = undefined;
          if (!this.closed) this.tickTimer = setTimeout(tick, this.options.tickMs);
        });
    };
    tick();
    this.pollNow();
  }

  /** Resolves after the next scheduled run or delivery pass has finished (tests and the demo wait on it). */
  settled(): Promise<void> {
    return new Promise((resolve) => {
      const listener = (): void => {
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.deliveryTimer);
    await this.ticking;
    await this.delivering;
  }

  private log(
    level: 'info' | 'warn' | 'error',
    event: string,
    error?: unknown,
    extra: Record<string, unknown> = {},
  ): void {
    const e = error as { name?: unknown; code?: unknown } | undefined;
    const kind = [e?.name, e?.code].filter((part) => typeof part === 'string' && /^[\w. -]{1,60}$/.test(part));
    this.logger({
      level,
      event,
      message: kind.length > 0 ? kind.join(' ') : event,
      ...extra,
    } as Parameters<SinkLogger>[0]);
  }

  private notify(): void {
    this.onStats?.({ ...this.stats });
    for (const listener of [...this.listeners]) listener();
  }

  /** Tenants with records in the periods, and tenants with stored settings. */
  private async tenants(from: Date, to: Date): Promise<string[]> {
    const rows = await selectRows<{ tenant_id: string }>(
      this.client,
      `SELECT DISTINCT tenant_id FROM ${AUDIT_REQUESTS_TABLE}
        WHERE event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}`,
      { from: chDateTime(from), to: chDateTime(to) },
    );
    return rows.map((row) => row.tenant_id).filter((tenant) => tenant !== '');
  }

  /** One scheduler pass: every tenant whose interval has passed runs its monitoring reports. */
  async runDue(): Promise<Incident[]> {
    const now = this.now();
    const settings = new Map((await listTenantSettings(this.client)).map((s) => [s.tenant_id, s.settings]));
    const widest = Math.max(
      this.options.periodHours,
      ...[...settings.values()].map((s) => s.incidents?.periodHours ?? 0),
    );
    const window = periodsAround(now, widest);
    const tenants = new Set([...(await this.tenants(window[0]!.from, now)), ...settings.keys()]);
    const created: Incident[] = [];
    let ran = 0;
    for (const tenant of [...tenants].sort()) {
      const own: TenantIncidentSettings = settings.get(tenant)?.incidents ?? {};
      if (own.enabled === false) continue;
      const interval = (own.intervalMinutes ?? this.options.intervalMinutes) * 60_000;
      const last = this.lastRun.get(tenant);
      if (last !== undefined && Date.now() - last < interval) continue;
      this.lastRun.set(tenant, Date.now());
      created.push(...(await this.runTenant(tenant, own, now)));
      this.stats.runs += 1;
      ran += 1;
    }
    if (ran > 0) {
      this.logger({
        level: 'info',
        event: 'FW_INCIDENTS_RUN',
        message: `monitoring reports run for ${ran} tenant${ran === 1 ? '' : 's'}; ${created.length} new incidents`,
        rows: created.length,
      });
    }
    this.notify();
    return created;
  }

  /** The tenant's monitoring reports over its current and previous period; new hits become incidents. */
  private async runTenant(tenant: string, own: TenantIncidentSettings, now: Date): Promise<Incident[]> {
    const reports = (own.reports ?? monitoringReports()).filter((name) => getReportDef(name)?.flags !== undefined);
    const candidates: IncidentCandidate[] = [];
    for (const period of periodsAround(now, own.periodHours ?? this.options.periodHours)) {
      const to = period.to.getTime() > now.getTime() ? now : period.to;
      if (to.getTime() <= period.from.getTime()) continue;
      for (const name of reports) {
        const def = getReportDef(name);
        if (def?.flags === undefined) continue;
        const report = await runReport(this.client, name, { from: period.from, to, tenant, now });
        const byPrincipal = new Map<string, { rows: number; ids: Set<string>; count: number }>();
        for (const row of report.rows as Record<string, unknown>[]) {
          for (const principal of new Set(def.flags(row))) {
            const entry = byPrincipal.get(principal) ?? { rows: 0, ids: new Set<string>(), count: 0 };
            entry.rows += 1;
            for (const id of patientIdsOf(row)) entry.ids.add(id);
            entry.count = Math.max(entry.count, patientCountOf(row));
            byPrincipal.set(principal, entry);
          }
        }
        for (const [principal, entry] of byPrincipal) {
          candidates.push({
            report: name,
            tenant_id: tenant,
            principal,
            period_from: period.from,
            period_to: period.to,
            rows: entry.rows,
            patients: entry.ids.size > 0 ? entry.ids.size : entry.count,
            patient_ids: [...entry.ids].sort(),
          });
        }
      }
    }
    const destinations = [...this.destinations.values()]
      .filter((d) => d.tenants === undefined || d.tenants.includes(tenant))
      .filter((d) => own.destinations === undefined || own.destinations.includes(d.name))
      .map((d) => d.name);
    const created = await storeNewIncidents(this.client, candidates, () => destinations, new Date());
    this.stats.created += created.length;
    if (created.length > 0) {
      // deliver without waiting for the next poll
      clearTimeout(this.deliveryTimer);
      if (!this.closed && this.delivering === undefined) this.deliveryTimer = setTimeout(() => this.pollNow(), 0);
    }
    return created;
  }

  private pollNow(): void {
    if (this.closed) return;
    this.delivering ??= this.deliverDue()
      .catch((error) => this.log('error', 'FW_INCIDENT_DELIVERY_LOOP_FAILED', error))
      .finally(() => {
        this.delivering = undefined;
        if (!this.closed) this.deliveryTimer = setTimeout(() => this.pollNow(), this.options.deliveryPollMs);
      });
  }

  /** One outbox pass: every delivery that is due is sent once; a destination that fails is not tried again this pass. */
  async deliverDue(): Promise<void> {
    const due = await dueDeliveries(this.client, new Date());
    if (due.length > 0) {
      const incidents = await incidentsById(this.client, [...new Set(due.map((d) => d.incident_id))]);
      const settings = new Map((await listTenantSettings(this.client)).map((s) => [s.tenant_id, s.settings]));
      const names = await tenantDisplayNames(this.client);
      const down = new Set<string>();
      for (const item of due) {
        if (this.closed) break;
        const destination = this.destinations.get(item.destination);
        const incident = incidents.get(item.incident_id);
        if (destination === undefined || incident === undefined || down.has(item.destination)) continue;
        const message = incidentMessage(incident, {
          destination: destination.name,
          title: getReportDef(incident.report)?.title ?? incident.report,
          tenantName: names.get(incident.tenant_id) ?? '',
          consoleUrl: this.options.consoleUrl,
          patientIds: settings.get(incident.tenant_id)?.incidents?.patientIds === true,
        });
        try {
          await deliver(destination, message, { timeoutMs: this.options.sendTimeoutMs, version: SINK_VERSION });
          await recordAttempt(this.client, item, { delivered: true });
          this.stats.delivered += 1;
        } catch (error) {
          if (!(error instanceof DeliveryError)) throw error;
          down.add(item.destination);
          const failures = item.attempt + 1;
          const delay = backoffMs(failures, this.options.retryBaseMs, this.options.retryMaxMs);
          await recordAttempt(this.client, item, {
            delivered: false,
            nextAt: new Date(Date.now() + delay),
            error: error.code,
          });
          this.stats.failedAttempts += 1;
          this.logger({
            level: 'warn',
            event: 'FW_INCIDENT_DELIVERY_FAILED',
            message: `destination ${destination.name}: ${error.code}; attempt ${failures}, next in ${delay} ms`,
          });
        }
      }
    }
    this.notify();
  }
}
