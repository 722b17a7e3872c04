/**
 * One path for every read of audit records: `fhirwatch audit` runs the query API's core in its own process for
 * `--store` and asks a sink over HTTP for `--sink-url`. The same command gives the same bytes on both paths, and
 * each read is in audit_query_log with who asked (`--actor`, else the OS user) — written before the answer: a
 * store whose query log cannot be written answers nothing.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openStore } from '@fhirwatch/clickhouse-sink';
import { AUDIT_QUERY_LOG_TABLE } from '@fhirwatch/clickhouse-sink/store';
import { generateAuditDataset } from '@fhirwatch/clickhouse-sink/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BinRun, bin, runFhirwatch } from './bin.ts';

const dataset = generateAuditDataset({ days: 20, users: 3, patients: 40 });
const { plants } = dataset;
const range = ['--from', plants.reportFrom.toISOString(), '--to', plants.reportTo.toISOString()];
const officer = 'officer-one-path';
let dir: string;
let store: string;
let sink: ChildProcessWithoutNullStreams | undefined;

const fhirwatch = runFhirwatch;

async function startSinkProcess(): Promise<string> {
  const child = spawn(process.execPath, [bin, 'sink', '--store', store]);
  sink = child;
  return new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sink exited with ${code}`)));
  });
}

async function stopSinkProcess(): Promise<void> {
  const child = sink;
  sink = undefined;
  if (child === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** The patient viewed most often in the report range (a non-trivial access report). */
function busiestPatient(): string {
  const counts = new Map<string, number>();
  for (const r of dataset.records) {
    if (r.patient_id === '' || r.event_time < range[1]! || r.event_time >= range[3]!) continue;
    counts.set(r.patient_id, (counts.get(r.patient_id) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
}

/** The commands compared across paths: every read kind, every format. */
function commands(): { name: string; args: string[] }[] {
  const patient = busiestPatient();
  const user = plants.activityUser.user_id;
  return [
    { name: 'access table', args: ['access', '--patient', patient, ...range] },
    { name: 'access csv', args: ['access', '--patient', patient, ...range, '--format', 'csv'] },
    { name: 'access json', args: ['access', '--patient', patient, ...range, '--format', 'json'] },
    { name: 'activity fhir', args: ['activity', '--user', user, ...range, '--format', 'fhir'] },
    { name: 'report failures csv', args: ['report', 'failures', ...range, '--format', 'csv'] },
    { name: 'summary table', args: ['summary', ...range] },
  ];
}

/** A FHIR Bundle's `timestamp` is the moment it was made: the one byte range that may differ between runs. */
const stable = (text: string): string => text.replace(/"timestamp": "[^"]+"/, '"timestamp": "<now>"');

interface LogRow {
  actor: string;
  principal: string;
  auth: string;
  surface: string;
  endpoint: string;
  parameters: string;
  rows: number;
  status: number;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-cli-one-path-'));
  store = join(dir, 'store');
  const url = await startSinkProcess();
  const response = await fetch(`${url}/v1/audit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: dataset.records.map((r) => JSON.stringify(r)).join('\n'),
  });
  expect(response.status).toBe(200);
  await stopSinkProcess();
}, 120_000);

afterAll(async () => {
  await stopSinkProcess();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fhirwatch audit: one path for every read', () => {
  it('the same command gives the same bytes on --store and --sink-url; each read is logged with who asked', async () => {
    const local = new Map<string, BinRun>();
    for (const { name, args } of commands()) {
      local.set(name, await fhirwatch(['audit', ...args, '--store', store, '--actor', officer]));
    }
    // no --actor: the OS user is the one who asked
    const plain = await fhirwatch(['audit', 'summary', ...range, '--store', store, '--format', 'csv']);
    expect(plain.code).toBe(0);

    const url = await startSinkProcess();
    try {
      for (const { name, args } of commands()) {
        const mine = local.get(name)!;
        expect(mine.code, `${name} --store: ${mine.stderr}`).toBe(0);
        expect(mine.stdout.length, name).toBeGreaterThan(100);
        const remote = await fhirwatch(['audit', ...args, '--sink-url', url, '--actor', officer]);
        expect(remote.code, `${name} --sink-url: ${remote.stderr}`).toBe(0);
        expect(stable(remote.stdout), name).toBe(stable(mine.stdout));
        expect(remote.stderr, name).toBe(mine.stderr);
      }
      const remotePlain = await fhirwatch(['audit', 'summary', ...range, '--sink-url', url, '--format', 'csv']);
      expect(remotePlain.stdout).toBe(plain.stdout);

      const log = (await (await fetch(`${url}/api/audit/query-log?limit=1000`)).json()) as { rows: LogRow[] };
      const rows = [...log.rows].reverse(); // oldest first
      const expected = ['access', 'access', 'access', 'activity', 'report:failures', 'summary'];
      const cli = rows.filter((r) => r.surface === 'cli');
      expect(cli.map((r) => r.endpoint)).toEqual([...expected, 'summary']);
      for (const row of cli) {
        expect(row.auth).toBe('process');
        expect(row.principal).toBe(`os:${userInfo().username}`);
        expect(row.status).toBe(200);
      }
      expect(cli.slice(0, -1).every((r) => r.actor === officer)).toBe(true);
      expect(cli.at(-1)?.actor).toBe(userInfo().username);
      expect(cli[0]?.rows).toBeGreaterThan(0);
      expect(JSON.parse(cli[0]!.parameters).patient).toBe(busiestPatient());
      const api = rows.filter((r) => r.surface === 'api' && r.endpoint !== 'query-log');
      expect(api.map((r) => r.endpoint)).toEqual([...expected, 'summary']);
      expect(api.slice(0, -1).every((r) => r.actor === officer)).toBe(true);
      expect(api.at(-1)?.actor).toBe(userInfo().username);
    } finally {
      await stopSinkProcess();
    }
  }, 300_000);

  it('an unknown command is refused, never run as another', async () => {
    const run = await fhirwatch(['audit', 'verfiy', '--store', store, '--hmac-key-file', '/nonexistent']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown audit command 'verfiy'");
    expect(run.stdout).toBe('');
  });

  it('a read whose log row cannot be written answers nothing (the log comes before the answer)', async () => {
    const client = openStore({ path: store });
    await client.command({ query: `DROP TABLE ${AUDIT_QUERY_LOG_TABLE}` });
    await client.close();
    const run = await fhirwatch(['audit', 'access', '--patient', busiestPatient(), ...range, '--store', store]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('FW_SINK_STORE_UNAVAILABLE');
  }, 60_000);
});
