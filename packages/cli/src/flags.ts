/**
 * The CLI's flag rules in one place: key files (and, below, the other shared flag kinds). Each command
 * parses its own argv with node:util parseArgs and turns the values into options with these helpers.
 */
import { readFileSync } from 'node:fs';
import { type HmacKeyEncoding, parseHmacKeyFile } from '@fhirwatch/contract';
import { UsageError } from './command.ts';

/**
 * The HMAC chain key in `file` (the contract's key-file format, docs/wire.md): `auto` takes hex of at
 * least 16 bytes as hex and any other text as its UTF-8 bytes (a passphrase); `hex` refuses non-hex.
 */
export function readHmacKeyFile(file: string, encoding: HmacKeyEncoding = 'auto', flag = '--hmac-key-file'): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`${flag} cannot be read`);
  }
  return hmacKeyFromText(text, encoding);
}

/** The key in `text` (a key file's content or an environment variable's value), by `encoding`. */
export function hmacKeyFromText(text: string, encoding: HmacKeyEncoding): Buffer {
  const key = parseHmacKeyFile(text, encoding);
  if (key === undefined) throw new UsageError('the HMAC key is not hex');
  return Buffer.from(key);
}
