/**
 * Streaming disclosure scanner: the response body is scanned as its chunks pass, once, over Buffers,
 * for exactly what the audit records need (a Bundle's `resourceType`/`type`/`total`,
 * each entry's `search` and `response`, and of each returned resource its `resourceType`, `id` and
 * patient references: `patient`, `subject`, `beneficiary`, `subscriber`, an Encounter's `location`).
 * Nothing of the body is kept: no capture buffer, no Buffer→string of the body; only those small
 * values are copied out (when they straddle two chunks) and `JSON.parse`d.
 *
 * The result is the same projection, member for member, as the one-pass string scanner it replaces
 * (the old `projectBody`, kept in test/baseline-json-scan.ts and checked against this one at every
 * chunk boundary of real mock-EHR bodies), so the contract's disclosure functions give the same answer:
 * - it validates what it parses (by `JSON.parse`) and the structure it walks (Bundle, entries,
 *   resources: `"key": value` separated by commas); values it skips are checked for string termination
 *   and bracket balance only (a primitive it skips at a walked position is checked to be a JSON literal);
 * - a body that is not such JSON gives `undefined` (like a failed `JSON.parse`);
 * - `detail(i)` chooses per batch entry `i` (or -1 for a response that is not a batch) how much of the
 *   returned resources to keep: `'patients'` (the members above), `'types'` (`resourceType` only: enough
 *   for result counts; when it is the resource's first member the rest is skipped in one scan) or, for a
 *   batch entry, `undefined` (its `response` only).
 *
 * What ends inside a chunk is read in place, without a mode switch or a copy: keys (matched against the
 * names the walk looks at by length, then bytes), string values (skipped, or read when plain ASCII, short
 * ones interned), a searchset entry's `{"mode":"match"}`; only what straddles two chunks is carried over.
 * Strings are run through byte by byte up to 256 bytes (most are under 32: a native call costs what ~25
 * bytes of the loop do), then with the native quote search.
 *
 * Feed it with `write(bytes)` as chunks pass and take `result()` at the end. A scanner that saw
 * malformed input stops looking at later chunks (`failed`).
 */

export type ResourceDetail = 'patients' | 'types';

const QUOTE = 34;
const BACKSLASH = 92;
const LBRACE = 123;
const RBRACE = 125;
const LBRACK = 91;
const RBRACK = 93;
const COLON = 58;
const COMMA = 44;

/** Members kept of a returned resource at detail `patients`. */
const PATIENT_MEMBERS = new Set(['resourceType', 'id', 'patient', 'subject', 'beneficiary', 'subscriber', 'location']);
const TYPE_ONLY = new Set(['resourceType']);

function isBundleKey(key: string): boolean {
  return key === 'resourceType' || key === 'type' || key === 'total' || key === 'entry';
}

// What is being walked (the shapes of the projection).
/** batch-response Bundle (top level of a batch). */
const K_TOPBATCH = 0;
/** its `entry` array. */
const K_BENTRIES = 1;
/** one batch entry object. */
const K_BENTRY = 2;
/** a response: searchset Bundle or single resource (top level, or a batch entry's `resource`). */
const K_RESP = 3;
/** a searchset's `entry` array. */
const K_SENTRIES = 4;
/** one searchset entry object. */
const K_SENTRY = 5;
/** a returned resource (a searchset entry's `resource`). */
const K_RES = 6;

// Walk states.
const O_KEY_OR_END = 0;
const O_KEY = 1;
const O_COLON = 2;
const O_VALUE = 3;
const O_COMMA_OR_END = 4;
const A_VALUE_OR_END = 5;
const A_VALUE = 6;
const A_COMMA_OR_END = 7;

// Modes of the byte loop.
/** Walking frames (structure), or the top level when no frame is open. */
const M_WALK = 0;
/** Inside a string literal (a key, or a value being skipped or parsed). */
const M_STRING = 1;
/** Inside a container being skipped or parsed (bracket balance only). */
const M_SKIP = 2;
/** A literal (number, true, false, null) being skipped or parsed. */
const M_TOKEN = 3;
/** Past the top-level value: only whitespace may follow. */
const M_END = 4;

// What completes when the current value (string / container / token) ends.
const V_KEY = 0;
const V_SKIP = 1;
const V_PARSE = 2;

