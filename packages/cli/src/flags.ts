/**
 * The CLI's flag rules in one place: key files, numbers, durations, and the audit store (`--store` /
 * `--clickhouse-url`, one set of environment variables, the store-in-use message). Each command parses
 * its own argv with node:util parseArgs and turns the values into options with these helpers.
 */
import { existsSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';
import { type HmacKeyEncoding, parseHmacKeyFile } from '@fhirwatch/contract';
import { AUDIT_ERROR_CODES, readKeyFile } from '@fhirwatch/otel-middleware';
import { UsageError } from './command.ts';

/**
 * The HMAC chain key in `file` (the contract's key-file format, docs/wire.md): `auto` takes hex of at
 * least 16 bytes as hex and any other text as its UTF-8 bytes (a passphrase); `hex` refuses non-hex.
 */
export function readHmacKeyFile(file: string, encoding: HmacKeyEncoding = 'auto', flag = '--hmac-key-file'): Buffer {
  return hmacKeyFromText(readKeyFileText(file, flag), encoding);
}

/**
 * The text of a key file, through the middleware's `readKeyFile` (mode checked: a file open to group or
 * others is a usage error naming `chmod 600`; any other read failure: "cannot be read").
 */
export function readKeyFileText(file: string, flag = '--hmac-key-file'): string {
  try {
    return readKeyFile(file);
  } catch (error) {
    if ((error as { code?: string }).code === AUDIT_ERROR_CODES.keyFileMode) {
      throw new UsageError(`${flag}: ${(error as Error).message}`);
    }
    throw new UsageError(`${flag} cannot be read`);
  }
}

/** The key in `text` (a key file's content or an environment variable's value), by `encoding`. */
export function hmacKeyFromText(text: string, encoding: HmacKeyEncoding): Buffer {
  const key = parseHmacKeyFile(text, encoding);
  if (key === undefined) throw new UsageError('the HMAC key is not hex');
  return Buffer.from(key);
}

// ── numbers ────────────────────────────────────────────────────────────────────────────────────────

/** Bounds of a numeric flag: `[min, max]` (inclusive); `positive` excludes 0 for non-integers. */
export interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
}

/**
 * `--<name> <text>` as a number within `rule` (undefined when the flag is absent). The one message:
 * "--x must be an integer in [a, b]" ("a positive integer" / "a number ≥ a" when unbounded above).
 */
