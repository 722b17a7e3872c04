// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana ${var} syntax in SQL strings, not JS templates
/** expandMacros follows the grafana-clickhouse-datasource expansion (pkg/macros/macros.go, CHDatasource.ts). */
import { describe, expect, it } from 'vitest';
import { DASHBOARD_ERROR_CODES } from '../src/errors.ts';
import { expandMacros, type MacroContext } from '../src/macros.ts';
import { PANELS, VARIABLES } from '../src/panels.ts';

const from = new Date('2026-11-30T10:00:00.750Z'); // 1796032800.750
const to = new Date('2026-11-30T11:00:00.250Z'); // 1796036400.250
const ctx = (vars: MacroContext['vars'] = {}, intervalSeconds = 60): MacroContext => ({
  from,
  to,
  intervalSeconds,
  vars,
});
const fromS = Math.floor(from.getTime() / 1000);
const toS = Math.floor(to.getTime() / 1000);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('expandMacros', () => {
  it('expands the time macros like the plugin backend (whole seconds, DateTime)', () => {
    expect(expandMacros('WHERE $__timeFilter(ts)', ctx())).toBe(
      `WHERE ts >= toDateTime(${fromS}) AND ts <= toDateTime(${toS})`,
    );
    expect(expandMacros('$__fromTime,$__toTime', ctx())).toBe(`toDateTime(${fromS}),toDateTime(${toS})`);
    expect(expandMacros('$__fromTime_ms $__toTime_ms', ctx())).toBe(
      `fromUnixTimestamp64Milli(${from.getTime()}) fromUnixTimestamp64Milli(${to.getTime()})`,
    );
    expect(expandMacros('$__timeFilter_ms(s.ts)', ctx())).toBe(
      `s.ts >= fromUnixTimestamp64Milli(${from.getTime()}) AND s.ts <= fromUnixTimestamp64Milli(${to.getTime()})`,
    );
    expect(expandMacros('$__dateFilter(d)', ctx())).toBe("d >= toDate('2026-11-30') AND d <= toDate('2026-11-30')");
    expect(expandMacros('$__dt(d, t)', ctx())).toBe(
      `(d >= toDate('2026-11-30') AND d <= toDate('2026-11-30')) AND (t >= toDateTime(${fromS}) AND t <= toDateTime(${toS}))`,
    );
  });

  it('expands the interval macros with the interval in whole seconds, at least 1', () => {
    expect(expandMacros('$__timeInterval(ts)', ctx({}, 90.7))).toBe(
      'toStartOfInterval(toDateTime(ts), INTERVAL 90 second)',
    );
    expect(expandMacros('$__timeInterval(ts)', ctx({}, 0.2))).toBe(
      'toStartOfInterval(toDateTime(ts), INTERVAL 1 second)',
    );
    expect(expandMacros('$__timeInterval_ms(ts)', ctx({}, 0.25))).toBe(
      'toStartOfInterval(toDateTime64(ts, 3), INTERVAL 250 millisecond)',
    );
    expect(expandMacros('count() / $__interval_s', ctx({}, 300))).toBe('count() / 300');
  });

  it('$__conditionalAll is 1=1 for All, no selection or an unknown variable, else the condition', () => {
    const sql =
      'WHERE $__conditionalAll(t IN (${tenant}), $tenant) AND $__conditionalAll(i IN ($interaction), ${interaction})';
    expect(expandMacros(sql, ctx({ tenant: 'all', interaction: 'all' }))).toBe('WHERE 1=1 AND 1=1');
    expect(expandMacros(sql, ctx({ tenant: [], interaction: 'all' }))).toBe('WHERE 1=1 AND 1=1');
    expect(expandMacros(sql, ctx())).toBe('WHERE 1=1 AND 1=1');
    expect(expandMacros(sql, ctx({ tenant: ['a', 'b'], interaction: 'all' }))).toBe("WHERE t IN ('a','b') AND 1=1");
    expect(expandMacros(sql, ctx({ tenant: 'all', interaction: ['read'] }))).toBe("WHERE 1=1 AND i IN ('read')");
  });

  it('keeps nested parentheses and commas inside the condition', () => {
    const sql = "$__conditionalAll(lower(concat(a, ',', b)) IN (${tenant}), $tenant) AND x";
    expect(expandMacros(sql, ctx({ tenant: ['q'] }))).toBe("lower(concat(a, ',', b)) IN ('q') AND x");
  });

  it('quotes selected values so they cannot break out of the string literal', () => {
    expect(expandMacros('$__conditionalAll(u IN (${tenant}), $tenant)', ctx({ tenant: ["o'brien\\"] }))).toBe(
      "u IN ('o\\'brien\\\\')",
    );
  });

  it('refuses a variable outside $__conditionalAll without concrete values', () => {
    expect(codeOf(() => expandMacros('WHERE t IN (${tenant})', ctx({ tenant: 'all' })))).toBe(
      DASHBOARD_ERROR_CODES.unboundVariable,
    );
    expect(codeOf(() => expandMacros('WHERE t IN ($tenant)', ctx()))).toBe(DASHBOARD_ERROR_CODES.unboundVariable);
  });

  it('refuses unknown macros, wrong arity, unbalanced parentheses and bad ranges', () => {
    expect(codeOf(() => expandMacros('$__nope(x)', ctx()))).toBe(DASHBOARD_ERROR_CODES.unknownMacro);
    expect(codeOf(() => expandMacros('$__timeFilter(a, b)', ctx()))).toBe(DASHBOARD_ERROR_CODES.badMacro);
    expect(codeOf(() => expandMacros('$__timeFilter()', ctx()))).toBe(DASHBOARD_ERROR_CODES.badMacro);
    expect(codeOf(() => expandMacros('$__timeFilter(ts', ctx()))).toBe(DASHBOARD_ERROR_CODES.badMacro);
    expect(codeOf(() => expandMacros('$__conditionalAll(a = 1)', ctx()))).toBe(DASHBOARD_ERROR_CODES.badMacro);
    expect(codeOf(() => expandMacros('$__conditionalAll(a = 1, tenant)', ctx()))).toBe(DASHBOARD_ERROR_CODES.badMacro);
    expect(codeOf(() => expandMacros('x', { ...ctx(), from: to, to: from }))).toBe(DASHBOARD_ERROR_CODES.badRange);
    expect(codeOf(() => expandMacros('x', { ...ctx(), from: new Date(Number.NaN) }))).toBe(
      DASHBOARD_ERROR_CODES.badRange,
    );
    expect(codeOf(() => expandMacros('x', ctx({}, 0)))).toBe(DASHBOARD_ERROR_CODES.badRange);
  });

  it('leaves no macro or variable in any panel or variable query, for All and for a selection', () => {
    for (const vars of [{}, { tenant: ['t1', 't2'], interaction: ['read'] }] as MacroContext['vars'][]) {
      for (const { sql } of [...PANELS, ...VARIABLES]) {
        const expanded = expandMacros(sql, ctx(vars));
        expect(expanded).not.toMatch(/\$/);
      }
    }
  });
});
