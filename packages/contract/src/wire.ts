/**
 * The middleware↔sink wire contract (docs/wire.md): media types of `POST /v1/audit`, the spool line
 * framing, and the HMAC key-file format. Pure: the CRC-32 function is injected (node:zlib `crc32`
 * in the packages), files are read and written by the packages.
 *
 * Spool framing, one line per record: `<crc32 as 8 lowercase hex> <record JSON>\n`, the CRC-32
 * (IEEE, as zlib computes it) taken over the UTF-8 bytes of the JSON. The rule is lowercase hex
 * only, on both sides: it is what the writer produces, and a line with upper-case digits was not
 * written by it (the spool counts it as corrupt, the sink answers 400).
 */

/** One JSON value per line. */
/**
 * How long our HTTP servers keep an idle keep-alive connection (Node's default is 5 s). A client reuses an idle
 * socket until its own timer drops it; when that client's event loop is busy for longer than the server's idle
 * timeout (a CLI formatting a large answer, a loaded machine), it writes on a socket the server already closed and
 * gets ECONNRESET (seen in a clean-clone run: sink query-api test, `verify` right after a 9 s test). 65 s is longer
 * than any pause between a console's or CLI's requests and than common proxy idle timeouts (60 s).
 */
export const SERVER_KEEP_ALIVE_MS = 65_000;

export const NDJSON_MEDIA_TYPE = 'application/x-ndjson';
/** The middleware's spool segment bytes as they are on disk (framed lines). */
export const SPOOL_MEDIA_TYPE = 'application/x-fhirwatch-spool';

/** CRC-32 of bytes, as an unsigned or signed 32-bit integer (node:zlib `crc32`). */
export type Crc32 = (bytes: Uint8Array) => number;

/** Bytes before the JSON of a framed line: 8 hex digits and a space. */
export const SPOOL_PREFIX_BYTES = 9;

const HEX = '0123456789abcdef';

/** The 8 lowercase hex digits of a CRC-32. */
export function crcHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

/** Frame one record JSON as a spool line. */
export function frameSpoolLine(json: string, crc32: Crc32): string {
  return `${crcHex(crc32(new TextEncoder().encode(json)))} ${json}\n`;
}

/**
 * Write the prefix of a line whose JSON is already at `bytes[start + 9, end)`: the CRC of those bytes
 * as 8 lowercase hex digits and the space. Returns nothing; the caller writes the newline.
 */
export function writeSpoolPrefix(bytes: Uint8Array, start: number, end: number, crc32: Crc32): void {
  let crc = crc32(bytes.subarray(start + SPOOL_PREFIX_BYTES, end)) >>> 0;
  for (let i = start + 7; i >= start; i--) {
    bytes[i] = HEX.charCodeAt(crc & 15);
    crc >>>= 4;
  }
  bytes[start + 8] = 32;
}

function hexAt(bytes: Uint8Array, start: number): number {
  let value = 0;
  for (let i = start; i < start + 8; i++) {
    const c = bytes[i] as number;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

/** Why a framed line is not valid. */
export type SpoolLineProblem = 'framing' | 'crc';

/**
 * Check framed line `bytes[lineStart, end)` (`end` = the newline's index or the end of the input):
 * `framing` when it is shorter than a prefix and one byte or lacks the space, `crc` when the 8 digits
 * are not lowercase hex or do not match the CRC of the JSON bytes; undefined when valid.
 */
export function spoolLineProblem(
  bytes: Uint8Array,
  lineStart: number,
  end: number,
  crc32: Crc32,
): SpoolLineProblem | undefined {
  if (end - lineStart < SPOOL_PREFIX_BYTES + 1 || bytes[lineStart + 8] !== 32) return 'framing';
  if (hexAt(bytes, lineStart) !== crc32(bytes.subarray(lineStart + SPOOL_PREFIX_BYTES, end)) >>> 0) return 'crc';
  return undefined;
}

/** The chain key file's name in a spool directory. */
export const HMAC_KEY_FILE = 'hmac.key';
/** A key shorter than this (in bytes) is refused where a key file must hold hex. */
export const HMAC_KEY_MIN_BYTES = 16;

/** How a key file's text is read: `hex` (the format written here), `utf8` (the text's bytes) or `auto`. */
export type HmacKeyEncoding = 'hex' | 'utf8' | 'auto';

/** The key-file text for `key`: lowercase hex and a newline (file mode 0600, written by the packages). */
export function formatHmacKeyFile(key: Uint8Array): string {
  let out = '';
  for (const b of key) out += HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  return `${out}\n`;
}

/** True when `text` (trimmed) is the hex form of at least `HMAC_KEY_MIN_BYTES` bytes. */
export function isHexKeyText(text: string): boolean {
  const t = text.trim();
  return t.length >= 2 * HMAC_KEY_MIN_BYTES && /^(?:[0-9a-fA-F]{2})+$/.test(t);
}

/**
 * The key held by a key file's text (surrounding white space ignored):
 * - `hex`: the hex form of at least 16 bytes (either case), else undefined;
 * - `auto`: that, or the text's UTF-8 bytes when it is not such hex (a passphrase);
 * - `utf8`: the text's UTF-8 bytes.
 * Never undefined for `auto`/`utf8`.
 */
export function parseHmacKeyFile(text: string, encoding: HmacKeyEncoding = 'hex'): Uint8Array | undefined {
  const t = text.trim();
  if (encoding !== 'utf8' && isHexKeyText(t)) {
    const out = new Uint8Array(t.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(t.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  return encoding === 'hex' ? undefined : new TextEncoder().encode(t);
}