/**
 * Bytes of a string looked at one by one before the native search takes over (most FHIR strings are
 * under 32 bytes, and a native call costs what ~25 bytes of this loop do; measured in bench/json-scan.ts).
 */
const LONG_STRING = 256;
/** Bytes a parsed string value needs JSON.parse for: the backslash, control characters, non-ASCII. */
const NOT_PLAIN = new Uint8Array(256);
NOT_PLAIN[BACKSLASH] = 1;
for (let c = 0; c < 32; c++) NOT_PLAIN[c] = 1;
for (let c = 128; c < 256; c++) NOT_PLAIN[c] = 1;
/** Longest parsed string value kept in the intern cache (resource types, statuses, modes repeat). */
const INTERN_MAX = 40;
const INTERN_SLOTS = 64;
/** Deepest container skipped inside one value (deeper than any FHIR resource). */
const MAX_SKIP_DEPTH = 512;
const MATCH_TEXT = '{"mode":"match"}';
/** `{"mode":"match"}`, a searchset entry's `search`, compared in place (no copy, no parse). */
const MATCH_BYTES = Buffer.from(MATCH_TEXT, 'latin1');
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings
const CONTROL = /[\u0000-\u001f]/;
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

class Frame {
  kind = 0;
  state = 0;
  detail: ResourceDetail | undefined = undefined;
  key = '';
  /** Index of the next array element. */
  index = 0;
  /** Keys so far (the `types` fast path applies to the first member only). */
  members = 0;
  /** K_RES at `types` whose first member is `resourceType`: the rest of it is skipped in one scan. */
  fast = false;
  out: Record<string, unknown> | undefined = undefined;
  /** K_RESP: the single-resource shape, kept alongside the Bundle shape until the end. */
  res: Record<string, unknown> | undefined = undefined;
  arr: unknown[] | undefined = undefined;
}

class Malformed extends Error {}

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

export class StreamScanner {
  private readonly batch: boolean;
  private readonly detailOf: (entryIndex: number) => ResourceDetail | undefined;
  private readonly frames: Frame[] = [];
  private depth = 0;
  private mode = M_WALK;
  /** Top level: nothing seen yet. */
  private started = false;
  private value: unknown;
  private done = false;
  /** Malformed (or detail(-1) undefined): the result is undefined, later chunks are not looked at. */
  failed = false;

  // The value in progress (string, skipped/parsed container, token).
  private onEnd = V_SKIP;
  private capturing = false;
  /** Start of the capture in the current chunk. */
  private capStart = 0;
  /** Bytes of a capture that straddles chunks. */
  private cap: Buffer | undefined;
  private capLen = 0;
  /** The byte after a backslash in a string is escaped (carried across chunks). */
  private escaped = false;
  /** The string in progress sits in a skipped container (return to M_SKIP at its end). */
  private inSkip = false;
  private skipDepth = 0;
  private readonly closers = new Uint8Array(MAX_SKIP_DEPTH);
  /** The last key had no backslash (its raw bytes are its name). */
  private keyRawAscii = true;
  /** The fast-path skip of a K_RES frame's remainder is in progress (its end closes the frame). */
  private resumeFastSkip = false;

  constructor(batch: boolean, detail: (entryIndex: number) => ResourceDetail | undefined) {
    this.batch = batch;
    this.detailOf = detail;
  }

  /** Scan the next chunk of the body: its first `length` bytes (all by default; a reused scratch buffer passes less). */
  write(chunk: Uint8Array, length = chunk.length): void {
    if (this.failed || length <= 0) return;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    try {
      this.scan(b, Math.min(length, b.length));
    } catch {
      // Malformed, or JSON.parse refused a value: like a failed JSON.parse of the whole body
      this.fail();
    }
  }

  /** The projection (undefined when the body was not such JSON). Call once, after the last chunk. */
  result(): unknown {
    if (this.failed) return undefined;
    try {
      if (this.mode === M_TOKEN && this.depth === 0) {
        // a top-level literal ends with the body
        this.endToken(Buffer.alloc(0), 0);
      }
    } catch {
      return undefined;
    }
    if (!this.done || this.mode !== M_END) return undefined;
    return this.value;
  }

  private fail(): void {
    this.failed = true;
    this.cap = undefined;
    this.frames.length = 0;
  }

