/**
 * `fhirwatch mock-ehr` through the real bin: the first stdout line is the FHIR
 * base URL, the server answers there, and SIGTERM stops it cleanly.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const running: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Start the bin and resolve with the process and its first `lines` stdout lines. */
async function startBin(
  args: string[],
  lines: number,
): Promise<{ child: ChildProcessWithoutNullStreams; out: string[] }> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'pipe' });
  running.push(child);
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const out = await new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      buffer += c.toString();
      const got = buffer.split('\n');
      if (got.length > lines) resolve(got.slice(0, lines));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing: ${stderr}`)));
  });
  return { child, out };
}

async function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

describe('fhirwatch mock-ehr', () => {
  it('prints its base URL and a PHI-free summary, serves STU3, stops on SIGTERM', async () => {
    const { child, out } = await startBin(
      ['mock-ehr', '--port', '0', '--fhir-version', 'stu3', '--patients', '1000', '--seed', '42'],
      2,
    );
    const [url, summary] = out as [string, string];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(summary).toBe('mock-ehr: STU3, 1000 patients, seed 42, latency none, error rate 0');
    const response = await fetch(`${url}/metadata`);
    expect(response.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
    const statement = (await response.json()) as { resourceType: string; fhirVersion: string };
    expect(statement.resourceType).toBe('CapabilityStatement');
    expect(statement.fhirVersion).toBe('3.0.2');
    const patients = (await (await fetch(`${url}/Patient?_count=1`)).json()) as { total: number };
    expect(patients.total).toBe(1000);
    expect(await stop(child)).toBe(0);
  });

  it('serves DSTU2 under a base path, with latency and injected errors', async () => {
    const { child, out } = await startBin(
      [
        'mock-ehr',
        '--port',
        '0',
        '--fhir-version',
        'dstu2',
        '--patients',
        '20',
        '--seed',
        '7',
        '--base-path',
        '/fhir',
        '--latency-ms',
        '2',
        '--error-rate',
        '1',
      ],
      2,
    );
    const [url, summary] = out as [string, string];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir$/);
    expect(summary).toBe('mock-ehr: DSTU2, 20 patients, seed 7, latency 2 ms, error rate 1');
    const metadata = (await (await fetch(`${url}/metadata`)).json()) as { resourceType: string };
    expect(metadata.resourceType).toBe('Conformance');
    const failed = await fetch(`${url}/Patient?_count=1`);
    expect([500, 503]).toContain(failed.status);
    expect(((await failed.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    expect(await stop(child)).toBe(0);
  });

  it('rejects bad arguments with exit code 2', async () => {
    const run = promisify(execFile);
    for (const args of [
      ['--fhir-version', 'r9'],
      ['--port', 'x'],
      ['--error-rate', '2'],
      ['--latency-p50-ms', '5'],
      ['--nope'],
    ]) {
      const failure = await run(process.execPath, [bin, 'mock-ehr', ...args]).catch((error: unknown) => error);
      expect(failure, args.join(' ')).toMatchObject({ code: 2 });
    }
  });
});
