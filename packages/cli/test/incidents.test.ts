/**
 * Incidents across a real sink restart, through the real bin: `fhirwatch sink --store … --incidents cfg.json`
 * (real chDB) is fed the seeded dataset; its monitor turns the planted hits into incidents while the privacy
 * team's JSON webhook on 127.0.0.1 answers 503 (down). The sink is stopped (SIGTERM) and started again on the same
 * store: its scheduled runs find the same hits and create nothing new, and once the receiver is up every incident
 * arrives exactly once, from the outbox the first process left. Then `fhirwatch audit incidents list|show|ack|close`
 * on --sink-url and, with the sink stopped, on --store: the state changes are recorded, and every one of those reads
 * is in audit_query_log.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openStore } from '@fhirwatch/clickhouse-sink';
import { DATASET_TENANTS, generateAuditDataset } from '@fhirwatch/clickhouse-sink/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const dataset = generateAuditDataset({ days: 20 });
const [EAST, BERLIN] = DATASET_TENANTS as [(typeof DATASET_TENANTS)[0], (typeof DATASET_TENANTS)[0]];
let dir: string;
let store: string;
let config: string;
let receiver: Server;
let receiverUp = false;
const received: { key: string; id: string }[] = [];
let refused = 0;

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

interface RunningSink {
  child: ChildProcessWithoutNullStreams;
  url: string;
  /** stderr lines so far. */
  log: string[];
}

const children = new Set<ChildProcessWithoutNullStreams>();