  /** Scan b[0, n). Every read below stays under n: the bytes after it may be a scratch buffer's stale ones. */
  private scan(b: Buffer, n: number): void {
    let i = 0;
    if (this.capturing) this.capStart = 0;
    while (i < n) {
      switch (this.mode) {
        case M_WALK:
          i = this.walk(b, i, n);
          break;
        case M_STRING:
          i = this.string(b, i, n);
          break;
        case M_SKIP:
          i = this.skip(b, i, n);
          break;
        case M_TOKEN:
          i = this.token(b, i, n);
          break;
        default:
          // M_END: whitespace only
          for (; i < n; i++) if (!isWs(b[i] as number)) throw new Malformed();
      }
      if (this.failed) return;
    }
    if (this.capturing) this.keep(b, this.capStart, n);
  }

  /** Append bytes [from, to) of the chunk to the straddling capture. */
  private keep(b: Buffer, from: number, to: number): void {
    const len = to - from;
    if (len <= 0) return;
    let cap = this.cap;
    if (cap === undefined || this.capLen + len > cap.length) {
      const grown = Buffer.allocUnsafe(Math.max(256, (this.capLen + len) * 2));
      if (cap !== undefined) cap.copy(grown, 0, 0, this.capLen);
      cap = grown;
      this.cap = cap;
    }
    b.copy(cap, this.capLen, from, to);
    this.capLen += len;
  }

  /** The captured text, ending at `end` (exclusive) of the current chunk. */
  private captured(b: Buffer, end: number): string {
    this.capturing = false;
    if (this.capLen === 0) return b.toString('utf8', this.capStart, end);
    this.keep(b, this.capStart, end);
    const text = (this.cap as Buffer).toString('utf8', 0, this.capLen);
    this.capLen = 0;
    return text;
  }

  private frame(): Frame {
    return this.frames[this.depth - 1] as Frame;
  }

  private push(kind: number, detail: ResourceDetail | undefined, isArray: boolean): Frame {
    let f = this.frames[this.depth];
    if (f === undefined) {
      f = new Frame();
      this.frames[this.depth] = f;
    }
    this.depth++;
    f.kind = kind;
    f.detail = detail;
    f.state = isArray ? A_VALUE_OR_END : O_KEY_OR_END;
    f.key = '';
    f.index = 0;
    f.members = 0;
    f.fast = false;
    f.res = undefined;
    if (isArray) {
      f.arr = [];
      f.out = undefined;
    } else {
      f.arr = undefined;
      f.out = {};
      if (kind === K_RESP) f.res = {};
    }
    return f;
  }

  /** Structure: frames' keys, colons, commas, closers; starts values. */
  private walk(b: Buffer, i: number, n: number): number {
    while (i < n) {
      const c = b[i] as number;
      if (this.depth === 0) {
        if (isWs(c)) {
          i++;
          continue;
        }
        if (this.started) throw new Malformed();
        this.started = true;
        if (this.batch && c === LBRACE) {
          this.push(K_TOPBATCH, undefined, false);
          return i + 1;
        }
        const d = this.detailOf(-1);
        if (d === undefined) {
          this.fail();
          return n;
        }
        return this.valueResp(b, i, n, c, d);
      }
      const f = this.frame();
      // Each step below either stays in the walk (loop on) or hands over to another mode (return).
      switch (f.state) {
        case O_KEY_OR_END:
          if (isWs(c)) break;
          if (c === RBRACE) {
            i = this.close(i + 1);
            if (this.mode !== M_WALK) return i;
            continue;
          }
          if (c !== QUOTE) throw new Malformed();
          i = this.key(f, b, i, n);
          if (this.mode !== M_WALK) return i;
          continue;
        case O_KEY:
          if (isWs(c)) break;
          if (c !== QUOTE) throw new Malformed();
          i = this.key(f, b, i, n);
          if (this.mode !== M_WALK) return i;
          continue;
        case O_COLON:
          if (isWs(c)) break;
          if (c !== COLON) throw new Malformed();
          f.state = O_VALUE;
          break;
        case O_VALUE:
          if (isWs(c)) break;
          f.state = O_COMMA_OR_END;
          i = this.memberValue(f, b, i, n, c);
          if (this.mode !== M_WALK) return i;
          continue;
        case O_COMMA_OR_END:
          if (isWs(c)) break;
          if (c === RBRACE) {
            i = this.close(i + 1);
            if (this.mode !== M_WALK) return i;
            continue;
          }
          if (c !== COMMA) throw new Malformed();
          f.state = O_KEY;
          break;
        case A_VALUE_OR_END:
          if (isWs(c)) break;
          if (c === RBRACK) {
            i = this.close(i + 1);
            if (this.mode !== M_WALK) return i;
            continue;
          }
          f.state = A_COMMA_OR_END;
          i = this.elementValue(f, b, i, n, c);
          if (this.mode !== M_WALK) return i;
          continue;
        case A_VALUE:
          if (isWs(c)) break;
          f.state = A_COMMA_OR_END;
          i = this.elementValue(f, b, i, n, c);
          if (this.mode !== M_WALK) return i;
          continue;
        default:
          // A_COMMA_OR_END
          if (isWs(c)) break;
          if (c === RBRACK) {
            i = this.close(i + 1);
            if (this.mode !== M_WALK) return i;
            continue;
          }
          if (c !== COMMA) throw new Malformed();
          f.state = A_VALUE;
      }
      i++;
    }
    return i;
  }

