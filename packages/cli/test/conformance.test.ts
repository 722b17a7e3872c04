/**
 * `fhirwatch conformance` through the real bin: against a real gateway → mock EHR (DSTU2) it prints the
 * table, writes JSON and JUnit and exits 0; against a provider that refuses batches it exits 1 naming the
 * failed checks.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@fhirwatch/gateway';
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runFhirwatch } from './bin.ts';

const TENANT = '3f4a5b6c-7d8e-4f9a-8b0c-1d2e3f4a5b6c';
const TENANT_NO_BATCH = '4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d';
const dir = mkdtempSync(join(tmpdir(), 'fw-cli-conformance-'));
let ehr: MockEhrServer;
let noBatch: Server;
let gateway: Gateway;
let clientId = '';
let clientSecret = '';

beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'DSTU2', patients: 40, seed: 12 });
  // A provider that refuses batches and forwards everything else to the mock EHR.
  noBatch = createServer((req, res) => {
    if (req.method === 'POST' && (req.url === '/' || req.url === '')) {
      res.writeHead(405, { 'content-type': 'application/json+fhir', allow: 'GET' });
      res.end(
        JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] }),
      );
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      const body = Buffer.concat(chunks);
      fetch(`${ehr.url}${req.url}`, { method: req.method ?? 'GET', headers, ...(body.length > 0 ? { body } : {}) })
        .then(async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(await r.text());
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => noBatch.listen(0, '127.0.0.1', resolve));
  gateway = await createGateway({
    dataDir: join(dir, 'gateway'),
    rateLimit: false,
    tenants: {
      [TENANT]: { baseUrl: ehr.url, fhirVersion: 'DSTU2' },
      [TENANT_NO_BATCH]: {
        baseUrl: `http://127.0.0.1:${(noBatch.address() as AddressInfo).port}`,
        fhirVersion: 'DSTU2',
      },
    },
  });
  const client = await gateway.registry.createClient({ tenants: [TENANT, TENANT_NO_BATCH], name: 'conformance' });
  clientId = client.clientId;
  clientSecret = client.clientSecret;
});
afterAll(async () => {
  await gateway?.close();
  await new Promise((r) => noBatch?.close(r));
  await ehr?.close();
  rmSync(dir, { recursive: true, force: true });
});

const fhirwatch = (args: string[]) => runFhirwatch(args, { FHIRWATCH_CLIENT_SECRET: clientSecret });

it('passes against gateway → mock EHR and writes JSON and JUnit', async () => {
  const json = join(dir, 'out', 'conformance.json');
  const junit = join(dir, 'out', 'conformance.xml');
  const result = await fhirwatch([
    'conformance',
    '--target',
    `${gateway.url}/${TENANT}`,
    '--client-id',
    clientId,
    '--tenant',
    TENANT,
    '--json',
    json,
    '--junit',
    junit,
  ]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/FHIR DSTU2/);
  expect(result.stdout).toMatch(/batch\.list-refresh\s+PASS\s+status 200, type batch-response/);
  // the gateway's metadata names both OAuth URIs (token and authorize), so nothing is left as a warning
  expect(result.stdout).toMatch(/metadata\.oauth-authorize-uri\s+PASS/);
  expect(result.stdout).toMatch(/0 failed, 0 warnings, 0 skipped: PASS\n$/);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { passed: boolean; checks: unknown[] };
  expect(report.passed).toBe(true);
  expect(readFileSync(junit, 'utf8').match(/<testcase /g)).toHaveLength(report.checks.length);
});

it('exits 1 and names the failures when the provider refuses batches', async () => {
  const result = await fhirwatch([
    'conformance',
    '--target',
    `${gateway.url}/${TENANT_NO_BATCH}`,
    '--client-id',
    clientId,
    '--tenant',
    TENANT_NO_BATCH,
    '--fhir-version',
    'dstu2',
  ]);
  expect(result.code).toBe(1);
  expect(result.stdout).toMatch(/batch\.list-refresh\s+FAIL/);
  expect(result.stdout).toMatch(/batch\.largest\s+FAIL\s+largest accepted: 0 entries/);
  expect(result.stdout).toMatch(/3 failed, 0 warnings, .* FAIL\n$/);
});

it('exits 2 without a target', async () => {
  const result = await fhirwatch(['conformance']);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('--target');
});
