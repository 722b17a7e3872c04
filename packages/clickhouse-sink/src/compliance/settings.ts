/**
 * Per-tenant report settings, kept in the store (`audit_tenant_settings`, migration 8): the tenant's time
 * zone, working hours and days, holidays, and thresholds per report. Every report run through the registry
 * uses them by default; explicit options still win. Stored as an append-only log of whole settings
 * documents (the latest per tenant wins), so a change of settings is itself on record: who, when, what.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ensureTables, readWithTables } from '../store/ensure.ts';
import { TENANT_SETTINGS_TABLE, tenantSettingsTable } from '../store/schema/audit-context.ts';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
import { selectRows } from './records.ts';
import { chDateTime, isoFromClickHouse } from './time-range.ts';
import { resolveWorkHours, type WorkHours } from './work-hours.ts';

export { TENANT_SETTINGS_TABLE };

/** A value a threshold may take (validated against the report's option when used). */
export type ThresholdValue = string | number | boolean;

export interface TenantSettings {
  /** The tenant's display name (reports, console tables and chart legends show it next to the id). */
  displayName?: string;
  /** IANA time zone of the tenant (reports count hours and days in it). */
  timeZone?: string;
  /** [start, end) local hours of working time. */
  workHours?: readonly [number, number];
  /** ISO weekdays that are working days (1 = Monday). */
  workDays?: readonly number[];
  /** Local dates (`YYYY-MM-DD`) that are not working days. */
  holidays?: readonly string[];
  /** Per report name, option name → value (`{ "name-probing": { "minSearches": 20 } }`). */
  thresholds?: Readonly<Record<string, Readonly<Record<string, ThresholdValue>>>>;
  /** How the sink turns this tenant's monitoring-report hits into incidents (src/incidents/). */
  incidents?: TenantIncidentSettings;
}

/** A tenant's incident settings; every field optional (the sink's incidents config gives the defaults). */
export interface TenantIncidentSettings {
  /** false: no incidents for this tenant. Default true (when the sink runs incidents at all). */
  enabled?: boolean;
  /** Minutes between two runs of the monitoring reports for this tenant (1–1440). */
  intervalMinutes?: number;
  /** Length of the period an incident is counted in (hours, 1–8760): one incident per report, user and period. */
  periodHours?: number;
  /** Only these monitoring reports (default: every report of the registry that flags). */
  reports?: readonly string[];
  /** Only these destinations (names in the sink's incidents config; default: all of them). */
  destinations?: readonly string[];
  /** Send the patient ids of an incident to the destinations (PHI leaves the store). Default false. */
  patientIds?: boolean;
}

const INCIDENT_KEYS = new Set(['enabled', 'intervalMinutes', 'periodHours', 'reports', 'destinations', 'patientIds']);