  /** A key at `i` of object frame `f`: matched in place when it ends in this chunk, else carried over. */
  private key(f: Frame, b: Buffer, i: number, n: number): number {
    const q = this.closingQuote(b, i + 1, n);
    if (q === -1) {
      this.onEnd = V_KEY;
      this.keyRawAscii = true;
      return this.beginString(i, true);
    }
    f.key = keyOf(b, i + 1, q);
    this.keyRawAscii = !keyEscaped;
    f.members++;
    f.state = O_COLON;
    return q + 1;
  }

  /**
   * The closing quote of a string whose content starts at `j` (a position not escaped), or -1 when the
   * chunk ends first (then `escaped` tells whether its last byte escapes the next chunk's first). Short
   * runs are looked at here; a longer string is jumped through with the native quote search, a quote
   * after an odd run of backslashes being escaped.
   */
  private closingQuote(b: Buffer, j: number, n: number): number {
    const stop = n - j > LONG_STRING ? j + LONG_STRING : n;
    while (j < stop) {
      const d = b[j] as number;
      if (d === QUOTE) return j;
      j += d === BACKSLASH ? 2 : 1;
    }
    if (j >= n) {
      this.escaped = j > n;
      return -1;
    }
    let from = j;
    for (;;) {
      let q = b.indexOf(QUOTE, from);
      if (q >= n) q = -1; // past this chunk (a scratch buffer's stale bytes)
      const end = q === -1 ? n : q;
      let k = end - 1;
      while (k >= from && b[k] === BACKSLASH) k--;
      const odd = ((end - 1 - k) & 1) === 1;
      if (q === -1) {
        this.escaped = odd;
        return -1;
      }
      if (!odd) return q;
      from = q + 1;
    }
  }

  /** A value at `i` (first byte `c`), skipped or parsed; returns where scanning goes on. */
  private beginValue(b: Buffer, i: number, n: number, c: number, parse: boolean): number {
    this.onEnd = parse ? V_PARSE : V_SKIP;
    if (c === QUOTE) {
      // a string that ends in this chunk is skipped or parsed in place (no mode switch, no copy)
      const q = this.closingQuote(b, i + 1, n);
      if (q === -1) return this.beginString(i, parse);
      if (parse) this.assign(this.stringValue(b, i, q), -1);
      return q + 1;
    }
    if (parse && c === LBRACE && bytesAt(b, i, n, MATCH_BYTES)) {
      this.assign({ mode: 'match' }, -1);
      return i + MATCH_BYTES.length;
    }
    if (c === LBRACE || c === LBRACK) {
      this.capturing = parse;
      this.capStart = i;
      this.capLen = 0;
      this.closers[0] = c + 2; // '{' + 2 = '}', '[' + 2 = ']'
      this.skipDepth = 1;
      this.mode = M_SKIP;
      return i + 1;
    }
    // a literal: always captured (it is validated even when skipped)
    this.capturing = true;
    this.capStart = i;
    this.capLen = 0;
    this.mode = M_TOKEN;
    return i;
  }

  private beginString(i: number, capture: boolean): number {
    this.capturing = capture;
    this.capStart = i;
    this.capLen = 0;
    this.escaped = false;
    this.inSkip = false;
    this.mode = M_STRING;
    return i + 1;
  }