async function startSinkProcess(): Promise<RunningSink> {
  const child = spawn(process.execPath, [bin, 'sink', '--store', store, '--incidents', config]);
  children.add(child);
  child.once('exit', () => children.delete(child));
  const log: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => log.push(line));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sink exited with ${code}: ${log.join('\n')}`)));
  });
  return { child, url, log };
}

async function stop(sink: RunningSink): Promise<void> {
  const exited = new Promise((resolve) => sink.child.once('exit', resolve));
  sink.child.kill('SIGTERM');
  await exited;
}

async function until(what: string, check: () => boolean, ms = 150_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const runs = (sink: RunningSink): { count: number; created: number } => {
  const lines = sink.log.filter((l) => l.includes('"FW_INCIDENTS_RUN"')).map((l) => JSON.parse(l) as { rows: number });
  return { count: lines.length, created: lines.reduce((sum, l) => sum + l.rows, 0) };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-cli-incidents-'));
  store = join(dir, 'store');
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!receiverUp) {
        refused += 1;
        res.writeHead(503).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { incident_id: string };
      received.push({ key: String(req.headers['idempotency-key']), id: body.incident_id });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;
  config = join(dir, 'incidents.json');
  writeFileSync(
    config,
    JSON.stringify({
      evaluateAt: dataset.plants.reportTo.toISOString(),
      intervalMinutes: 0.02,
      periodHours: 720,
      tickMs: 300,
      deliveryPollMs: 200,
      retryBaseMs: 300,
      retryMaxMs: 1000,
      destinations: [{ name: 'privacy-json', type: 'webhook', url: `http://127.0.0.1:${port}/hook` }],
    }),
  );
  const migrated = await fhirwatch(['sink', 'migrate', '--store', store]);
  expect(migrated.code, migrated.stderr).toBe(0);
  for (const tenant of [EAST, BERLIN]) {
    const set = await fhirwatch([
      'audit',
      'settings',
      'set',
      '--store',
      store,
      '--tenant',
      tenant.id,
      '--time-zone',
      tenant.timeZone,
      '--incident-settings',
      '{"periodHours":720}',
    ]);
    expect(set.code, set.stderr).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  for (const child of children) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('incidents across a sink restart (real process, real chDB)', () => {
  let incidentIds: string[] = [];

  it('stores each hit once across scheduled runs and a restart; the outbox delivers each once after the outage', async () => {
    const first = await startSinkProcess();
    const body = dataset.records.map((r) => JSON.stringify(r)).join('\n');
    const posted = await fetch(`${first.url}/v1/audit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
    });
    expect(posted.status).toBe(200);
    await until('incidents in the first process', () => runs(first).created > 0);
    await until('another run and a refused delivery', () => runs(first).count >= 2 && refused > 0);
    const created = runs(first).created;
    const listed = await fhirwatch(['audit', 'incidents', 'list', '--sink-url', first.url, '--format', 'json']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = (JSON.parse(listed.stdout) as { rows: { incident_id: string; state: string }[] }).rows;
    expect(rows.length).toBe(created);
    expect(rows.every((r) => r.state === 'open')).toBe(true);
    incidentIds = rows.map((r) => r.incident_id).sort();
    expect(received).toEqual([]);
    await stop(first);

    // the same store, a new process; the receiver comes up
    receiverUp = true;
    const second = await startSinkProcess();
    await until('two scheduled runs of the new process', () => runs(second).count >= 2);
    await until('every incident delivered', () => received.length >= incidentIds.length);
    await until('another run after the deliveries', () => runs(second).count >= 3);
    expect(runs(second).created).toBe(0);
    expect(received.map((r) => r.id).sort()).toEqual(incidentIds);
    expect(received.every((r) => r.key === `${r.id}:privacy-json`)).toBe(true);
    const again = await fhirwatch(['audit', 'incidents', 'list', '--sink-url', second.url, '--format', 'json']);
    expect((JSON.parse(again.stdout) as { rows: unknown[] }).rows.length).toBe(incidentIds.length);

    // lifecycle through the sink
    const id = incidentIds[0] as string;
    const ack = await fhirwatch(['audit', 'incidents', 'ack', id, '--sink-url', second.url, '--actor', 'dana']);
    expect(ack.code, ack.stderr).toBe(0);
    const noNote = await fhirwatch(['audit', 'incidents', 'close', id, '--sink-url', second.url]);
    expect(noNote.code).toBe(2);
    expect(noNote.stderr).toContain('--note');
    await stop(second);
  }, 480_000);

  it('audit incidents on --store: show, close with a note, a bad change refused; every read in audit_query_log', async () => {
    const id = incidentIds[0] as string;
    const close = await fhirwatch([
      'audit',
      'incidents',
      'close',
      id,
      '--store',
      store,
      '--actor',
      'dana',
      '--note',
      'reviewed with the clinic lead: covering a colleague',
    ]);
    expect(close.code, close.stderr).toBe(0);
    const twice = await fhirwatch(['audit', 'incidents', 'close', id, '--store', store, '--note', 'again']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('FW_SINK_CONFLICT');
    const unknown = await fhirwatch(['audit', 'incidents', 'show', '__proto__', '--store', store]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('FW_SINK_NOT_FOUND');
    const shown = await fhirwatch(['audit', 'incidents', 'show', id, '--store', store, '--format', 'json']);
    expect(shown.code, shown.stderr).toBe(0);
    const detail = JSON.parse(shown.stdout) as {
      incident: { state: string };
      events: { actor: string; from_state: string; to_state: string; note: string }[];
      deliveries: { destination: string; status: string; attempts: number }[];
    };
    expect(detail.incident.state).toBe('closed');
    expect(detail.events.map((e) => [e.actor, e.from_state, e.to_state])).toEqual([
      ['fhirwatch-sink', '', 'open'],
      ['dana', 'open', 'acknowledged'],
      ['dana', 'acknowledged', 'closed'],
    ]);
    expect(detail.events[2]?.note).toBe('reviewed with the clinic lead: covering a colleague');
    expect(detail.deliveries).toHaveLength(1);
    expect(detail.deliveries[0]?.status).toBe('delivered');
    expect(detail.deliveries[0]?.attempts).toBeGreaterThan(1);
    const table = await fhirwatch(['audit', 'incidents', 'list', '--store', store, '--state', 'closed']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(id);

    const client = openStore({ path: store });
    try {
      const result = await client.query({
        query: `SELECT endpoint, surface, actor, status FROM audit_query_log WHERE endpoint LIKE 'incidents%' ORDER BY at`,
        format: 'JSONEachRow',
      });
      const reads = (await result.json()) as { endpoint: string; surface: string; actor: string; status: number }[];
      // sink-url reads (surface api) and in-process ones (surface cli), failures too
      expect(reads.some((r) => r.surface === 'api' && r.endpoint === 'incidents:post' && r.actor === 'dana')).toBe(
        true,
      );
      expect(reads.some((r) => r.surface === 'cli' && r.endpoint === 'incidents:post' && r.status === 200)).toBe(true);
      expect(reads.some((r) => r.surface === 'cli' && r.endpoint === 'incidents:post' && r.status === 409)).toBe(true);
      expect(reads.some((r) => r.surface === 'cli' && r.endpoint === 'incidents' && r.status === 404)).toBe(true);
    } finally {
      await client.close();
    }
  });
});
