/**
 * Explanation-based auditing (after Fabbri & LeFevre's explanation-based auditing and Maize's finding that
 * 90–94 % of EHR accesses are explained by care relationships): for each access, say why it was normal using
 * what the audit trail itself shows, plus any imported care relationship. An access is a successful,
 * user-attributed record that concerns one patient and is not itself a search or an export. Its explanation,
 * first that applies:
 *
 * 1. `care-relationship`: an imported relationship (tenant, user, patient) valid at the time;
 * 2. `patient-list`: the same user's PatientListView showed the patient in the `listDays` before;
 * 3. `own-search`: the same user's PatientSearch returned the patient in the `searchMinutes` before;
 * 4. `repeat-access`: the same user accessed the patient on ≥ `repeatMinDays` earlier days in the
 *    `repeatLookbackDays` before (an ongoing care relationship the trail itself shows).
 *
 * Anything else is unexplained. Accesses without a user (client-only) cannot be explained this way and are
 * left out (the failures and tenant-isolation reports cover clients).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS } from '@fhirwatch/contract';
import { readWithTables } from '../store/ensure.ts';
import { CARE_RELATIONSHIPS_TABLE, careRelationshipsTable } from '../store/schema/audit-context.ts';
import { AUDIT_EVENTS, selectValueRows } from './records.ts';
import { base, positive } from './reports.ts';
import { chDateTime, isoFromClickHouse, type TimeRange } from './time-range.ts';
import type { ReportOptions } from './types.ts';

export const EXPLANATIONS = ['care-relationship', 'patient-list', 'own-search', 'repeat-access'] as const;
export type Explanation = (typeof EXPLANATIONS)[number];

export const EXPLAIN_DEFAULTS = { searchMinutes: 30, listDays: 30, repeatMinDays: 3, repeatLookbackDays: 42 } as const;

export interface ExplainOptions extends ReportOptions {
  /** A search by the same user explains accesses to the patients it returned for this long. Default 30. */
  searchMinutes?: number;
  /** A patient list view by the same user explains accesses for this many days. Default 30. */
  listDays?: number;
  /** Distinct earlier days with an access by the same user that make a repeat access. Default 3. */
  repeatMinDays?: number;
  /** …within this many days before. Default 42 (six weeks). */
  repeatLookbackDays?: number;
}

export interface ExplainedAccess {
  tenant_id: string;
  user_id: string;
  patient_id: string;
  event_time: string;
  event_id: string;
  event_type: string;
  /** The user's display name (the latest the trail gives; '' when none). */
  user_name: string;
  /** '' when unexplained. */
  explanation: Explanation | '';
}

export interface ResolvedExplainOptions {
  searchMinutes: number;
  listDays: number;
  repeatMinDays: number;
  repeatLookbackDays: number;
}

export function resolveExplainOptions(options: ExplainOptions): ResolvedExplainOptions {
  return {
    searchMinutes: positive(options.searchMinutes ?? EXPLAIN_DEFAULTS.searchMinutes, 'searchMinutes', true),
    listDays: positive(options.listDays ?? EXPLAIN_DEFAULTS.listDays, 'listDays', true),
    repeatMinDays: positive(options.repeatMinDays ?? EXPLAIN_DEFAULTS.repeatMinDays, 'repeatMinDays', true),
    repeatLookbackDays: positive(
      options.repeatLookbackDays ?? EXPLAIN_DEFAULTS.repeatLookbackDays,
      'repeatLookbackDays',
      true,
    ),
  };
}

/** The statement (`tenantAnd` is a fixed fragment: '' or the tenant / excluded-tenants filter). */
export function explainSql(tenantAnd: string): string {
  return `SELECT tenant_id, user_id, patient_id, toString(acc.1) AS event_time, toString(acc.2) AS event_id, acc.3 AS event_type,
    multiIf(
      arrayExists((f, t) -> f <= acc.1 AND acc.1 < t, rel_from, rel_to), 'care-relationship',
      arrayExists(x -> x < acc.1 AND x >= acc.1 - toIntervalDay({listDays:UInt32}), lists), 'patient-list',
      arrayExists(x -> x <= acc.1 AND x >= acc.1 - toIntervalMinute({searchMinutes:UInt32}), searches), 'own-search',
      length(arrayFilter(d -> d < toDate(acc.1) AND d >= toDate(acc.1) - {repeatLookbackDays:UInt32}, days)) >= {repeatMinDays:UInt32}, 'repeat-access',
      '') AS explanation, user_name
  FROM (
    SELECT a.tenant_id AS tenant_id, a.user_id AS user_id, a.user_name AS user_name, a.patient_id AS patient_id, a.accesses AS accesses,
      a.lists AS lists, a.searches AS searches, a.days AS days, r.rel_from AS rel_from, r.rel_to AS rel_to
    FROM (
      SELECT tenant_id, user_id, patient_id,
        groupUniqArrayIf((event_time, event_id, event_type),
          outcome = 0 AND event_type NOT IN ('PatientSearch', 'ExportInitiation') AND event_time >= {from:DateTime64(3, 'UTC')}) AS accesses,
        groupArrayIf(event_time, event_type = 'PatientListView' AND outcome = 0) AS lists,
        groupArrayIf(event_time, event_type = 'PatientSearch' AND outcome = 0) AS searches,
        groupUniqArrayIf(toDate(event_time), outcome = 0) AS days,
        argMax(user_name, event_time) AS user_name
      FROM ${AUDIT_EVENTS}
      WHERE event_time >= {lookbackFrom:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}${tenantAnd}
        AND user_id != '' AND patient_id NOT IN ('', {all:String})
      GROUP BY tenant_id, user_id, patient_id
      HAVING length(accesses) > 0
    ) AS a
    LEFT JOIN (
      SELECT tenant_id, user_id, patient_id, groupArray(valid_from) AS rel_from, groupArray(valid_to) AS rel_to
      FROM ${CARE_RELATIONSHIPS_TABLE}
      GROUP BY tenant_id, user_id, patient_id
    ) AS r ON a.tenant_id = r.tenant_id AND a.user_id = r.user_id AND a.patient_id = r.patient_id
  )
  ARRAY JOIN accesses AS acc
  ORDER BY event_time, event_id`;
}

/** Every access in the range with its explanation (or '' when none applies). */
export async function explainAccesses(
  client: ClickHouseClient,
  options: ExplainOptions = {},
): Promise<{ range: TimeRange; accesses: ExplainedAccess[] }> {
  const { range, params, tenantAnd } = base(options);
  const resolved = resolveExplainOptions(options);
  const lookbackMs =
    Math.max(resolved.listDays, resolved.repeatLookbackDays + 1) * 86_400_000 + resolved.searchMinutes * 60_000;
  Object.assign(params, resolved, {
    all: ALL_PATIENTS,
    lookbackFrom: chDateTime(new Date(range.from.getTime() - lookbackMs)),
  });
  const rows = await readWithTables(client, [careRelationshipsTable], () =>
    selectValueRows(client, explainSql(tenantAnd), params),
  );
  const accesses = rows.map(([tenant, user, patient, time, id, type, explanation, name]) => ({
    tenant_id: String(tenant),
    user_id: String(user),
    patient_id: String(patient),
    event_time: isoFromClickHouse(String(time)),
    event_id: String(id),
    event_type: String(type),
    user_name: String(name ?? ''),
    explanation: String(explanation) as Explanation | '',
  }));
  return { range, accesses };
}