  /** A member's value of object frame `f` (its key in `f.key`). */
  private memberValue(f: Frame, b: Buffer, i: number, n: number, c: number): number {
    const key = f.key;
    switch (f.kind) {
      case K_TOPBATCH:
        if (key === 'entry' && c === LBRACK) {
          this.push(K_BENTRIES, undefined, true);
          return i + 1;
        }
        return this.beginValue(b, i, n, c, isBundleKey(key));
      case K_BENTRY:
        if (key === 'response') return this.beginValue(b, i, n, c, true);
        if (key === 'resource' && f.detail !== undefined) return this.valueResp(b, i, n, c, f.detail);
        return this.beginValue(b, i, n, c, false);
      case K_RESP:
        if (key === 'entry' && c === LBRACK) {
          this.push(K_SENTRIES, f.detail, true);
          return i + 1;
        }
        return this.beginValue(
          b,
          i,
          n,
          c,
          isBundleKey(key) || (f.detail === 'patients' ? PATIENT_MEMBERS : TYPE_ONLY).has(key),
        );
      case K_SENTRY:
        if (key === 'search') return this.beginValue(b, i, n, c, true);
        if (key === 'resource') {
          if (c === LBRACE) {
            const r = this.push(K_RES, f.detail, false);
            r.fast = f.detail === 'types';
            return i + 1;
          }
          return this.beginValue(b, i, n, c, true);
        }
        return this.beginValue(b, i, n, c, false);
      default: {
        // K_RES
        const parse = (f.detail === 'patients' ? PATIENT_MEMBERS : TYPE_ONLY).has(key);
        if (f.fast && !(f.members === 1 && key === 'resourceType' && this.keyRawAscii)) f.fast = false;
        return this.beginValue(b, i, n, c, parse);
      }
    }
  }

  /** An element of array frame `f`. */
  private elementValue(f: Frame, b: Buffer, i: number, n: number, c: number): number {
    const index = f.index++;
    if (c !== LBRACE) return this.beginValue(b, i, n, c, true);
    if (f.kind === K_BENTRIES) {
      const entry = this.push(K_BENTRY, this.detailOf(index), false);
      (f.arr as unknown[]).push(entry.out);
    } else this.push(K_SENTRY, f.detail, false);
    return i + 1;
  }

  /** A response (top level or a batch entry's `resource`): walked when an object, else parsed. */
  private valueResp(b: Buffer, i: number, n: number, c: number, d: ResourceDetail): number {
    if (c === LBRACE) {
      this.push(K_RESP, d, false);
      return i + 1;
    }
    return this.beginValue(b, i, n, c, true);
  }

  /** The open frame's closer was consumed at `next - 1`: hand its projection to its parent. */
  private close(next: number): number {
    const f = this.frame();
    let projection: unknown;
    switch (f.kind) {
      case K_RESP: {
        const bundle = f.out as Record<string, unknown>;
        projection = bundle.resourceType === 'Bundle' ? bundle : f.res;
        break;
      }
      case K_BENTRIES:
      case K_SENTRIES:
        projection = f.arr;
        break;
      default:
        projection = f.out;
    }
    f.out = undefined;
    f.res = undefined;
    f.arr = undefined;
    this.depth--;
    this.assign(projection, f.kind);
    return next;
  }

  /** A value (parsed, or a closed frame's projection of kind `childKind`; -1 = parsed) lands in the open frame. */
  private assign(value: unknown, childKind: number): void {
    if (this.depth === 0) {
      this.value = value;
      this.done = true;
      this.mode = M_END;
      return;
    }
    const f = this.frame();
    switch (f.kind) {
      case K_TOPBATCH:
        (f.out as Record<string, unknown>)[f.key] = value;
        return;
      case K_BENTRIES:
        // entry objects were pushed when opened
        if (childKind !== K_BENTRY) (f.arr as unknown[]).push(value);
        return;
      case K_BENTRY:
        (f.out as Record<string, unknown>)[f.key] = value;
        return;
      case K_RESP: {
        const key = f.key;
        if (childKind === K_SENTRIES || isBundleKey(key)) (f.out as Record<string, unknown>)[key] = value;
        if (childKind !== K_SENTRIES && (f.detail === 'patients' ? PATIENT_MEMBERS : TYPE_ONLY).has(key)) {
          (f.res as Record<string, unknown>)[key] = value;
        }
        return;
      }
      case K_SENTRIES:
        (f.arr as unknown[]).push(value);
        return;
      case K_SENTRY:
        (f.out as Record<string, unknown>)[f.key] = value;
        return;
      default:
        // K_RES
        (f.out as Record<string, unknown>)[f.key] = value;
        if (f.fast) {
          // `types` and `resourceType` first: the rest of the resource is skipped in one scan.
          this.onEnd = V_SKIP;
          this.capturing = false;
          this.closers[0] = RBRACE;
          this.skipDepth = 1;
          this.mode = M_SKIP;
          this.resumeFastSkip = true;
        }
    }
  }

