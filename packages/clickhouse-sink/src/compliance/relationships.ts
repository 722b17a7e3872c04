/**
 * Imported context for the reports (migration 8 tables): care relationships (patient, user, from, to), which
 * explain a user's access to a patient, and group members (group, patient), which say whom a group export
 * concerned. Both come as CSV (RFC 4180, header optional). A file is checked whole before anything is stored:
 * one bad line rejects it with its line number (never its content: patient ids are PHI), and nothing is lost.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ensureTables } from '../store/ensure.ts';
import {
  CARE_RELATIONSHIPS_TABLE,
  careRelationshipsTable,
  GROUP_MEMBERS_TABLE,
  groupMembersTable,
} from '../store/schema/audit-context.ts';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
import { parseCsv } from './format/csv.ts';
import { chDateTime } from './time-range.ts';

/** `valid_to` of an open relationship. */
export const OPEN_END = new Date('2299-12-31T00:00:00Z');

export interface ImportOptions {
  /** Tenant of every row (a `tenant` column, when present, wins). */
  tenantId?: string;
  /** Recorded with each row (e.g. the file name). */
  source?: string;
  importedBy?: string;
  at?: Date;
}

export interface ImportResult {
  rows: number;
}

function bad(line: number, what: string): AuditQueryError {
  return new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, `line ${line}: ${what}`);
}

/** Rows of a CSV as objects keyed by the expected columns (a header row naming them is recognised and skipped). */
function csvRows(
  text: string,
  columns: readonly string[],
  optional: readonly string[],
): { line: number; row: Record<string, string> }[] {
  // files from spreadsheets end lines in CRLF, from scripts often in LF: take both
  const rows = parseCsv(text.replace(/\r?\n/g, '\r\n')).filter((cells) => cells.some((cell) => cell.trim() !== ''));
  const first = rows[0]?.map((cell) => cell.trim().toLowerCase());
  const header = first !== undefined && columns.every((column) => first.includes(column)) ? first : undefined;
  const order = header ?? [...columns, ...optional];
  const out: { line: number; row: Record<string, string> }[] = [];
  rows.slice(header ? 1 : 0).forEach((cells, i) => {
    const line = i + (header ? 2 : 1);
    if (cells.length < columns.length) throw bad(line, `expected ${columns.join(',')}`);
    const row: Record<string, string> = {};
    order.forEach((name, k) => {
      row[name] = (cells[k] ?? '').trim();
    });
    out.push({ line, row });
  });
  return out;
}

function instant(text: string, line: number, name: string): Date {
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(date.getTime())) throw bad(line, `${name} is not an ISO 8601 date`);
  return date;
}

/** Import care relationships from CSV `patient,user,from,to[,tenant]` (`to` empty = open). */
export async function importCareRelationships(
  client: ClickHouseClient,
  csv: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const at = chDateTime(options.at ?? new Date());
  const values = csvRows(csv, ['patient', 'user', 'from', 'to'], ['tenant']).map(({ line, row }) => {
    const tenant = row.tenant || options.tenantId || '';
    if (tenant === '') throw bad(line, 'no tenant (give --tenant or a tenant column)');
    if (!row.patient || row.patient === '*') throw bad(line, 'patient is empty');
    if (!row.user) throw bad(line, 'user is empty');
    if (!row.from) throw bad(line, 'from is empty');
    const from = instant(row.from, line, 'from');
    const to = row.to ? instant(row.to, line, 'to') : OPEN_END;
    if (to.getTime() <= from.getTime()) throw bad(line, 'to must be after from');
    return {
      tenant_id: tenant,
      user_id: row.user,
      patient_id: row.patient,
      valid_from: chDateTime(from),
      valid_to: chDateTime(to),
      source: options.source ?? '',
      imported_by: options.importedBy ?? '',
      imported_at: at,
    };
  });
  await ensureTables(client, [careRelationshipsTable]);
  if (values.length > 0) await client.insert({ table: CARE_RELATIONSHIPS_TABLE, format: 'JSONEachRow', values });
  return { rows: values.length };
}

/** Import group members from CSV `group,patient[,tenant]`. */
export async function importGroupMembers(
  client: ClickHouseClient,
  csv: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const at = chDateTime(options.at ?? new Date());
  const values = csvRows(csv, ['group', 'patient'], ['tenant']).map(({ line, row }) => {
    const tenant = row.tenant || options.tenantId || '';
    if (tenant === '') throw bad(line, 'no tenant (give --tenant or a tenant column)');
    if (!row.group) throw bad(line, 'group is empty');
    if (!row.patient || row.patient === '*') throw bad(line, 'patient is empty');
    return {
      tenant_id: tenant,
      group_id: row.group,
      patient_id: row.patient,
      source: options.source ?? '',
      imported_by: options.importedBy ?? '',
      imported_at: at,
    };
  });
  await ensureTables(client, [groupMembersTable]);
  if (values.length > 0) await client.insert({ table: GROUP_MEMBERS_TABLE, format: 'JSONEachRow', values });
  return { rows: values.length };
}

export async function ensureContextTables(client: ClickHouseClient): Promise<void> {
  await ensureTables(client, [careRelationshipsTable, groupMembersTable]);
}
