/**
 * The issue-15 reproduction through the real gateway: its audit spool on a 900 KiB tmpfs that fills up, a
 * mock EHR behind it, a registered client reading patients. Default (batched, onSpoolFailure refuse): once a
 * spool write fails, reads get 503 OperationOutcome (no PHI) and one error line is logged; with space back,
 * reads are served again and an info line is logged. Strict mode refuses the same way. `serve` is the opt-in
 * that keeps serving (and says so in its error line).
 */
import { type MockEhrServer, startMockEhr } from '@fhirwatch/mock-ehr';
import { mountSmallTmpfs, type SmallTmpfs } from '@fhirwatch/testkit/tmpfs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config.ts';
import { type InstrumentedGateway, startInstrumentedGateway } from '../src/instrumented.ts';
import { getToken, outcomeCode, raw, TENANT_A, tempDir } from './helpers.ts';

let ehr: MockEhrServer;
const dirs: { remove(): void }[] = [];
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 12, seed: 15 });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await ehr?.close();
  for (const d of dirs) d.remove();
});

async function start(
  mode: 'batched' | 'strict',
  onSpoolFailure: 'refuse' | 'serve',
): Promise<{
  gw: InstrumentedGateway;
  tmp: SmallTmpfs;
  lines: Record<string, unknown>[];
  headers: Record<string, string>;
}> {
  const tmp = mountSmallTmpfs('900k');
  const dir = tempDir('full-spool');
  dirs.push(dir);
  const lines: Record<string, unknown>[] = [];
  const config = parseGatewayConfig(
    {
      dataDir: 'data',
      tenants: { [TENANT_A]: { baseUrl: ehr.url, fhirVersion: 'STU3' } },
      audit: { spoolDir: tmp.dir, mode, onSpoolFailure, flushIntervalMs: 5 },
    },
    { baseDir: dir.path },
  );
  const gw = await startInstrumentedGateway(config, {
    hmacKey: 'k',
    spoolHealthLog: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  cleanups.push(async () => {
    await gw.close();
    tmp.close();
  });
  const client = await gw.gateway.registry.createClient({ tenants: [TENANT_A] });
  const token = await getToken(gw.url, client.clientId, client.clientSecret, TENANT_A);
  return { gw, tmp, lines, headers: { authorization: `Bearer ${token}` } };
}

const patients = (): string[] => ehr.population.patients.map((p) => p.id);

/** Read patients until one is refused (bounded): the records of the earlier ones still fit in allocated pages. */
async function readUntilRefused(
  gw: InstrumentedGateway,
  headers: Record<string, string>,
): Promise<{ served: number; refused: { status: number; body: string } }> {
  let served = 0;
  for (let i = 0; i < 40; i++) {
    const id = patients()[i % patients().length] as string;
    const res = await raw(gw.url, { path: `/${TENANT_A}/Patient/${id}`, headers });
    await gw.audit?.flush();
    if (res.status === 503) return { served, refused: { status: res.status, body: res.text } };
    expect(res.status).toBe(200);
    served++;
  }
  throw new Error('no request was refused with the spool file system full');
}

describe('the gateway with its audit spool on a full file system', () => {
  it.each(['batched', 'strict'] as const)(
    '%s mode (default onSpoolFailure refuse): 503 without PHI, logged, recovers',
    async (mode) => {
      const { gw, tmp, lines, headers } = await start(mode, 'refuse');
      const free = tmp.fill();
      const { refused } = await readUntilRefused(gw, headers);
      expect(outcomeCode(JSON.parse(refused.body))).toBe('FW_AUDIT_SPOOL_FULL');
      for (const id of patients()) expect(refused.body).not.toContain(id);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'error',
        event: 'fhirwatch.audit.spool.failed',
        code: 'FW_AUDIT_SPOOL_FULL',
        errno: 'ENOSPC',
        policy: 'refuse',
      });
      // still full: every read is refused
      const again = await raw(gw.url, { path: `/${TENANT_A}/Patient/${patients()[0]}`, headers });
      expect(again.status).toBe(503);
      free();
      // /readyz probes the disk and ends the failed state (strict requests would too, each with its own write)
      expect((await raw(gw.url, { path: '/readyz' })).status).toBe(200);
      const back = await raw(gw.url, { path: `/${TENANT_A}/Patient/${patients()[1]}`, headers });
      expect(back.status).toBe(200);
      expect(lines[1]).toMatchObject({ level: 'info', event: 'fhirwatch.audit.spool.recovered', dropped: 0 });
      expect(Number(lines[1]?.refused)).toBeGreaterThanOrEqual(2);
      expect(gw.audit?.health().dropped).toBe(0);
      expect(JSON.stringify(lines)).not.toMatch(new RegExp(patients().join('|')));
    },
  );

  it('batched mode, onSpoolFailure serve: reads keep being served; the error line says so', async () => {
    const { gw, tmp, lines, headers } = await start('batched', 'serve');
    tmp.fill();
    for (const id of patients().slice(0, 8)) {
      expect((await raw(gw.url, { path: `/${TENANT_A}/Patient/${id}`, headers })).status).toBe(200);
      await gw.audit?.flush();
    }
    expect(lines[0]).toMatchObject({ level: 'error', errno: 'ENOSPC', policy: 'serve' });
    expect(String(lines[0]?.effect)).toContain('SERVED WITHOUT AUDIT RECORDS');
  });
});