  /** The value in progress ended at `end` (exclusive). */
  private endValue(b: Buffer, end: number): void {
    const onEnd = this.onEnd;
    if (onEnd === V_KEY) {
      // the key's raw bytes (between the quotes), matched against the names the walk looks at
      let src: Buffer = b;
      let from = this.capStart + 1;
      let to = end - 1;
      if (this.capLen > 0) {
        this.keep(b, this.capStart, end);
        src = this.cap as Buffer;
        from = 1;
        to = this.capLen - 1;
        this.capLen = 0;
      }
      this.capturing = false;
      const f = this.frame();
      f.key = keyOf(src, from, to);
      this.keyRawAscii = !hasBackslash(src, from, to);
      f.members++;
      f.state = O_COLON;
      this.mode = M_WALK;
      return;
    }
    if (this.resumeFastSkip) {
      this.resumeFastSkip = false;
      this.mode = M_WALK;
      this.close(end);
      return;
    }
    this.mode = M_WALK;
    if (onEnd === V_SKIP) {
      this.capturing = false;
      this.capLen = 0;
      // a skipped value at the top level cannot happen (the top level is walked or parsed)
      return;
    }
    const text = this.captured(b, end);
    this.assign(parseValue(text), -1);
  }

  /** Inside a string literal: find its closing quote (a backslash escapes the byte after it). */
  private string(b: Buffer, i: number, n: number): number {
    let j = i;
    if (this.escaped) {
      this.escaped = false;
      j++;
      if (j >= n) return n;
    }
    const q = this.closingQuote(b, j, n);
    if (q === -1) return n; // the string goes on in the next chunk (`escaped` set)
    if (this.inSkip) {
      this.inSkip = false;
      this.mode = M_SKIP;
    } else this.endValue(b, q + 1);
    return q + 1;
  }

  /** A skipped container: bracket balance and string termination only. */
  private skip(b: Buffer, i: number, n: number): number {
    const closers = this.closers;
    let depth = this.skipDepth;
    while (i < n) {
      const c = b[i] as number;
      if (c === QUOTE) {
        // a string inside the skipped value (most of a FHIR body is strings)
        const q = this.closingQuote(b, i + 1, n);
        if (q === -1) {
          this.skipDepth = depth;
          this.inSkip = true;
          this.mode = M_STRING;
          return n;
        }
        i = q + 1;
        continue;
      }
      if (c === LBRACE || c === LBRACK) {
        if (depth === MAX_SKIP_DEPTH) throw new Malformed();
        closers[depth++] = c + 2;
      } else if (c === RBRACE || c === RBRACK) {
        if (depth === 0 || closers[--depth] !== c) throw new Malformed();
        if (depth === 0) {
          this.skipDepth = 0;
          this.endValue(b, i + 1);
          return i + 1;
        }
      }
      i++;
    }
    this.skipDepth = depth;
    return n;
  }

  /**
   * A parsed string value `b[open, close]` (its quotes included): plain ASCII without escapes is read in
   * place, and a short one is interned (resource types, statuses and modes repeat: no string made for
   * them after the first); anything else goes through JSON.parse like before.
   */
  private stringValue(b: Buffer, open: number, close: number): unknown {
    const from = open + 1;
    const len = close - from;
    for (let k = from; k < close; k++) {
      if (NOT_PLAIN[b[k] as number] === 1) return JSON.parse(b.toString('utf8', open, close + 1));
    }
    if (len === 0) return '';
    if (len > INTERN_MAX) return b.toString('latin1', from, close);
    const slot = (len * 31 + (b[from] as number) * 7 + (b[close - 1] as number)) & (INTERN_SLOTS - 1);
    const cached = internStrings[slot];
    if (cached !== undefined && cached.length === len) {
      let m = 0;
      while (m < len && cached.charCodeAt(m) === b[from + m]) m++;
      if (m === len) return cached;
    }
    const text = b.toString('latin1', from, close);
    internStrings[slot] = text;
    return text;
  }

