/**
 * The contract's request → per-patient expansion (`AUDIT_EXPANSION`, @fhirwatch/contract audit-expansion.ts)
 * rendered to SQL over `audit_requests` rows. One rendering serves the `audit_events` view, the per-patient
 * index's materialized view and its backfill, the reports' reads through the index, and `audit verify`;
 * test/expansion.test.ts holds its rows equal to the contract's `expandRequestRecord`.
 *
 * Scope of the expressions: a request row ARRAY JOINed with `x_entry AS _e` (1-based entry of the row),
 * `x_patient_id AS _p`, `arrayEnumerate(x_patient_id) AS _o` (1-based ordinal).
 */
import { AUDIT_EXPANSION, AUDIT_RECORD_FIELDS, type AuditRecord } from '@fhirwatch/contract';
import { PER_PATIENT_ID, PER_PATIENT_ID_NUMBER } from './audit-requests.ts';

type RowField = keyof AuditRecord;

/** The audit_requests column of a request field (the wire `event_id` of a request is `request_id`). */
const requestColumn = (field: string): string => (field === 'event_id' ? 'request_id' : field);

/**
 * SQL of one per-patient row field, per the contract's definition. `idAsNumber`: the row id as the UInt128 of its
 * UUID (PER_PATIENT_ID_NUMBER; what `audit verify` hashes) instead of a UUID. `entryValue`: the SQL of an entry
 * field's value (default the row's element `e_<field>[_e]`; `audit verify` maps it over the entry arrays instead).
 */
export function expansionExpression(
  field: RowField,
  idAsNumber = false,
  entryValue: (field: string) => string = (f) => `e_${f}[_e]`,
): string {
  const source = AUDIT_EXPANSION[field];
  switch (source.from) {
    case 'row-id':
      return idAsNumber ? PER_PATIENT_ID_NUMBER('request_id', '_o') : PER_PATIENT_ID('request_id', '_o');
    case 'patient':
      return '_p';
    case 'request': {
      const column = requestColumn(source.field);
      return 'rule' in source && source.rule === 'round-ms' ? `floor(${column} * 1000 + 0.5) / 1000` : column;
    }
    case 'entry': {
      const value = entryValue(source.field);
      return 'rule' in source && source.rule === 'unknown-null'
        ? `CAST(if(ifNull(${value}, -1) < 0, NULL, ${value}) AS Nullable(UInt32))`
        : value;
    }
  }
}

/** Whether a field needs the row's entry (`_e`). */
const usesEntry = (field: RowField): boolean => AUDIT_EXPANSION[field].from === 'entry';

/**
 * `SELECT <fields> FROM {from} ARRAY JOIN …`: the expansion of the request rows `{from}` stands for (a table or
 * a parenthesized subquery), restricted to `fields` (default: every row field, AUDIT_RECORD_FIELDS order);
 * `idAsNumber`: see expansionExpression.
 */
export function expansionSelect(fields: readonly RowField[] = AUDIT_RECORD_FIELDS, idAsNumber = false): string {
  const joins = [
    ...(fields.some(usesEntry) ? ['x_entry AS _e'] : []),
    'x_patient_id AS _p',
    'arrayEnumerate(x_patient_id) AS _o',
  ];
  const columns = fields.map((field) => {
    const sql = expansionExpression(field, idAsNumber);
    return sql === field ? field : `${sql} AS ${field}`;
  });
  return `SELECT ${columns.join(', ')}\nFROM {from}\nARRAY JOIN ${joins.join(', ')}`;
}

/** The full expansion (every row field), `{from}` = the request rows. */
export const AUDIT_EXPANSION_SELECT = expansionSelect();
