/**
 * `fhirwatch gateway` as a partner runs it: a separate process started with a config file, audit on,
 * in front of two mock EHRs (through a recording proxy), shipping to the real sink (embedded chDB).
 * Covers: records reach the store (HMAC chain verifies with the configured key file), the startup
 * summary, refused methods / batch entries / forwarding headers, STU3 substring searches, the
 * Patients-app traffic's STU3 sessions reaching their list refresh, graceful shutdown, tokens
 * surviving a restart on another port, and config errors that stop the start naming the key.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type SinkServer, startSink } from '@fhirwatch/clickhouse-sink';
import { verifyAuditChain } from '@fhirwatch/clickhouse-sink/compliance';
import { AUDIT_DEDUP_VIEW } from '@fhirwatch/clickhouse-sink/store';
import { listRefreshBundle } from '@fhirwatch/contract';
import { openClientRegistry } from '@fhirwatch/gateway';
import { runPatientsAppTraffic } from '@fhirwatch/loadtests';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchToken, tempDir } from './stack.ts';

const bin = fileURLToPath(new URL('../../cli/bin/fhirwatch.js', import.meta.url));
const execFileAsync = promisify(execFile);
const TENANT_STU3 = '5d0c7a1e-2b3f-4c4d-8e5f-6a7b8c9d0e1f';
const TENANT_DSTU2 = '6e1d8b2f-3c4a-4d5e-9f6a-7b8c9d0e1f2a';
const RECORDED_BY = 'e2e-process-gateway';

const dir = tempDir('process');
const configFile = join(dir, 'gateway.json');
const keyFile = join(dir, 'keys', 'hmac.key');
let sink: SinkServer;
let stu3: MockEhrServer;
let dstu2: MockEhrServer;
let proxy: Server;
let proxyUrl = '';
/** Request headers as the STU3 provider received them. */
const seenHeaders: IncomingHttpHeaders[] = [];
/** Request bodies (batches) as the STU3 provider received them. */
const seenBodies: string[] = [];
let client: { clientId: string; clientSecret: string };

interface Running {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
}

