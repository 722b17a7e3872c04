/**
 * Every long-running command stops cleanly on a real signal (src/stop.ts): the real `fhirwatch` bin in its own
 * process, SIGINT or SIGTERM, exit code 0 (not death by the signal, code null), and what it owned reopens in a
 * new process afterwards (the chDB store, the gateway's client registry). A second signal while closing is
 * absorbed, and a signal before the command awaits one (the demo's traffic) is kept, not fatal.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, runFhirwatch } from './bin.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-cli-signals-'));
const running: ChildProcessWithoutNullStreams[] = [];
let ehr: MockEhrServer;

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 10, seed: 5 });
});
afterAll(async () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await ehr?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcessWithoutNullStreams;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>;
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp): Promise<string>;
  /** Resolves once stderr matches `pattern`. */
  stderr(pattern: RegExp): Promise<void>;
}

function start(args: string[], env: Record<string, string> = {}): Started {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env } });
  running.push(child);
  let stdout = '';
  let stderr = '';
  const stderrWaiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const waiter of stderrWaiters) if (waiter.pattern.test(stderr)) waiter.resolve();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>(
    (resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr, stdout })),
  );
  const lines = createInterface({ input: child.stdout });
  const line = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      lines.on('line', (text) => {
        if (pattern.test(text)) resolve(text);
      });
      void exit.then((e) => reject(new Error(`fhirwatch ${args[0]} exited (${e.code ?? e.signal}): ${e.stderr}`)));
    });
  const stderrMatch = (pattern: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      if (pattern.test(stderr)) resolve();
      else stderrWaiters.push({ pattern, resolve });
      void exit.then(() => reject(new Error(`fhirwatch ${args[0]} exited before stderr matched ${pattern}`)));
    });
  return { child, exit, line, stderr: stderrMatch };
}

/**
 * Sends `signal` as soon as the command printed that it is ready (before this change the handler was installed
 * after that line, and a signal in between killed the process: 12 of 20 mock-ehr runs here), then the other
 * signal once the command says it is closing (a second Ctrl-C, a supervisor's repeated SIGTERM; it used to land
 * with no handler left): exit 0 all the same.
 */
async function stopWith(started: Started, signal: NodeJS.Signals, closing: RegExp): Promise<void> {
  started.child.kill(signal);
  await started.stderr(closing);
  started.child.kill(signal === 'SIGINT' ? 'SIGTERM' : 'SIGINT');
  const { code, signal: killedBy } = await started.exit;
  expect({ code, killedBy }).toEqual({ code: 0, killedBy: null });
}

describe('SIGINT / SIGTERM end every long-running command with exit 0, what it owned closed', () => {
  const store = join(dir, 'store');

  it('sink --store: SIGINT (then SIGTERM while closing) → exit 0; the store reopens', async () => {
    const sink = start(['sink', '--store', store, '--port', '0']);
    const url = await sink.line(/^http:\/\//);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await stopWith(sink, 'SIGINT', /fhirwatch sink: SIGINT, flushing and closing/);
    const migrate = await runFhirwatch(['sink', 'migrate', '--store', store]);
    expect(migrate).toMatchObject({ code: 0 });
    expect(migrate.stdout).toMatch(/^applied: none; already applied: /);
  }, 120_000);

  it('console --store: SIGTERM (then SIGINT) → exit 0; the store reopens', async () => {
    const console = start(['console', '--store', store, '--port', '0']);
    const url = await console.line(/^http:\/\//);
    expect((await fetch(url)).headers.get('content-type')).toMatch(/^text\/html/);
    await stopWith(console, 'SIGTERM', /fhirwatch console: SIGTERM, closing/);
    expect(await runFhirwatch(['sink', 'migrate', '--store', store])).toMatchObject({ code: 0 });
  }, 120_000);

  it('gateway: SIGINT (then SIGTERM) → exit 0; its client registry reopens', async () => {
    const config = join(dir, 'gateway.json');
    writeFileSync(
      config,
      JSON.stringify({
        tenants: { '3b2a1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d': { baseUrl: ehr.url, fhirVersion: 'STU3' } },
        dataDir: join(dir, 'gateway-data'),
      }),
    );
    const gateway = start(['gateway', '--port', '0', '--config', config]);
    const url = await gateway.line(/^http:\/\//);
    expect((await fetch(`${url}/metadata`)).status).toBeLessThan(500);
    await stopWith(gateway, 'SIGINT', /fhirwatch gateway: SIGINT, flushing the audit spool and closing/);
    expect(await runFhirwatch(['clients', 'list', '--config', config])).toMatchObject({ code: 0 });
  }, 120_000);

  it('mock-ehr: SIGTERM (then SIGINT) → exit 0', async () => {
    const mock = start(['mock-ehr', '--port', '0', '--patients', '5']);
    const url = await mock.line(/^http:\/\//);
    expect((await fetch(`${url}/metadata`)).status).toBe(200);
    await stopWith(mock, 'SIGTERM', /fhirwatch mock-ehr: SIGTERM, closing/);
  }, 120_000);

  it('demo: SIGINT during the traffic (before any stop is awaited) → traffic ends, exit 0; the store reopens', async () => {
    const demoDir = join(dir, 'demo');
    const demo = start(['demo', '--duration', '120s', '--patients', '40', '--concurrency', '2', '--dir', demoDir]);
    await demo.line(/^Patients-app traffic:/);
    await demo.line(/^\s+\d+ s\s+\d+ requests/);
    demo.child.kill('SIGINT');
    const { code, signal, stdout } = await demo.exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(stdout).toMatch(/SIGINT: stopping before the reports; closing the services and the store/);
    expect(stdout).not.toMatch(/== Compliance/);
    expect(await runFhirwatch(['sink', 'migrate', '--store', join(demoDir, 'store')])).toMatchObject({ code: 0 });
  }, 240_000);
});
