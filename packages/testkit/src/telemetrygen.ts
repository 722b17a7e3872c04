/**
 * The OpenTelemetry Collector's load generator `telemetrygen` (Go, Apache-2.0) for the sink's OTLP test, built on
 * first use with `go install` from the Go module proxy into the cache outside the repository
 * (`<cache>/telemetrygen-<version>/telemetrygen`, cache.ts) and reused afterwards. `$TELEMETRYGEN` names a binary
 * to use instead. Go is a prerequisite (README); without it the error says what to install.
 * The first build downloads the module graph and compiles it: minutes on a loaded 2-core machine
 * (9 min measured at load average 28; TELEMETRYGEN_BUILD_TIMEOUT_MS bounds it, and callers give their hook at least that long).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, cacheDir } from './cache.ts';

const run = promisify(execFile);

export const TELEMETRYGEN_VERSION = 'v0.161.0';
export const TELEMETRYGEN_MODULE = 'github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen';
/** How long the first build may take before it is an error (a cached build returns at once). */
export const TELEMETRYGEN_BUILD_TIMEOUT_MS = 20 * 60_000;
/** The Go installation's default place, used when `go` is not on PATH. */
const GO_FALLBACK = '/usr/local/go/bin/go';

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** `go` on PATH, else /usr/local/go/bin/go; undefined when neither exists. */
export function findGo(path: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, 'go'))) return join(dir, 'go');
  }
  return executable(GO_FALLBACK) ? GO_FALLBACK : undefined;
}

export const GO_MISSING =
  'telemetrygen is built on first use with `go install`, and Go is not installed (no `go` on PATH nor ' +
  `${GO_FALLBACK}). Fix: install Go >= 1.26 (https://go.dev/doc/install; Debian: \`apt-get install golang-go\` ` +
  'if its version is new enough) and rerun; or set TELEMETRYGEN to a telemetrygen binary.';

/**
 * The telemetrygen binary: `$TELEMETRYGEN`, else the cached build of TELEMETRYGEN_VERSION, built now if absent
 * with Go (`options.go`: a path, `null` for none; default findGo()).
 */
export async function telemetrygen(options: { go?: string | null } = {}): Promise<string> {
  const explicit = process.env.TELEMETRYGEN;
  if (explicit !== undefined && explicit !== '') {
    if (!executable(explicit)) throw new Error(`TELEMETRYGEN=${explicit} is not an executable file`);
    return explicit;
  }
  const dir = join(cacheDir(), `telemetrygen-${TELEMETRYGEN_VERSION}`);
  const binary = join(dir, 'telemetrygen');
  if (executable(binary)) return binary;
  const go = options.go === undefined ? findGo() : options.go;
  if (go === null || go === undefined) throw new Error(GO_MISSING);
  await buildOnce(dir, async (gobin) => {
    try {
      await run(go, ['install', `${TELEMETRYGEN_MODULE}@${TELEMETRYGEN_VERSION}`], {
        env: { ...process.env, GOBIN: gobin, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' },
        timeout: TELEMETRYGEN_BUILD_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      throw new Error(
        `go install ${TELEMETRYGEN_MODULE}@${TELEMETRYGEN_VERSION} failed (GOBIN=${gobin}): ` +
          `${(stderr ?? String(error)).trim().slice(-2000)}`,
      );
    }
  });
  return binary;
}