/** Start `fhirwatch gateway --config <file> --port 0`; resolves with its URL (first stdout line). */
function startGateway(): Promise<Running> {
  const child = spawn(process.execPath, [bin, 'gateway', '--config', configFile, '--port', '0', '--quiet'], {
    env: { ...process.env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    lines.once('line', (url) => resolve({ child, url, stderr: () => stderr }));
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
  });
}

async function stop(running: Running): Promise<number | null> {
  const exit = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
  running.child.kill('SIGTERM');
  return exit;
}

beforeAll(async () => {
  sink = await startSink({ store: join(dir, 'store'), flushIntervalMs: 200 });
  // 200 patients: every name fragment of the traffic generator is inside some family name here.
  stu3 = await startMockEhr({ fhirVersion: 'STU3', patients: 200, seed: 31 });
  dstu2 = await startMockEhr({ fhirVersion: 'DSTU2', patients: 20, seed: 32 });
  // A recording proxy in front of the STU3 provider: what the provider actually receives.
  const target = new URL(stu3.url);
  proxy = createServer((req, res) => {
    seenHeaders.push(req.headers);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length > 0) seenBodies.push(body.toString('utf8'));
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  writeFileSync(
    configFile,
    JSON.stringify({
      tenants: {
        [TENANT_STU3]: { baseUrl: proxyUrl, fhirVersion: 'STU3' },
        [TENANT_DSTU2]: { baseUrl: dstu2.url, fhirVersion: 'DSTU2' },
      },
      defaultFhirVersion: 'STU3',
      dataDir: 'data',
      rateLimit: false,
      audit: {
        sinkUrl: sink.url,
        spoolDir: 'spool',
        mode: 'batched',
        recordedBy: RECORDED_BY,
        userIdentity: 'header',
        hmacKeyFile: 'keys/hmac.key',
        flushIntervalMs: 10,
        shipIntervalMs: 50,
      },
      telemetry: { otlpEndpoint: sink.url, metricExportIntervalMs: 1000, spanExportDelayMs: 100 },
    }),
  );
  const registry = openClientRegistry({ dataDir: join(dir, 'data') });
  const issued = await registry.createClient({ tenants: [TENANT_STU3, TENANT_DSTU2], name: 'teams-patients-app' });
  registry.close();
  client = { clientId: issued.clientId, clientSecret: issued.clientSecret };
});

afterAll(async () => {
  await new Promise<void>((resolve) => proxy?.close(() => resolve()));
  await stu3?.close();
  await dstu2?.close();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('fhirwatch gateway (process, config file, audit to the real sink)', () => {
  let token = '';
  let gatewayUrl = '';

  it('audits to the sink, refuses writes, strips forwarding headers, searches STU3 names by substring, and stops cleanly', async () => {
    const running = await startGateway();
    gatewayUrl = running.url;
    const base = `${gatewayUrl}/${TENANT_STU3}`;
    token = await fetchToken(gatewayUrl, client.clientId, client.clientSecret, TENANT_STU3);
    const auth = { authorization: `Bearer ${token}` };
    const user = { 'x-fhirwatch-user-id': 'clinician-7', 'x-fhirwatch-user-name': 'Dr Seven' };

    // STU3 family= with a fragment from the middle of the name (the seed's "contains").
    const patient = stu3.population.patients[3]!;
    const family = String(((patient.name as { family: string }[])[0] as { family: string }).family);
    expect(family.length).toBeGreaterThanOrEqual(5);
    const fragment = family.slice(2, 5);
    const search = await fetch(`${base}/Patient?family=${encodeURIComponent(fragment)}&_count=100`, {
      headers: { ...auth, ...user },
    });
    expect(search.status).toBe(200);
    const found = (await search.json()) as { entry?: { resource: { id: string } }[] };
    expect(found.entry?.map((e) => e.resource.id)).toContain(patient.id);

    // The contract's list refresh, and a batch with entries the gateway refuses.
    const refresh = await fetch(`${base}/`, {
      method: 'POST',
      headers: { ...auth, ...user, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(listRefreshBundle('STU3', [patient.id])),
    });
    expect(refresh.status).toBe(200);
    const refreshed = (await refresh.json()) as { entry: { response: { status: string } }[] };
    expect(refreshed.entry.map((e) => e.response.status.slice(0, 3))).toEqual(Array(7).fill('200'));
    const mixed = await fetch(`${base}/`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${patient.id}` } },
          { request: { method: 'DELETE', url: `Patient/${patient.id}` } },
          { request: { method: 'PUT', url: `Patient/${patient.id}` }, resource: { resourceType: 'Patient' } },
        ],
      }),
    });
    const mixedBundle = (await mixed.json()) as { entry: { response: { status: string } }[] };
    expect(mixedBundle.entry.map((e) => e.response.status.slice(0, 3))).toEqual(['200', '405', '405']);
    expect(seenBodies.some((b) => b.includes('"DELETE"') || b.includes('"PUT"'))).toBe(false);

    // Methods and operations that could write are refused before the provider.
    for (const [method, path] of [
      ['DELETE', `/Patient/${patient.id}`],
      ['PUT', `/Patient/${patient.id}`],
      ['POST', '/Patient'],
      ['POST', '/Patient/$everything'],
    ] as const) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { ...auth, 'content-type': 'application/fhir+json' },
        body: '{}',
      });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 405 });
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }

    // Client forwarding / tenant headers never reach the provider; the gateway sets its own.
    seenHeaders.length = 0;
    const read = await fetch(`${base}/Patient/${patient.id}`, {
      headers: {
        ...auth,
        'x-forwarded-for': '198.51.100.7',
        forwarded: 'for=198.51.100.7',
        'x-forwarded-host': 'attacker.example',
        'x-tenant-id': TENANT_DSTU2,
      },
    });
    expect(read.status).toBe(200);
    const headers = seenHeaders.at(-1) as IncomingHttpHeaders;
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers.forwarded).toBe('for=127.0.0.1;proto=http');
    expect(headers['x-forwarded-host']).toBeUndefined();
    expect(headers['x-tenant-id']).toBeUndefined();

    // The startup summary says what is audited, where records go, the spool and the key.
    const summary = running.stderr();
    expect(summary).toContain('audit        ON, batched');
    expect(summary).toContain(`${sink.url}/v1/audit`);
    expect(summary).toContain(join(dir, 'spool'));
    expect(summary).toContain(keyFile);
    expect(summary).toContain(`OTLP/HTTP ${sink.url}`);

    // Graceful shutdown: the spool drains to the sink before the process exits.
    expect(await stop(running)).toBe(0);
    await sink.audit.flush();
    await sink.telemetry.flush();
    const rows = await (
      await sink.client.query({
        query: `SELECT event_type, user_id, patient_id, http_status FROM ${AUDIT_DEDUP_VIEW} WHERE recorded_by = {by:String}`,
        query_params: { by: RECORDED_BY },
        format: 'JSONEachRow',
      })
    ).json<{ event_type: string; user_id: string; patient_id: string; http_status: number }>();
    const search1 = rows.filter((r) => r.event_type === 'PatientSearch');
    expect(search1.some((r) => r.patient_id === patient.id && r.user_id === 'clinician-7')).toBe(true);
    expect(rows.filter((r) => r.event_type === 'VitalSignsView' && r.patient_id === patient.id).length).toBe(1);
    // The list refresh, the mixed batch's GET entry and the direct read each viewed the patient.
    expect(rows.filter((r) => r.event_type === 'PatientView' && r.patient_id === patient.id).length).toBe(3);
    const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex');
    const chain = await verifyAuditChain(sink.client, { key, recordedBy: [RECORDED_BY] });
    expect(chain.ok).toBe(true);
    // Telemetry reached the store too (spans of the gateway service, no PHI in their names).
    const spans = await (
      await sink.client.query({
        query: `SELECT SpanName FROM otel_traces WHERE ServiceName = 'fhirwatch-gateway'`,
        format: 'JSONEachRow',
      })
    ).json<{ SpanName: string }>();
    expect(spans.length).toBeGreaterThan(0);
    expect(spans.map((s) => s.SpanName).join(' ')).not.toContain(patient.id);
  }, 180_000);

  it('a restarted gateway (another port) accepts the token issued before; STU3 traffic sessions reach their list refresh', async () => {
    expect(token).not.toBe('');
    const running = await startGateway();
    expect(running.url).not.toBe(gatewayUrl);
    const res = await fetch(`${running.url}/${TENANT_STU3}/Patient?_count=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const result = await runPatientsAppTraffic({
      targets: [
        {
          baseUrl: `${running.url}/${TENANT_STU3}`,
          tenantId: TENANT_STU3,
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          fhirVersion: 'STU3',
        },
      ],
      concurrency: 2,
      durationMs: 60_000,
      maxIterations: 12,
      badTokenRate: 0,
      exportRate: 0,
    });
    expect(result.iterations).toBe(12);
    // Every name fragment of the generator finds someone: each session refreshes its list.
    expect(result.batchEntries).toBeGreaterThanOrEqual(12 * 7);
    expect(result.batchEntryFailures).toBe(0);
    expect(await stop(running)).toBe(0);
  }, 180_000);

  it('config errors stop the start, naming the key', async () => {
    const cases: [config: unknown, key: string][] = [
      [{ tenants: {}, audit: { sinkURL: sink.url } }, 'audit.sinkURL'],
      [{ tenants: {}, audit: { mode: 'eventually' } }, 'audit.mode'],
      [{ tenants: { [TENANT_STU3]: { fhirVersion: 'STU3' } } }, `tenants.${TENANT_STU3}.baseUrl`],
      [
        {
          tenants: {
            [TENANT_STU3]: { baseUrl: stu3.url, fhirVersion: 'STU3' },
            [TENANT_DSTU2]: { baseUrl: dstu2.url, fhirVersion: 'DSTU2' },
          },
        },
        'defaultFhirVersion',
      ],
    ];
    for (const [i, [config, key]] of cases.entries()) {
      const file = join(dir, `bad-${i}.json`);
      writeFileSync(file, JSON.stringify(config));
      const failure = (await execFileAsync(process.execPath, [bin, 'gateway', '--config', file]).catch(
        (e: unknown) => e,
      )) as { code: number; stderr: string };
      expect({ key, code: failure.code }).toEqual({ key, code: 1 });
      expect(failure.stderr).toContain(`"${key}"`);
      expect(failure.stderr).toContain('FW_GATEWAY_CONFIG_INVALID');
      expect(failure.stderr).not.toContain('    at ');
    }
  }, 120_000);
});
