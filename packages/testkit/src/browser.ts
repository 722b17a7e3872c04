/**
 * The one way every browser test (console, go-live report, benches) gets a Chromium, driven by playwright-core:
 * `$CHROMIUM_PATH` when set, else Debian's `chromium` when installed, else the Chromium that the npm package
 * `@sparticuz/chromium` ships (brotli-compressed inside the package, so `npm ci` brings it: no download at run
 * time), unpacked on first use into the cache outside the repository (cache.ts) and reused afterwards.
 * No browser is an error that names the command that fixes it; a test never skips for it.
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  createReadStream,
  createWriteStream,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { type Browser, chromium, type LaunchOptions } from 'playwright-core';
import { buildOnce, cacheDir } from './cache.ts';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
export const NPM_CHROMIUM_PACKAGE = '@sparticuz/chromium';
/** The command that brings the npm Chromium back (it is a dependency of this package). */
export const FIX_COMMAND = 'npm ci';

/** Flags for a headless browser run as root in a test: no sandbox (root), no GPU, no background traffic. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * The browser's locale, whatever the machine's: under LANG=C.UTF-8 (this kind of machine) the npm build reports
 * `navigator.language` as `en-US@posix`, which `Intl.NumberFormat` refuses, and uPlot (console charts) fails to
 * load. Tests render in one defined locale instead.
 */
export const BROWSER_LOCALE: Readonly<Record<string, string>> = { LANG: 'en_US.UTF-8', LC_ALL: 'en_US.UTF-8' };

export interface ChromiumExecutable {
  path: string;
  /** Where it came from: `CHROMIUM_PATH`, `debian` or `npm`. */
  source: 'CHROMIUM_PATH' | 'debian' | 'npm';
  /** Environment the browser needs (the npm build's fontconfig file). */
  env: Record<string, string>;
}

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** `bin/` of the installed `@sparticuz/chromium` and its version, or undefined when it is not installed. */
export function npmChromiumPackage(): { binDir: string; version: string } | undefined {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(NPM_CHROMIUM_PACKAGE);
  } catch {
    return undefined;
  }
  const root = join(dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return { binDir: join(root, 'bin'), version };
}

async function untarBrotli(archive: string, into: string): Promise<void> {
  // Decompressed to a file first, then `tar -xf`: piping into tar's stdin raced with tar exiting once it had read the
  // end-of-archive blocks (the pipeline then failed with "Premature close" on a clean clone).
  const plain = join(into, '.unpack.tar');
  await pipeline(createReadStream(archive), createBrotliDecompress(), createWriteStream(plain));
  const tar = spawn('tar', ['-x', '--no-same-owner', '-f', plain, '-C', into], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      tar.once('error', reject);
      tar.once('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`tar -x ${archive} exited ${code}: ${stderr.trim()}`)),
      );
    });
  } finally {
    rmSync(plain, { force: true });
  }
}

/**
 * Unpacks the npm package's Chromium (`chromium.br` in the package's bin folder, about 200 MB unpacked) and its fonts into
 * `<cache>/chromium-<version>/` once; later calls return at once.
 */
export async function unpackNpmChromium(binDir: string, version: string): Promise<ChromiumExecutable> {
  const archive = join(binDir, 'chromium.br');
  try {
    accessSync(archive, constants.R_OK);
  } catch {
    throw new Error(
      `no Chromium for the browser tests: ${archive} is missing (${NPM_CHROMIUM_PACKAGE} not installed, or ` +
        `incompletely). Fix: \`${FIX_COMMAND}\` at the repository root (or install Debian's chromium).`,
    );
  }
  const dir = await buildOnce(join(cacheDir(), `chromium-${version}`), async (tmp) => {
    await pipeline(
      createReadStream(archive),
      createBrotliDecompress(),
      createWriteStream(join(tmp, 'chromium'), { mode: 0o755 }),
    );
    await untarBrotli(join(binDir, 'fonts.tar.br'), tmp);
  });
  // Written on every call (cheap): the fonts the package ships, then the machine's own when it has any.
  const fontsConf = join(dir, 'fonts.conf');
  writeFileSync(
    fontsConf,
    `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n` +
      `  <dir>${join(dir, 'fonts')}</dir>\n  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n` +
      `  <cachedir>${join(dir, 'fontconfig-cache')}</cachedir>\n</fontconfig>\n`,
  );
  return { path: join(dir, 'chromium'), source: 'npm', env: { FONTCONFIG_FILE: fontsConf } };
}

export interface FindChromiumOptions {
  /** Skip `$CHROMIUM_PATH` and Debian's chromium (to test the npm build where Debian's is installed). */
  npmOnly?: boolean;
}

/** The Chromium to drive; see the file header for the order. Throws with the fixing command when there is none. */
export async function findChromium(options: FindChromiumOptions = {}): Promise<ChromiumExecutable> {
  if (options.npmOnly !== true) {
    const explicit = process.env.CHROMIUM_PATH;
    if (explicit !== undefined && explicit !== '') {
      if (!executable(explicit)) throw new Error(`CHROMIUM_PATH=${explicit} is not an executable file`);
      return { path: explicit, source: 'CHROMIUM_PATH', env: {} };
    }
    if (executable(DEBIAN_CHROMIUM)) return { path: DEBIAN_CHROMIUM, source: 'debian', env: {} };
  }
  const pkg = npmChromiumPackage();
  if (pkg === undefined) {
    throw new Error(
      `no Chromium for the browser tests: neither Debian's chromium (${DEBIAN_CHROMIUM}) nor the npm package ` +
        `${NPM_CHROMIUM_PACKAGE} is installed. Fix: \`${FIX_COMMAND}\` at the repository root.`,
    );
  }
  return unpackNpmChromium(pkg.binDir, pkg.version);
}

/** `chromium.launch` on `findChromium()`'s browser, headless, with CHROMIUM_ARGS before the caller's args. */
export async function launchChromium(options: LaunchOptions & FindChromiumOptions = {}): Promise<Browser> {
  const { npmOnly, ...launch } = options;
  const found = await findChromium({ npmOnly });
  return chromium.launch({
    ...launch,
    executablePath: found.path,
    args: [...CHROMIUM_ARGS, ...(launch.args ?? [])],
    env: { ...process.env, ...BROWSER_LOCALE, ...found.env, ...launch.env },
  });
}
