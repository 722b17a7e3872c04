/**
 * `--clickhouse-url` end to end, through the real bin, against a ClickHouse HTTP interface whose engine is real
 * (ClickHouse 26 as chDB, behind @fhirwatch/testkit/clickhouse-http's HTTP framing; see that module for what this
 * does and does not prove): `fhirwatch sink --clickhouse-url` migrates the schema and ingests audit requests over
 * HTTP, `fhirwatch audit … --clickhouse-url` reads them through the query core over @clickhouse/client, and each
 * read is in audit_query_log of that server.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createClient } from '@clickhouse/client';
import { generateAuditDataset } from '@fhirwatch/clickhouse-sink/testing';
import { type ClickHouseHttp, startClickHouseHttp } from '@fhirwatch/testkit/clickhouse-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, runFhirwatch } from './bin.ts';

const dataset = generateAuditDataset({ days: 10, users: 3, patients: 20 });
const range = ['--from', dataset.plants.reportFrom.toISOString(), '--to', dataset.plants.reportTo.toISOString()];
const officer = 'officer-clickhouse-url';
let dir: string;
let server: ClickHouseHttp;
let sink: ChildProcessWithoutNullStreams | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-cli-churl-'));
  server = await startClickHouseHttp({ dir: join(dir, 'ch') });
}, 120_000);

afterAll(async () => {
  if (sink !== undefined && sink.exitCode === null) sink.kill('SIGKILL');
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fhirwatch --clickhouse-url', () => {
  it('sink migrates and ingests over HTTP; audit reads through the query core over HTTP; each read is logged', async () => {
    const child = spawn(process.execPath, [bin, 'sink', '--clickhouse-url', server.url, '--spool', join(dir, 'spool')]);
    sink = child;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const sinkUrl = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`sink exited with ${code}: ${stderr}`)));
    });
    const response = await fetch(`${sinkUrl}/v1/audit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: dataset.records.map((r) => JSON.stringify(r)).join('\n'),
    });
    expect(response.status, await response.text()).toBe(200);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;

    const summary = await runFhirwatch([
      'audit',
      'summary',
      ...range,
      '--clickhouse-url',
      server.url,
      '--format',
      'json',
      '--actor',
      officer,
    ]);
    expect(summary.code, summary.stderr).toBe(0);
    const events = (JSON.parse(summary.stdout) as { rows: { events: number | string }[] }).rows.reduce(
      (sum, row) => sum + Number(row.events),
      0,
    );
    const inRange = dataset.records.filter(
      (r) => r.event_time >= (range[1] as string) && r.event_time < (range[3] as string),
    ).length;
    expect(events).toBeGreaterThan(0);
    expect(events).toBeLessThanOrEqual(inRange);

    const patient = dataset.records.find(
      (r) => r.patient_id !== '' && r.event_time >= (range[1] as string),
    )?.patient_id;
    const access = await runFhirwatch([
      'audit',
      'access',
      '--patient',
      patient as string,
      ...range,
      '--clickhouse-url',
      server.url,
      '--format',
      'csv',
      '--actor',
      officer,
    ]);
    expect(access.code, access.stderr).toBe(0);
    expect(access.stdout.split('\r\n').filter((line) => line !== '').length).toBeGreaterThan(1);

    const client = createClient({ url: server.url });
    try {
      const log = await client.query({
        query: 'SELECT endpoint, actor, auth, surface, status FROM audit_query_log ORDER BY at',
        format: 'JSONEachRow',
      });
      const rows = (await log.json()) as { endpoint: string; actor: string; auth: string; surface: string }[];
      expect(rows.map((r) => [r.endpoint, r.actor, r.auth, r.surface])).toEqual([
        ['summary', officer, 'process', 'cli'],
        ['access', officer, 'process', 'cli'],
      ]);
    } finally {
      await client.close();
    }
  }, 300_000);
});
