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

/**
 * Each expansion row's value of an entry array `array`, in row order, computed before the ARRAY JOIN. As a writer
 * stores a request (x_entry = 1,1,2,3,3,… : each entry's rows together, in entry order, at least one each) each entry
 * value repeated over its entry's run (linear); any other x_entry (a hand-made row) by index, as the expansion reads
 * it. `e_x[_e]` after the ARRAY JOIN instead copies the request's whole entry array to each of its rows (quadratic in
 * the request's size: bench/ingest-parts.ts measured it as most of the index view's cost).
 */
const perRow = (array: string): string =>
  `if(_std, arrayFlatten(arrayMap((_v, _n) -> arrayWithConstant(_n, _v), ${array}, _runs)), arrayMap(_e -> ${array}[_e], x_entry))`;
const STANDARD_ENTRIES =
  'x_entry[1] = 1 AND x_entry[-1] = length(e_event_type) AND arrayAll(d -> d = 0 OR d = 1, arrayDifference(x_entry))';
const ENTRY_RUNS = 'arrayMap(r -> length(r), arraySplit((e, d) -> d != 0, x_entry, arrayDifference(x_entry)))';

/**
 * The same rows as expansionSelect (same fields, same values, same order), with the entry fields expanded per row
 * before the ARRAY JOIN (perRow): what the index's materialized view and backfill run.
 */
export function expansionSelectLinear(fields: readonly RowField[], idAsNumber = false): string {
  const entryFields = [
    ...new Set(
      fields.flatMap((field) => {
        const source = AUDIT_EXPANSION[field];
        return source.from === 'entry' ? [source.field as string] : [];
      }),
    ),
  ];
  if (entryFields.length === 0) return expansionSelect(fields, idAsNumber);
  const columns = fields.map((field) => {
    const sql = expansionExpression(field, idAsNumber, (f) => `_x_${f}`);
    return sql === field ? field : `${sql} AS ${field}`;
  });
  return `SELECT ${columns.join(', ')}
FROM (SELECT *, ${STANDARD_ENTRIES} AS _std, ${ENTRY_RUNS} AS _runs, ${entryFields.map((f) => `${perRow(`e_${f}`)} AS _x_${f}`).join(', ')}
      FROM {from})
ARRAY JOIN ${entryFields.map((f) => `_x_${f}`).join(', ')}, x_patient_id AS _p, arrayEnumerate(x_patient_id) AS _o`;
}

/** The full expansion (every row field), `{from}` = the request rows. */
export const AUDIT_EXPANSION_SELECT = expansionSelect();