  private token(b: Buffer, i: number, n: number): number {
    while (i < n) {
      const c = b[i] as number;
      if (c === COMMA || c === RBRACE || c === RBRACK || c === COLON || isWs(c)) {
        this.endToken(b, i);
        return i;
      }
      i++;
    }
    return n;
  }

  private endToken(b: Buffer, end: number): void {
    const token = this.captured(b, end);
    if (token === '' || (token !== 'true' && token !== 'false' && token !== 'null' && !NUMBER.test(token))) {
      throw new Malformed();
    }
    this.mode = M_WALK;
    if (this.onEnd === V_PARSE) this.assign(JSON.parse(token), -1);
  }
}

/** Interned short string values, shared by every scanner (direct-mapped by length and end bytes). */
const internStrings: (string | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);

/** The member names any walked shape looks at; every other key is OTHER_KEY. */
const KNOWN_KEYS = [
  'resourceType',
  'id',
  'patient',
  'subject',
  'beneficiary',
  'subscriber',
  'location',
  'type',
  'total',
  'entry',
  'search',
  'response',
  'resource',
];
const KNOWN_KEY_BYTES = KNOWN_KEYS.map((k) => Buffer.from(k, 'latin1'));
/** Indexes into KNOWN_KEYS by name length (a key of another length is OTHER_KEY at once). */
const KNOWN_BY_LENGTH: number[][] = [];
for (let k = 0; k < KNOWN_KEYS.length; k++) {
  const len = (KNOWN_KEYS[k] as string).length;
  const list = KNOWN_BY_LENGTH[len] ?? [];
  list.push(k);
  KNOWN_BY_LENGTH[len] = list;
}

/** Whether `name` is at b[i] (within the first n bytes). */
function bytesAt(b: Buffer, i: number, n: number, name: Buffer): boolean {
  const len = name.length;
  if (n - i < len) return false;
  for (let m = 0; m < len; m++) if (b[i + m] !== name[m]) return false;
  return true;
}
const KNOWN_KEY_SET = new Set(KNOWN_KEYS);
/** A key no walked shape looks at (never a JSON key: it is not assigned anywhere). */
const OTHER_KEY = '\u0000';

function hasBackslash(src: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (src[i] === BACKSLASH) return true;
  return false;
}

/** Whether the last key `keyOf` named had escapes (`"resource\u0054ype"`). */
let keyEscaped = false;

/** The name of the key whose raw bytes are src[from, to): a known name, or OTHER_KEY (no string made). */
function keyOf(src: Buffer, from: number, to: number): string {
  const len = to - from;
  keyEscaped = false;
  const candidates = KNOWN_BY_LENGTH[len];
  if (candidates !== undefined) {
    for (const k of candidates)
      if (bytesAt(src, from, to, KNOWN_KEY_BYTES[k] as Buffer)) return KNOWN_KEYS[k] as string;
  }
  if (!hasBackslash(src, from, to)) return OTHER_KEY;
  keyEscaped = true;
  // an escaped key (`"resource\u0054ype"`) is decoded like JSON.parse does
  const key = JSON.parse(src.toString('utf8', from - 1, to + 1)) as string;
  return KNOWN_KEY_SET.has(key) ? key : OTHER_KEY;
}

/** JSON.parse of a captured value, with fast paths for plain strings and `{"mode":"match"}`. */
function parseValue(text: string): unknown {
  const c = text.charCodeAt(0);
  if (c === QUOTE) {
    const inner = text.slice(1, -1);
    if (inner.indexOf('\\') === -1 && !CONTROL.test(inner)) return inner;
  } else if (c === LBRACE && text === MATCH_TEXT) {
    return { mode: 'match' };
  }
  return JSON.parse(text);
}

/** The projection of a whole body in one go (tests, benches, and bodies that could not be streamed). */
export function scanBody(
  body: Uint8Array,
  batch: boolean,
  detail: (entryIndex: number) => ResourceDetail | undefined,
): unknown {
  const scanner = new StreamScanner(batch, detail);
  scanner.write(body);
  return scanner.result();
}
