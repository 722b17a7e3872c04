/**
 * The console's static files: public/ of this package and uPlot (MIT) from its npm package, read from disk at
 * start and served from memory. Nothing is fetched from a CDN: the console works offline.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUDIT_EVENT_TYPES } from '@fhirwatch/contract';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

const publicDir = fileURLToPath(new URL('../public/', import.meta.url));
const require = createRequire(import.meta.url);
const uplotDir = join(dirname(require.resolve('uplot')), '.');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const typeOf = (file: string): string => TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';

/** Path under the console's base (`/`) → file. */
const FILES: Record<string, string> = {
  'index.html': join(publicDir, 'index.html'),
  'app.js': join(publicDir, 'app.js'),
  'charts.js': join(publicDir, 'charts.js'),
  'app.css': join(publicDir, 'app.css'),
  'vendor/uPlot.iife.min.js': join(uplotDir, 'uPlot.iife.min.js'),
  'vendor/uPlot.min.css': join(uplotDir, 'uPlot.min.css'),
};

let cache: Map<string, Asset> | undefined;

export function consoleAssets(): Map<string, Asset> {
  cache ??= new Map(
    Object.entries(FILES).map(([path, file]) => [path, { type: typeOf(file), body: readFileSync(file) }]),
  );
  // the audit search's event-type filter offers exactly the contract's 11 types (one home for the list)
  cache.set('event-types.js', {
    type: TYPES['.js'] ?? 'text/javascript',
    body: Buffer.from(`export const EVENT_TYPES = ${JSON.stringify(AUDIT_EVENT_TYPES)};\n`),
  });
  return cache;
}