function validateIncidentSettings(value: unknown): void {
  const bad = (message: string): AuditQueryError =>
    new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, `incidents.${message}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('must be an object');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!INCIDENT_KEYS.has(key)) throw bad(`${key} is not a setting`);
  for (const key of ['enabled', 'patientIds']) {
    if (v[key] !== undefined && typeof v[key] !== 'boolean') throw bad(`${key} must be true or false`);
  }
  const range = (key: string, max: number): void => {
    const n = v[key];
    if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max)) {
      throw bad(`${key} must be an integer from 1 to ${max}`);
    }
  };
  range('intervalMinutes', 1440);
  range('periodHours', 8760);
  for (const key of ['reports', 'destinations']) {
    const list = v[key];
    if (
      list !== undefined &&
      (!Array.isArray(list) ||
        list.length > 100 ||
        list.some((x) => typeof x !== 'string' || !/^[\w.-]{1,64}$/.test(x)))
    ) {
      throw bad(`${key} must be a list of names`);
    }
  }
}

export interface StoredTenantSettings {
  tenant_id: string;
  settings: TenantSettings;
  changed_by: string;
  changed_at: string;
}

export async function ensureTenantSettingsTable(client: ClickHouseClient): Promise<void> {
  await ensureTables(client, [tenantSettingsTable]);
}

/** Check a settings document (time zone known, hours/days/holidays well-formed); throws FW_AUDIT_INVALID_OPTION. */
export function validateTenantSettings(settings: TenantSettings): TenantSettings {
  const { thresholds, displayName, incidents, ...time } = settings;
  if (incidents !== undefined) validateIncidentSettings(incidents);
  if (
    displayName !== undefined &&
    (typeof displayName !== 'string' ||
      displayName.length > 200 ||
      [...displayName].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
  ) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.invalidOption,
      'displayName must be text of at most 200 characters without control characters',
    );
  }
  resolveWorkHours({ default: time as Partial<WorkHours> });
  for (const [report, values] of Object.entries(thresholds ?? {})) {
    if (typeof values !== 'object' || values === null) {
      throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, `thresholds.${report} must be an object`);
    }
  }
  return settings;
}

/** Every tenant's current settings (tenants whose latest entry is a removal are left out). */
export async function listTenantSettings(client: ClickHouseClient): Promise<StoredTenantSettings[]> {
  const rows = await readWithTables(client, [tenantSettingsTable], () =>
    selectRows<Record<string, unknown>>(
      client,
      `SELECT tenant_id, latest.1 AS changed_at, latest.2 AS removed, latest.3 AS settings, latest.4 AS changed_by
      FROM (
        SELECT tenant_id, argMax((changed_at, removed, settings, changed_by), (changed_at, removed)) AS latest
        FROM ${TENANT_SETTINGS_TABLE} GROUP BY tenant_id
      )
      WHERE removed = 0
      ORDER BY tenant_id`,
      {},
    ),
  );
  return rows.map((row) => ({
    tenant_id: String(row.tenant_id),
    settings: JSON.parse(String(row.settings)) as TenantSettings,
    changed_by: String(row.changed_by),
    changed_at: isoFromClickHouse(String(row.changed_at)),
  }));
}

export async function getTenantSettings(
  client: ClickHouseClient,
  tenantId: string,
): Promise<TenantSettings | undefined> {
  return (await listTenantSettings(client)).find((entry) => entry.tenant_id === tenantId)?.settings;
}

export interface SettingsChange {
  tenantId: string;
  /** Who changed them (e.g. the OS user running the CLI). */
  changedBy?: string;
  /** Default now. */
  at?: Date;
}

/** Store a tenant's whole settings document (replacing the previous one). */
export async function putTenantSettings(
  client: ClickHouseClient,
  change: SettingsChange & { settings: TenantSettings },
): Promise<void> {
  if (change.tenantId === '')
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'settings need a tenant');
  validateTenantSettings(change.settings);
  await ensureTenantSettingsTable(client);
  await client.insert({
    table: TENANT_SETTINGS_TABLE,
    format: 'JSONEachRow',
    values: [
      {
        tenant_id: change.tenantId,
        settings: JSON.stringify(change.settings),
        changed_by: change.changedBy ?? '',
        changed_at: chDateTime(change.at ?? new Date()),
        removed: 0,
      },
    ],
  });
}

/** Merge fields into a tenant's settings (thresholds merged per report); returns the stored document. */
export async function updateTenantSettings(
  client: ClickHouseClient,
  change: SettingsChange & { settings: TenantSettings },
): Promise<TenantSettings> {
  const current = (await getTenantSettings(client, change.tenantId)) ?? {};
  const thresholds: Record<string, Record<string, ThresholdValue>> = {};
  for (const source of [current.thresholds ?? {}, change.settings.thresholds ?? {}]) {
    for (const [report, values] of Object.entries(source)) thresholds[report] = { ...thresholds[report], ...values };
  }
  const merged: TenantSettings = {
    ...current,
    ...change.settings,
    ...(Object.keys(thresholds).length > 0 ? { thresholds } : {}),
  };
  await putTenantSettings(client, { ...change, settings: merged });
  return merged;
}

/** Remove a tenant's settings (its reports fall back to the defaults). */
export async function clearTenantSettings(client: ClickHouseClient, change: SettingsChange): Promise<void> {
  await ensureTenantSettingsTable(client);
  await client.insert({
    table: TENANT_SETTINGS_TABLE,
    format: 'JSONEachRow',
    values: [
      {
        tenant_id: change.tenantId,
        settings: '{}',
        changed_by: change.changedBy ?? '',
        changed_at: chDateTime(change.at ?? new Date()),
        removed: 1,
      },
    ],
  });
}