export function numberFlag(name: string, text: string | undefined, rule: NumberRule = {}): number | undefined {
  if (text === undefined) return undefined;
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY, integer = true } = rule;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${describeRule(min, max, integer)}`);
  }
  return n;
}

/** A positive number (integer by default): `> 0`. */
export function positiveFlag(name: string, text: string | undefined, integer = true): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return n;
}

function describeRule(min: number, max: number, integer: boolean): string {
  const kind = integer ? 'an integer' : 'a number';
  if (max === Number.POSITIVE_INFINITY) return min === Number.NEGATIVE_INFINITY ? kind : `${kind} ≥ ${min}`;
  return `${kind} in [${min}, ${max}]`;
}

// ── durations ──────────────────────────────────────────────────────────────────────────────────────

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

/**
 * `--<name> <text>` as milliseconds: a number with a unit among `units` (`90s`, `2m`, `500ms`, `1h`), a
 * bare number meaning `bareUnit`; within `[minMs, maxMs]`. Undefined when the flag is absent.
 */
export function durationFlag(
  name: string,
  text: string | undefined,
  options: { units: readonly DurationUnit[]; bareUnit: DurationUnit; minMs?: number; maxMs?: number },
): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const unit = (match?.[2] ?? options.bareUnit) as DurationUnit;
  const examples = options.units.map((u) => `${u === 'ms' ? 500 : u === 'h' ? 1 : 30}${u}`).join(', ');
  if (match === null || !options.units.includes(unit) || Number(match[1]) <= 0) {
    throw new UsageError(`--${name} must be like ${examples} (a bare number is ${options.bareUnit}); got '${text}'`);
  }
  const ms = Number(match[1]) * UNIT_MS[unit];
  const { minMs = 0, maxMs = Number.POSITIVE_INFINITY } = options;
  if (ms < minMs || ms > maxMs) {
    throw new UsageError(`--${name} must be between ${formatMs(minMs)} and ${formatMs(maxMs)}`);
  }
  return ms;
}

function formatMs(ms: number): string {
  if (ms === Number.POSITIVE_INFINITY) return 'unbounded';
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

// ── stores ─────────────────────────────────────────────────────────────────────────────────────────

/** The store flags every command that reads or writes the audit store takes (parseArgs options). */
export const STORE_OPTIONS = {
  store: { type: 'string' },
  'clickhouse-url': { type: 'string' },
} as const;

/**
 * ClickHouse server credentials, one set of environment variables for every command:
 * FHIRWATCH_CLICKHOUSE_USER / FHIRWATCH_CLICKHOUSE_PASSWORD. The older names are still read when the new
 * ones are unset: CLICKHOUSE_USER / CLICKHOUSE_PASSWORD (audit, console, loadtest before).
 */
export function clickhouseCredentials(env: NodeJS.ProcessEnv = process.env): { username?: string; password?: string } {
  const username = env.FHIRWATCH_CLICKHOUSE_USER || env.CLICKHOUSE_USER || undefined;
  const password = env.FHIRWATCH_CLICKHOUSE_PASSWORD || env.CLICKHOUSE_PASSWORD || undefined;
  return { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
}

/** Where a command's audit store is: an embedded chDB directory or a ClickHouse server. */
export type StoreSource =
  | { kind: 'store'; path: string }
  | { kind: 'clickhouse'; url: string; username?: string; password?: string };

/**
 * The store named by `--store` / `--clickhouse-url` (exactly one, also counting `others`: e.g. a given
 * `--sink-url`); undefined when none is given and `required` is false. `--clickhouse-url` must be http(s).
 */
export function storeSource(
  values: { store?: string | undefined; 'clickhouse-url'?: string | undefined },
  options: { required?: boolean; others?: Record<string, string | undefined>; env?: NodeJS.ProcessEnv } = {},
): StoreSource | undefined {
  const others = Object.entries(options.others ?? {});
  const given = [values.store, values['clickhouse-url'], ...others.map(([, v]) => v)].filter((v) => v !== undefined);
  const names = ['--store', '--clickhouse-url', ...others.map(([n]) => `--${n}`)];
  const oneOf =
    names.length === 2 ? `${names[0]} <dir> or ${names[1]} <url>` : names.join(', ').replace(/, ([^,]*)$/, ' or $1');
  if (given.length > 1 || (given.length === 0 && options.required !== false)) {
    throw new UsageError(`give exactly one of ${oneOf}`);
  }
  if (values.store !== undefined) return { kind: 'store', path: values.store };
  const url = values['clickhouse-url'];
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('--clickhouse-url must be a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError('--clickhouse-url must be http(s)');
  return { kind: 'clickhouse', url, ...clickhouseCredentials(options.env) };
}

/** True when opening an embedded store failed because another process owns it (chDB: one owner per directory). */
export function isStoreBusy(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === 'CHDB_CONNECTION';
}

/**
 * The store-in-use message, one wording for every command: who owns `path` (a running sink found by
 * its pid file, or an unknown process) and what to run instead.
 */
export function storeInUseMessage(
  path: string,
  running: { pid: number; url: string } | undefined,
  instead: { unknownOwner: string; runningSink: (url: string) => string },
): string {
  return running === undefined
    ? `the store ${path} is in use by another process (chDB lets one process own a data directory, e.g. a running \`fhirwatch sink\`): ${instead.unknownOwner}`
    : `the store ${path} is owned by a running sink (pid ${running.pid}); ${instead.runningSink(running.url)}`;
}

/**
 * A reader (`audit`, `console`, `loadtest --store`) opens an embedded store that exists: chDB would create an empty
 * one at a mistyped path and the reader would answer "nothing found" from it.
 */
export function requireExistingStore(source: StoreSource | undefined): void {
  if (source?.kind === 'store' && !existsSync(source.path)) {
    throw new UsageError(`no store at ${source.path} (a sink creates one: \`fhirwatch sink --store ${source.path}\`)`);
  }
}

/** Open the store (an embedded one must exist: `no store at <dir>`); the caller closes the client. */
export async function openStoreFrom(source: StoreSource): Promise<ClickHouseClient> {
  const { openStore } = await import('@fhirwatch/clickhouse-sink/store');
  requireExistingStore(source);
  if (source.kind === 'store') {
    return openStore({ path: source.path });
  }
  const { kind: _kind, ...server } = source;
  return openStore(server);
}
