/**
 * Expansion of the Grafana ClickHouse data source's (`grafana-clickhouse-datasource`) macros and template
 * variables, so a panel's SQL runs the same in the console and in Grafana:
 *
 * 1. `$__conditionalAll(condition, $var)` (plugin frontend, `applyConditionalAll`): `1=1` when the variable
 *    selects All (or nothing), else `condition` as written;
 * 2. backend macros (plugin `pkg/macros/macros.go`, below), over the panel's own text only;
 * 3. LAST, template variables `${var}` / `$var` (Grafana's templateSrv with the plugin's `format`): a
 *    multi-value variable becomes `'a','b'`, meant for `col IN (${var})`; `'` and `\` are escaped.
 *
 * Variables go last, in one pass, so a value is never read again: it cannot be expanded as a macro nor leave
 * its string literal. (The plugin substitutes variables BEFORE the backend macros; a value holding
 * `$__timeFilter(` then duplicates text, closing quote included, and the rest parses as SQL: issue 15,
 * defect 4. For values without `$__` both orders give the same SQL.)
 *
 * The backend macros: `$__timeFilter(c)` → `c >= toDateTime(<from s>) AND
 *    c <= toDateTime(<to s>)`, `$__timeFilter_ms(c)` (fromUnixTimestamp64Milli), `$__dateFilter(c)`,
 *    `$__dateTimeFilter(d, t)` / `$__dt(d, t)`, `$__fromTime` / `$__toTime` (`toDateTime(<s>)`), their `_ms`
 *    forms, `$__timeInterval(c)` → `toStartOfInterval(toDateTime(c), INTERVAL <n> second)`,
 *    `$__timeInterval_ms(c)`, `$__interval_s` → `<n>` (n = the interval, at least 1).
 */
import { DASHBOARD_ERROR_CODES, DashboardError } from './errors.ts';

/** What a dashboard supplies when it runs a panel: Grafana's time range, interval and variable selection. */
export interface MacroContext {
  from: Date;
  to: Date;
  /** Grafana's `$__interval` in seconds (the width of one time bucket). */
  intervalSeconds: number;
  /** Selected values per template variable; 'all' (or [] or a missing entry) selects every value. */
  vars: Record<string, string[] | 'all'>;
}

const CONDITIONAL_ALL = '$__conditionalAll(';

