/**
 * `fhirwatch audit … --sink-url`: a compliance officer queries while the sink owns the embedded store and keeps
 * ingesting. Through the real bin: `--store` on a store a sink owns prints the exact `--sink-url` command; that
 * command answers (CSV rows as generated), verify exits 0 / 3 by the chain, the VIP list changes, and every read
 * is in the sink's audit_query_log under the OS user.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseCsv } from '@fhirwatch/clickhouse-sink/compliance';
import { generateAuditDataset } from '@fhirwatch/clickhouse-sink/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const dataset = generateAuditDataset({ days: 20 });
const { plants } = dataset;
let dir: string;
let store: string;
let sink: ChildProcessWithoutNullStreams;
let url: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function fhirwatch(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-cli-sink-url-'));
  store = join(dir, 'store');
  sink = spawn(process.execPath, [bin, 'sink', '--store', store]);
  url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: sink.stdout }).once('line', resolve);
    sink.once('exit', (code) => reject(new Error(`sink exited with ${code}`)));
  });
  const body = dataset.records.map((r) => JSON.stringify(r)).join('\n');
  const response = await fetch(`${url}/v1/audit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body,
  });
  expect(response.status).toBe(200);
}, 120_000);

afterAll(async () => {
  const exited = new Promise((resolve) => sink.once('exit', resolve));
  sink.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
});

describe('fhirwatch audit --sink-url', () => {
  const range = ['--from', plants.reportFrom.toISOString(), '--to', plants.reportTo.toISOString()];
  const { user_id } = plants.activityUser;

  it('--store on a store the sink owns names the exact command; that command answers', async () => {
    const args = ['activity', '--store', store, '--user', user_id, ...range, '--format', 'csv'];
    const refused = await fhirwatch(['audit', ...args]);
    expect(refused.code).toBe(1);
    const command = `fhirwatch audit activity --user ${user_id} ${range.join(' ')} --format csv --sink-url ${url}`;
    expect(refused.stderr).toContain(command);
    const answered = await fhirwatch(command.split(' ').slice(1));
    expect(answered.code).toBe(0);
    const rows = parseCsv(answered.stdout);
    const expected = dataset.records.filter(
      (r) => r.user_id === user_id && r.event_time >= range[1]! && r.event_time < range[3]!,
    );
    expect(expected.length).toBeGreaterThan(5);
    const id = (rows[0] as string[]).indexOf('event_id');
    expect(
      rows
        .slice(1)
        .map((r) => r[id])
        .sort(),
    ).toEqual(expected.map((r) => r.event_id).sort());
  });

  it('verify: exit 0 with the writers’ key, 3 with another', async () => {
    const good = join(dir, 'key.txt');
    const bad = join(dir, 'bad-key.txt');
    writeFileSync(good, dataset.key, { mode: 0o600 });
    writeFileSync(bad, 'some-other-key', { mode: 0o600 });
    expect((await fhirwatch(['audit', 'verify', '--sink-url', url, '--hmac-key-file', good])).code).toBe(0);
    const broken = await fhirwatch(['audit', 'verify', '--sink-url', url, '--hmac-key-file', bad]);
    expect(broken.code).toBe(3);
    expect(broken.stdout).toContain('broken');
  });

  it('VIP add and list, a monitoring report, and every read recorded under the OS user', async () => {
    expect(
      (await fhirwatch(['audit', 'vip', 'add', '--sink-url', url, '--patient', 'p-east-42', '--reason', 'press'])).code,
    ).toBe(0);
    const list = await fhirwatch(['audit', 'vip', 'list', '--sink-url', url, '--format', 'json']);
    expect(JSON.parse(list.stdout).rows.map((r: { patient_id: string }) => r.patient_id)).toContain('p-east-42');
    const report = await fhirwatch(['audit', 'report', 'failures', '--sink-url', url, ...range, '--format', 'json']);
    expect(report.code).toBe(0);
    expect(JSON.parse(report.stdout).count).toBeGreaterThan(0);
    const bad = await fhirwatch(['audit', 'summary', '--sink-url', url, '--since', 'soon']);
    expect(bad.code).toBe(2);
    const log = (await (await fetch(`${url}/api/audit/query-log?limit=100`)).json()) as {
      rows: { endpoint: string; actor: string }[];
    };
    const mine = log.rows.filter((r) => r.actor === userInfo().username).map((r) => r.endpoint);
    expect(mine).toEqual(expect.arrayContaining(['activity', 'verify', 'vip:post', 'vip', 'report:failures']));
  });
});
