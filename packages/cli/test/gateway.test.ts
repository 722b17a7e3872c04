/**
 * `fhirwatch gateway` and `fhirwatch clients` as separate processes sharing one data directory,
 * in front of a real mock EHR.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const TENANT = '3b2a1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d';
const ADMIN = 'cli-test-admin-token';

const dir = mkdtempSync(join(tmpdir(), 'fw-cli-gateway-'));
const dataDir = join(dir, 'data');
const configFile = join(dir, 'gateway.json');
let ehr: MockEhrServer;
let gateway: ChildProcessWithoutNullStreams | undefined;
let gatewayUrl = '';
const logLines: string[] = [];

const fhirwatch = (...args: string[]) => run(process.execPath, [bin, ...args]);

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 10, seed: 4 });
  writeFileSync(
    configFile,
    JSON.stringify({
      tenants: { [TENANT]: { baseUrl: ehr.url, fhirVersion: 'STU3', timeoutMs: 5000 } },
      dataDir: 'data',
    }),
  );
});
afterAll(async () => {
  if (gateway !== undefined && gateway.exitCode === null) gateway.kill('SIGKILL');
  await ehr?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('fhirwatch gateway / clients', () => {
  it('runs the gateway, manages clients from another process, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'gateway', '--port', '0', '--config', configFile], {
      env: { ...process.env, FHIRWATCH_GATEWAY_ADMIN_TOKEN: ADMIN },
    });
    gateway = child;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const lines = createInterface({ input: child.stdout });
    gatewayUrl = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
    });
    lines.on('line', (line) => logLines.push(line));
    expect(gatewayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // The audit is on by default: the summary names the spool and the key under the data directory.
    // The summary follows the URL line on stderr; its last line names the telemetry.
    for (let i = 0; i < 200 && !stderr.includes('telemetry '); i++) await new Promise((r) => setTimeout(r, 25));
    expect(stderr).toContain('audit        ON, batched');
    expect(stderr).toContain(`spool        ${join(dataDir, 'audit-spool')}`);
    expect(stderr).toContain(`hmac key     ${join(dataDir, 'audit-spool', 'hmac.key')}`);
    expect(stderr).toContain('no sink configured');
    expect((await fetch(`${gatewayUrl}/metadata`)).status).toBe(200);

    // clients: create (secret printed once), list, rotate, revoke, delete, on the running gateway's registry.
    const created = JSON.parse(
      (await fhirwatch('clients', 'create', '--data-dir', dataDir, '--tenant', TENANT, '--name', 'teams')).stdout,
    ) as {
      clientId: string;
      clientSecret: string;
      secretId: string;
    };
    const token = async (secret: string): Promise<Response> =>
      fetch(`${gatewayUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: created.clientId,
          client_secret: secret,
          scope: TENANT,
        }),
      });
    const first = await token(created.clientSecret);
    expect(first.status).toBe(200);
    const { access_token: accessToken } = (await first.json()) as { access_token: string };
    const id = ehr.population.patients[0]?.id as string;
    const read = await fetch(`${gatewayUrl}/Patient/${id}`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(read.status).toBe(200);

    const listed = (await fhirwatch('clients', 'list', '--config', configFile, '--json')).stdout;
    expect(listed).toContain(created.clientId);
    expect(listed).not.toContain(created.clientSecret);
    expect((await fhirwatch('clients', 'list', '--data-dir', dataDir)).stdout).toContain(created.clientId);

    const rotated = JSON.parse(
      (await fhirwatch('clients', 'rotate', '--data-dir', dataDir, '--client', created.clientId)).stdout,
    ) as {
      clientSecret: string;
    };
    expect((await token(rotated.clientSecret)).status).toBe(200);
    expect((await token(created.clientSecret)).status).toBe(200);
    await fhirwatch(
      'clients',
      'revoke',
      '--data-dir',
      dataDir,
      '--client',
      created.clientId,
      '--secret',
      created.secretId,
    );
    expect((await token(created.clientSecret)).status).toBe(401);
    expect((await token(rotated.clientSecret)).status).toBe(200);

    // The admin API is on, with the credential from the environment.
    const admin = await fetch(`${gatewayUrl}/admin/clients`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(admin.status).toBe(200);

    await fhirwatch('clients', 'delete', '--data-dir', dataDir, '--client', created.clientId);
    expect((await token(rotated.clientSecret)).status).toBe(401);
    const missing = await fhirwatch('clients', 'delete', '--data-dir', dataDir, '--client', created.clientId).catch(
      (e: unknown) => e,
    );
    expect(missing).toMatchObject({ code: 1 });

    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);

    const parsed = logLines.map((line) => JSON.parse(line) as { route: string; status: number });
    expect(parsed.some((l) => l.route === '/Patient/{id}' && l.status === 200)).toBe(true);
    expect(logLines.join('\n')).not.toContain(id);
  }, 180_000);

  it('reports usage and config errors without a stack', async () => {
    const usage = await fhirwatch('clients', 'create', '--data-dir', dataDir).catch((e: unknown) => e);
    expect(usage).toMatchObject({ code: 2 });
    const badConfig = join(dir, 'bad.json');
    writeFileSync(badConfig, JSON.stringify({ tenants: { 'not-a-guid': { baseUrl: ehr.url, fhirVersion: 'STU3' } } }));
    const failure = (await fhirwatch('gateway', '--config', badConfig).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('FW_GATEWAY_CONFIG_INVALID');
    expect(failure.stderr).not.toContain('    at ');
    // Flags are validated like the file, and name the config key they set.
    const badFlag = (await fhirwatch('gateway', '--config', configFile, '--audit-mode', 'eventually').catch(
      (e: unknown) => e,
    )) as { code: number; stderr: string };
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toContain('"audit.mode"');
    const unknownKey = join(dir, 'unknown.json');
    writeFileSync(unknownKey, JSON.stringify({ tenants: {}, telemetry: { otlpEndpont: 'http://127.0.0.1:4318' } }));
    const unknown = (await fhirwatch('gateway', '--config', unknownKey).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('"telemetry.otlpEndpont" is not a known key');
  }, 60_000);
});
