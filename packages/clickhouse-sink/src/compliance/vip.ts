/**
 * The VIP watch list: patients whose every access is reported (`audit report vip`). Stored as an
 * append-only log of add/remove entries in `audit_vip_patients` (so changes to the list are
 * themselves auditable); the latest entry per (tenant, patient) wins. `tenant_id = ''` = any tenant.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
import { selectRows } from './records.ts';
import { chDateTime, isoFromClickHouse } from './time-range.ts';

export const VIP_TABLE = 'audit_vip_patients';

/** Idempotent DDL of the watch-list table (run by every vip function before use). */
export const VIP_TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${VIP_TABLE} (
  tenant_id LowCardinality(String),
  patient_id String,
  reason String,
  changed_by String,
  changed_at DateTime64(3, 'UTC'),
  removed UInt8
) ENGINE = MergeTree ORDER BY (tenant_id, patient_id, changed_at)`;

export interface VipEntry {
  tenant_id: string;
  patient_id: string;
  reason: string;
  changed_by: string;
  /** When the entry was (last) added. */
  since: string;
}

export interface VipChange {
  patientId: string;
  /** '' (default) = the patient id in any tenant. */
  tenantId?: string;
  reason?: string;
  /** Who changed the list (e.g. the OS user running the CLI). */
  changedBy?: string;
  /** Default now. */
  at?: Date;
}

export async function ensureVipTable(client: ClickHouseClient): Promise<void> {
  await client.command({ query: VIP_TABLE_DDL });
}

async function change(client: ClickHouseClient, entry: VipChange, removed: 0 | 1): Promise<void> {
  if (entry.patientId === '' || entry.patientId === '*') {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'a VIP entry needs a patient id');
  }
  await ensureVipTable(client);
  await client.insert({
    table: VIP_TABLE,
    format: 'JSONEachRow',
    values: [
      {
        tenant_id: entry.tenantId ?? '',
        patient_id: entry.patientId,
        reason: entry.reason ?? '',
        changed_by: entry.changedBy ?? '',
        changed_at: chDateTime(entry.at ?? new Date()),
        removed,
      },
    ],
  });
}

export function addVipPatient(client: ClickHouseClient, entry: VipChange): Promise<void> {
  return change(client, entry, 0);
}

export function removeVipPatient(client: ClickHouseClient, entry: VipChange): Promise<void> {
  return change(client, entry, 1);
}

/** The current watch list (entries whose latest change is an add). A removal wins a same-millisecond tie. */
export async function listVipPatients(client: ClickHouseClient): Promise<VipEntry[]> {
  await ensureVipTable(client);
  const rows = await selectRows<Record<string, unknown>>(
    client,
    `SELECT tenant_id, patient_id, latest.1 AS changed_at, latest.2 AS removed, latest.3 AS reason, latest.4 AS changed_by
      FROM (
        SELECT tenant_id, patient_id, argMax((changed_at, removed, reason, changed_by), (changed_at, removed)) AS latest
        FROM ${VIP_TABLE} GROUP BY tenant_id, patient_id
      )
      WHERE removed = 0
      ORDER BY tenant_id, patient_id`,
    {},
  );
  return rows.map((row) => ({
    tenant_id: String(row.tenant_id),
    patient_id: String(row.patient_id),
    reason: String(row.reason),
    changed_by: String(row.changed_by),
    since: isoFromClickHouse(String(row.changed_at)),
  }));
}