/** Index of the `)` closing the `(` at `open`, or -1. Parentheses inside '…' string literals are ignored. */
function closingParen(sql: string, open: number): number {
  let depth = 0;
  let quoted = false;
  for (let i = open; i < sql.length; i += 1) {
    const c = sql[i];
    if (quoted) {
      if (c === '\\') i += 1;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(') depth += 1;
    else if (c === ')') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Arguments between `(` at `open` and its closing `)`, split at top-level commas, trimmed. */
function macroArgs(sql: string, open: number, close: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = open + 1;
  for (let i = open + 1; i < close; i += 1) {
    const c = sql[i];
    if (quoted) {
      if (c === '\\') i += 1;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(') depth += 1;
    else if (c === ')') depth -= 1;
    else if (c === ',' && depth === 0) {
      args.push(sql.slice(start, i).trim());
      start = i + 1;
    }
  }
  args.push(sql.slice(start, close).trim());
  return args;
}

function selectsAll(selection: string[] | 'all' | undefined): boolean {
  return selection === undefined || selection === 'all' || selection.length === 0;
}

function applyConditionalAll(sql: string, vars: MacroContext['vars']): string {
  let out = sql;
  // innermost-last, like the plugin (lastIndexOf), so a nested macro is resolved before its host
  for (let at = out.lastIndexOf(CONDITIONAL_ALL); at !== -1; at = out.lastIndexOf(CONDITIONAL_ALL)) {
    const open = at + CONDITIONAL_ALL.length - 1;
    const close = closingParen(out, open);
    if (close === -1)
      throw new DashboardError(DASHBOARD_ERROR_CODES.badMacro, '$__conditionalAll: unbalanced parentheses');
    const args = macroArgs(out, open, close);
    if (args.length !== 2) {
      throw new DashboardError(DASHBOARD_ERROR_CODES.badMacro, '$__conditionalAll takes (condition, $variable)');
    }
    const name = /^\$\{?(\w+)\}?$/.exec(args[1] as string)?.[1];
    if (name === undefined) {
      throw new DashboardError(DASHBOARD_ERROR_CODES.badMacro, `$__conditionalAll: '${args[1]}' is not a $variable`);
    }
    const phrase = selectsAll(vars[name]) ? '1=1' : (args[0] as string);
    out = out.slice(0, at) + phrase + out.slice(close + 1);
  }
  return out;
}

const quote = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function applyVariables(sql: string, vars: MacroContext['vars']): string {
  // ${name} or $name; `$__…` names are macros, not variables
  return sql.replace(/\$\{(\w+)\}|\$(?!__)([A-Za-z_]\w*)/g, (_match, braced: string | undefined, bare: string) => {
    const name = braced ?? bare;
    const selection = vars[name];
    if (selection === undefined || selection === 'all') {
      throw new DashboardError(
        DASHBOARD_ERROR_CODES.unboundVariable,
        `variable '${name}' has no selected values here (use it inside $__conditionalAll, or select values)`,
      );
    }
    return selection.length === 0 ? "''" : selection.map(quote).join(',');
  });
}

type Macro = (args: string[], ctx: ResolvedContext) => string;

interface ResolvedContext {
  fromS: number;
  toS: number;
  fromMs: number;
  toMs: number;
  fromDate: string;
  toDate: string;
  intervalS: number;
  intervalMs: number;
}

const dateTime = (seconds: number): string => `toDateTime(${seconds})`;
const dateTime64 = (ms: number): string => `fromUnixTimestamp64Milli(${ms})`;

function arity(name: string, args: string[], n: number): void {
  if (args.length !== n || args.some((arg) => arg === '')) {
    throw new DashboardError(
      DASHBOARD_ERROR_CODES.badMacro,
      `$__${name} expects ${n} argument${n === 1 ? '' : 's'}, got ${args.filter((a) => a !== '').length}`,
    );
  }
}

const dateTimeFilter: Macro = (args, c) => {
  arity('dateTimeFilter', args, 2);
  const [d, t] = args as [string, string];
  return `(${d} >= toDate('${c.fromDate}') AND ${d} <= toDate('${c.toDate}')) AND (${t} >= ${dateTime(c.fromS)} AND ${t} <= ${dateTime(c.toS)})`;
};

/** Backend macros by name (longest names first is not needed: a name is read whole, `\w+`). */
const MACROS: Record<string, { takesArgs: boolean; expand: Macro }> = {
  fromTime: { takesArgs: false, expand: (_a, c) => dateTime(c.fromS) },
  toTime: { takesArgs: false, expand: (_a, c) => dateTime(c.toS) },
  fromTime_ms: { takesArgs: false, expand: (_a, c) => dateTime64(c.fromMs) },
  toTime_ms: { takesArgs: false, expand: (_a, c) => dateTime64(c.toMs) },
  interval_s: { takesArgs: false, expand: (_a, c) => String(c.intervalS) },
  timeFilter: {
    takesArgs: true,
    expand: (args, c) => {
      arity('timeFilter', args, 1);
      return `${args[0]} >= ${dateTime(c.fromS)} AND ${args[0]} <= ${dateTime(c.toS)}`;
    },
  },
  timeFilter_ms: {
    takesArgs: true,
    expand: (args, c) => {
      arity('timeFilter_ms', args, 1);
      return `${args[0]} >= ${dateTime64(c.fromMs)} AND ${args[0]} <= ${dateTime64(c.toMs)}`;
    },
  },
  dateFilter: {
    takesArgs: true,
    expand: (args, c) => {
      arity('dateFilter', args, 1);
      return `${args[0]} >= toDate('${c.fromDate}') AND ${args[0]} <= toDate('${c.toDate}')`;
    },
  },
  dateTimeFilter: { takesArgs: true, expand: dateTimeFilter },
  dt: { takesArgs: true, expand: dateTimeFilter },
  timeInterval: {
    takesArgs: true,
    expand: (args, c) => {
      arity('timeInterval', args, 1);
      return `toStartOfInterval(toDateTime(${args[0]}), INTERVAL ${c.intervalS} second)`;
    },
  },
  timeInterval_ms: {
    takesArgs: true,
    expand: (args, c) => {
      arity('timeInterval_ms', args, 1);
      return `toStartOfInterval(toDateTime64(${args[0]}, 3), INTERVAL ${c.intervalMs} millisecond)`;
    },
  },
};

function applyBackendMacros(sql: string, c: ResolvedContext): string {
  let out = '';
  let rest = sql;
  for (let m = /\$__(\w+)/.exec(rest); m !== null; m = /\$__(\w+)/.exec(rest)) {
    const name = m[1] as string;
    const macro = Object.hasOwn(MACROS, name) ? MACROS[name] : undefined;
    if (macro === undefined) {
      throw new DashboardError(DASHBOARD_ERROR_CODES.unknownMacro, `unknown macro $__${name}`);
    }
    out += rest.slice(0, m.index);
    let end = m.index + m[0].length;
    let args: string[] = [];
    if (macro.takesArgs) {
      if (rest[end] !== '(') throw new DashboardError(DASHBOARD_ERROR_CODES.badMacro, `$__${name} needs (arguments)`);
      const close = closingParen(rest, end);
      if (close === -1) throw new DashboardError(DASHBOARD_ERROR_CODES.badMacro, `$__${name}: unbalanced parentheses`);
      // arguments may hold macros themselves ($__timeInterval($__x) is not used, but nested text is expanded)
      args = macroArgs(rest, end, close).map((arg) => applyBackendMacros(arg, c));
      end = close + 1;
    }
    out += macro.expand(args, c);
    rest = rest.slice(end);
  }
  return out + rest;
}

function resolveContext(ctx: MacroContext): ResolvedContext {
  const fromMs = ctx.from instanceof Date ? ctx.from.getTime() : Number.NaN;
  const toMs = ctx.to instanceof Date ? ctx.to.getTime() : Number.NaN;
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || fromMs > toMs) {
    throw new DashboardError(DASHBOARD_ERROR_CODES.badRange, 'time range: from and to must be dates with from <= to');
  }
  if (!Number.isFinite(ctx.intervalSeconds) || ctx.intervalSeconds <= 0) {
    throw new DashboardError(DASHBOARD_ERROR_CODES.badRange, 'intervalSeconds must be a positive number');
  }
  return {
    fromS: Math.floor(fromMs / 1000),
    toS: Math.floor(toMs / 1000),
    fromMs,
    toMs,
    fromDate: new Date(fromMs).toISOString().slice(0, 10),
    toDate: new Date(toMs).toISOString().slice(0, 10),
    intervalS: Math.floor(Math.max(ctx.intervalSeconds, 1)),
    intervalMs: Math.floor(Math.max(ctx.intervalSeconds * 1000, 1)),
  };
}

/**
 * Expand a panel's SQL for a time range, interval and variable selection, as Grafana with the ClickHouse data
 * source would: the result is plain ClickHouse SQL. Throws DashboardError (FW_DASH_*) on a malformed macro,
 * an unknown `$__` macro, or a variable used outside `$__conditionalAll` without concrete values.
 */
export function expandMacros(sql: string, ctx: MacroContext): string {
  const resolved = resolveContext(ctx);
  // variables LAST and in one pass: a value is never scanned again (see the header)
  return applyVariables(applyBackendMacros(applyConditionalAll(sql, ctx.vars), resolved), ctx.vars);
}
