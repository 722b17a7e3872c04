/** The real `fhirwatch` bin, run as a user would, for the CLI tests. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const exec = promisify(execFile);

export interface BinRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `fhirwatch …args` with extra environment variables; a non-zero exit is returned, not thrown. */
export async function runFhirwatch(args: readonly string[], env: Record<string, string> = {}): Promise<BinRun> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
