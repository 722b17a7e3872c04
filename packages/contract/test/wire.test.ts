import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crcHex,
  formatHmacKeyFile,
  frameSpoolLine,
  isHexKeyText,
  parseHmacKeyFile,
  SPOOL_PREFIX_BYTES,
  spoolLineProblem,
  writeSpoolPrefix,
} from '../src/index.ts';

const enc = new TextEncoder();

function problemOf(line: string): ReturnType<typeof spoolLineProblem> {
  const bytes = enc.encode(line);
  return spoolLineProblem(bytes, 0, bytes.length, crc32);
}

describe('spool framing', () => {
  it('frames a line as 8 lowercase hex digits of the CRC-32 of the JSON bytes, a space, the JSON and a newline', () => {
    const json = '{"a":"é"}';
    const line = frameSpoolLine(json, crc32);
    expect(line).toBe(`${(crc32(Buffer.from(json, 'utf8')) >>> 0).toString(16).padStart(8, '0')} ${json}\n`);
    expect(line).toMatch(/^[0-9a-f]{8} /);
    expect(problemOf(line.slice(0, -1))).toBeUndefined();
  });

  it('writeSpoolPrefix writes the same prefix in place as frameSpoolLine', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        const json = JSON.stringify({ text });
        const body = enc.encode(json);
        const bytes = new Uint8Array(SPOOL_PREFIX_BYTES + body.length);
        bytes.set(body, SPOOL_PREFIX_BYTES);
        writeSpoolPrefix(bytes, 0, bytes.length, crc32);
        expect(`${new TextDecoder().decode(bytes)}\n`).toBe(frameSpoolLine(json, crc32));
      }),
    );
  });

  it('takes lowercase hex only: the same line with upper-case digits is a CRC problem', () => {
    let json = '{"n":0}';
    for (let n = 0; !/[a-f]/.test(crcHex(crc32(json))); n++) json = `{"n":${n}}`;
    const line = frameSpoolLine(json, crc32).slice(0, -1);
    expect(problemOf(line)).toBeUndefined();
    expect(problemOf(line.slice(0, 8).toUpperCase() + line.slice(8))).toBe('crc');
  });

  it('names framing and CRC problems', () => {
    expect(problemOf('0000000 {}')).toBe('framing');
    expect(problemOf('00000000{}')).toBe('framing');
    expect(problemOf('00000000 ')).toBe('framing');
    expect(problemOf('00000000 {"a":1}')).toBe('crc');
    expect(problemOf('zzzzzzzz {"a":1}')).toBe('crc');
  });

  it('checks a line inside a larger buffer by its range', () => {
    const text = frameSpoolLine('{"a":1}', crc32) + frameSpoolLine('{"b":2}', crc32);
    const bytes = enc.encode(text);
    const nl = bytes.indexOf(10);
    expect(spoolLineProblem(bytes, 0, nl, crc32)).toBeUndefined();
    expect(spoolLineProblem(bytes, nl + 1, bytes.length - 1, crc32)).toBeUndefined();
    expect(spoolLineProblem(bytes, 0, bytes.length - 1, crc32)).toBe('crc');
  });
});

describe('HMAC key file', () => {
  it('round-trips any key of 16 bytes or more through its text form (lowercase hex and a newline)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 64 }), (key) => {
        const text = formatHmacKeyFile(key);
        expect(text).toBe(`${Buffer.from(key).toString('hex')}\n`);
        expect(parseHmacKeyFile(text)).toEqual(key);
        expect(parseHmacKeyFile(`  ${text.toUpperCase()} \n`)).toEqual(key);
      }),
    );
  });

  it('hex refuses short or non-hex text; auto and utf8 take the text as its bytes', () => {
    expect(parseHmacKeyFile('abcd')).toBeUndefined();
    expect(parseHmacKeyFile('my passphrase of some length!!!!')).toBeUndefined();
    expect(parseHmacKeyFile(' my passphrase \n', 'auto')).toEqual(enc.encode('my passphrase'));
    const hex = '00112233445566778899aabbccddeeff';
    expect(parseHmacKeyFile(hex, 'auto')).toEqual(Uint8Array.from(Buffer.from(hex, 'hex')));
    expect(parseHmacKeyFile(hex, 'utf8')).toEqual(enc.encode(hex));
    expect(isHexKeyText(hex)).toBe(true);
    expect(isHexKeyText(hex.slice(1))).toBe(false);
  });
});
