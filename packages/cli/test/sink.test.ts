import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MIGRATIONS } from '@fhirwatch/clickhouse-sink/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-cli-sink-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function firstLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

const record = {
  event_id: '019abc00-0000-7000-8000-000000000001',
  event_time: '2026-11-25T13:11:30.123Z',
  recorded_by: 'gw-1',
  seq: 1,
  prev_hash: '',
  hash: 'b'.repeat(64),
  tenant_id: 't1',
  routed_tenant_id: 't1',
  client_id: 'c1',
  user_id: '',
  user_name: '',
  source_ip: '10.0.0.1',
  user_agent: 'PatientsApp/1.0',
  event_type: 'PatientView',
  fhir_interaction: 'read',
  resource_type: 'Patient',
  fhir_version: 'STU3',
  query: '',
  patient_id: 'p1',
  batch_id: '',
  entry_index: -1,
  trace_id: '',
  outcome: 0,
  http_status: 200,
  duration_ms: 1.5,
  result_count: 1,
};

describe('fhirwatch sink', () => {
  it('migrate applies every version once', async () => {
    const store = join(dir, 'migrate-store');
    const versions = MIGRATIONS.map((m) => m.version).join(', ');
    expect(versions).toMatch(/^1, 2, 3, 4, 5(, \d+)*$/);
    const first = await run(process.execPath, [bin, 'sink', 'migrate', '--store', store]);
    expect(first.stdout).toBe(`applied: ${versions}; already applied: none\n`);
    const second = await run(process.execPath, [bin, 'sink', 'migrate', '--store', store]);
    expect(second.stdout).toBe(`applied: none; already applied: ${versions}\n`);
  });

  it('ddl prints the cluster variant', async () => {
    const { stdout } = await run(process.execPath, [bin, 'sink', 'ddl', '--cluster', '{cluster}']);
    expect(stdout).toContain("CREATE TABLE IF NOT EXISTS `default`.`audit_events_local` ON CLUSTER '{cluster}'");
    expect(stdout).toContain('ENGINE = Distributed(');
  });

  it('serves: prints its URL first, ingests audit NDJSON, answers /healthz, stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'sink', '--port', '0', '--store', join(dir, 'serve-store')]);
    try {
      const url = await firstLine(child);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      const body = `${JSON.stringify(record)}\n`;
      const post = () =>
        fetch(`${url}/v1/audit`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      expect(await (await post()).json()).toEqual({ accepted: 1, duplicates: 0 });
      expect(await (await post()).json()).toEqual({ accepted: 0, duplicates: 1 });
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('rejects a missing store with exit code 2', async () => {
    const failure = await run(process.execPath, [bin, 'sink', 'migrate']).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 2 });
  });
});
