/**
 * Migration 8: what the compliance reports need besides the audit trail itself (issue 12).
 * - `audit_tenant_settings`: per-tenant report settings (time zone, working time, holidays, thresholds), an
 *   append-only log of whole JSON documents; the latest per tenant wins, so each change stays on record.
 * - `audit_care_relationships`: imported care relationships (patient, user, valid from/to) that explain an access.
 * - `audit_group_members`: imported members of a FHIR Group, so a group export counts the group's patients.
 * The query modules (src/compliance/settings.ts, relationships.ts) run the same DDL (`IF NOT EXISTS`) before use.
 */
import type { TableDef } from './types.ts';

const lc = 'LowCardinality(String)';
const time = "DateTime64(3, 'UTC')";

export const TENANT_SETTINGS_TABLE = 'audit_tenant_settings';
export const CARE_RELATIONSHIPS_TABLE = 'audit_care_relationships';
export const GROUP_MEMBERS_TABLE = 'audit_group_members';

export const tenantSettingsTable: TableDef = {
  kind: 'table',
  name: TENANT_SETTINGS_TABLE,
  columns: [
    { name: 'tenant_id', type: lc },
    { name: 'settings', type: 'String', comment: 'JSON: timeZone, workHours, workDays, holidays, thresholds' },
    { name: 'changed_by', type: 'String' },
    { name: 'changed_at', type: time },
    { name: 'removed', type: 'UInt8' },
  ],
  engine: 'MergeTree',
  orderBy: '(tenant_id, changed_at)',
  shardingKey: 'cityHash64(tenant_id)',
};

export const careRelationshipsTable: TableDef = {
  kind: 'table',
  name: CARE_RELATIONSHIPS_TABLE,
  columns: [
    { name: 'tenant_id', type: lc },
    { name: 'user_id', type: 'String' },
    { name: 'patient_id', type: 'String' },
    { name: 'valid_from', type: time },
    { name: 'valid_to', type: time, comment: 'exclusive; 2299-12-31 when open' },
    { name: 'source', type: 'String', comment: 'the imported file name' },
    { name: 'imported_by', type: 'String' },
    { name: 'imported_at', type: time },
  ],
  engine: 'MergeTree',
  orderBy: '(tenant_id, user_id, patient_id, valid_from)',
  shardingKey: 'cityHash64(tenant_id)',
};

export const groupMembersTable: TableDef = {
  kind: 'table',
  name: GROUP_MEMBERS_TABLE,
  columns: [
    { name: 'tenant_id', type: lc },
    { name: 'group_id', type: 'String' },
    { name: 'patient_id', type: 'String' },
    { name: 'source', type: 'String', comment: 'the imported file name' },
    { name: 'imported_by', type: 'String' },
    { name: 'imported_at', type: time },
  ],
  engine: 'MergeTree',
  orderBy: '(tenant_id, group_id, patient_id)',
  shardingKey: 'cityHash64(tenant_id)',
};
