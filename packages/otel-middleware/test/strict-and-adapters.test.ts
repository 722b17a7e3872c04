/**
 * Strict mode (response held until the records are durable; fail closed), user hooks that throw,
 * and the Express and Fastify adapters on the same handler logic.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditRecord, expandRequestRecord } from '@fhirwatch/contract';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { setRequestContext } from '../src/context.ts';
import { AUDIT_ERROR_CODES } from '../src/errors.ts';
import { fhirAudit } from '../src/middleware.ts';
import { fhirHandler, listen, PATIENTS } from './fhir-handler.ts';
import { startReceiver } from './receiver.ts';
import { segmentRequests } from './requests.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'fw-strict-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** The per-patient rows of every request record in the spool. */
async function spooled(dir: string): Promise<AuditRecord[]> {
  return (await segmentRequests(dir)).records.flatMap(expandRequestRecord);
}

function errorCode(body: unknown): string | undefined {
  return (body as { issue?: { details?: { coding?: { code?: string }[] } }[] }).issue?.[0]?.details?.coding?.[0]?.code;
}

describe('strict mode', () => {
  it('releases a response only once its records are on disk (read right after the response, no flush)', async () => {
    const dir = await tempDir();
    const audit = fhirAudit({ mode: 'strict', spoolDir: dir, hmacKey: 'k' });
    const app = await listen(audit.wrap(fhirHandler({ chunks: 4 })));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    const responses = await Promise.all(
      PATIENTS.slice(0, 6).map(async (p) => {
        const res = await fetch(`${app.url}/Patient/${p.id}`);
        return { id: p.id, body: (await res.json()) as { id: string }, status: res.status };
      }),
    );
    const onDisk = await spooled(dir);
    for (const r of responses) {
      expect(r.status).toBe(200);
      expect(r.body.id).toBe(r.id); // the held, multi-chunk body arrives whole
      expect(onDisk.filter((x) => x.patient_id === r.id && x.event_type === 'PatientView')).toHaveLength(1);
    }
    expect(audit.stats().spool?.flushes).toBeLessThanOrEqual(6);
  });

  it('fails closed with a 503 OperationOutcome (no PHI) when the spool is full', async () => {
    const dir = await tempDir();
    const audit = fhirAudit({ mode: 'strict', spoolDir: dir, hmacKey: 'k', maxSpoolBytes: 1000 });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    const first = await fetch(`${app.url}/Patient/pat-aa01`);
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    const res = await fetch(`${app.url}/Patient?family:contains=Zorvath`);
    const text = await res.text();
    expect(res.status).toBe(503);
    const body = JSON.parse(text) as { resourceType: string };
    expect(body.resourceType).toBe('OperationOutcome');
    expect(errorCode(body)).toBe(AUDIT_ERROR_CODES.spoolFull);
    expect(text).not.toMatch(/Zorvath|pat-|MRN/);
    // Traffic that is not a clinician read is not held back.
    expect((await fetch(`${app.url}/metadata`)).status).toBe(200);
  });

  it('fails closed when the spool cannot be opened (unwritable)', async () => {
    const dir = await tempDir();
    const notADir = join(dir, 'file');
    await writeFile(notADir, 'x');
    const audit = fhirAudit({ mode: 'strict', spoolDir: join(notADir, 'spool'), hmacKey: 'k', onError: () => {} });
    await expect(audit.ready()).rejects.toBeDefined();
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    const res = await fetch(`${app.url}/Patient/pat-aa02`);
    const body = (await res.json()) as unknown;
    expect(res.status).toBe(503);
    expect(errorCode(body)).toBe(AUDIT_ERROR_CODES.spoolUnwritable);
  });

  it('fails closed when a held body is over maxResponseBodyBytes', async () => {
    const dir = await tempDir();
    const audit = fhirAudit({ mode: 'strict', spoolDir: dir, hmacKey: 'k', maxResponseBodyBytes: 200 });
    const app = await listen(audit.wrap(fhirHandler({ chunks: 5 })));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    const res = await fetch(`${app.url}/Patient?family:contains=Zorvath`);
    expect(res.status).toBe(503);
    expect(errorCode(await res.json())).toBe(AUDIT_ERROR_CODES.bodyTooLarge);
  });
});

describe('batched mode, oversize bodies and hooks', () => {
  it('records an over-cap body with result_count null (unknown) instead of buffering it', async () => {
    const dir = await tempDir();
    const audit = fhirAudit({ spoolDir: dir, hmacKey: 'k', maxResponseBodyBytes: 200, flushIntervalMs: 1 });
    const app = await listen(audit.wrap(fhirHandler({ chunks: 5 })));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    const res = await fetch(`${app.url}/Condition?patient=pat-aa03`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const big = await fetch(`${app.url}/Patient?family:contains=Zorvath`);
    expect(((await big.json()) as { entry: unknown[] }).entry).toHaveLength(7);
    await audit.flush();
    const records = await spooled(dir);
    expect(records.find((r) => r.event_type === 'PatientSearch')?.result_count).toBeNull();
    expect(records.find((r) => r.event_type === 'ConditionsView')?.patient_id).toBe('pat-aa03');
    expect(audit.stats().truncatedBodies).toBe(1);
  });

  it('scans latin1 string chunks as the gateway writes them (split inside keys); past the cap, result_count null', async () => {
    // The reference gateway writes its rewritten bodies as latin1 strings (one char per byte, UTF-8
    // sequences untouched): the scanner reads them through its scratch buffer, chunk by chunk.
    const dir = await tempDir();
    const ids = ['pat-ü1', 'pat-\\"2', 'pat-3'];
    const bodyOf = (n: number): Buffer =>
      Buffer.from(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'searchset',
          total: n,
          entry: Array.from({ length: n }, (_, k) => ({
            fullUrl: `http://x/Patient/${k}`,
            resource: { resourceType: 'Patient', id: ids[k % ids.length], name: [{ text: 'Zoë Ünal' }] },
            search: { mode: 'match' },
          })),
        }),
      );
    const small = bodyOf(3);
    const large = bodyOf(40);
    const audit = fhirAudit({
      spoolDir: dir,
      hmacKey: 'k',
      maxResponseBodyBytes: small.length + 10,
      flushIntervalMs: 1,
    });
    const app = await listen(
      audit.wrap((req, res) => {
        setRequestContext(req, { tenantId: 't', routedTenantId: 't', clientId: 'c', fhirVersion: 'STU3' });
        const body = new URL(req.url ?? '/', 'http://x').searchParams.get('family') === 'many' ? large : small;
        res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': body.length });
        const text = body.toString('latin1');
        for (let at = 0; at < text.length; at += 7) res.write(text.slice(at, at + 7), 'latin1');
        res.end();
      }),
    );
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    const got = Buffer.from(await (await fetch(`${app.url}/Patient?family=few`)).arrayBuffer());
    expect(got.equals(small)).toBe(true);
    const gotLarge = Buffer.from(await (await fetch(`${app.url}/Patient?family=many`)).arrayBuffer());
    expect(gotLarge.equals(large)).toBe(true); // the host's body, byte for byte, past the cap too
    await audit.flush();
    const records = await spooled(dir);
    const few = records.filter((r) => r.query === 'family=few');
    expect(few.map((r) => r.patient_id).sort()).toEqual([...ids].sort());
    expect(few.every((r) => r.result_count === 3)).toBe(true);
    const many = records.filter((r) => r.query === 'family=many');
    expect(many).toHaveLength(1);
    expect(many[0]?.result_count).toBeNull();
    expect(audit.stats().truncatedBodies).toBe(1);
  });

  it('string bodies (utf8 as given, or no encoding) reach the client byte for byte and are scanned, batched and strict', async () => {
    // A string chunk that is scanned is encoded once by the middleware and handed to node as those bytes:
    // what leaves must be exactly what node would have sent for the string (non-ASCII, a lone surrogate
    // included: node and Buffer.from both send U+FFFD).
    const ids = ['pat-ü1', 'pat-2', 'pat-😀3'];
    const text = JSON.stringify({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 3,
      entry: ids.map((id, k) => ({
        fullUrl: `http://x/Patient/${k}`,
        resource: { resourceType: 'Patient', id, name: [{ text: `Zoë Ünal \ud800 ${k}` }] },
        search: { mode: 'match' },
      })),
    }).replace('\\ud800', '\ud800');
    for (const mode of ['batched', 'strict'] as const) {
      const dir = await tempDir();
      const audit = fhirAudit({ mode, spoolDir: dir, hmacKey: 'k', flushIntervalMs: 1 });
      const app = await listen(
        audit.wrap((req, res) => {
          setRequestContext(req, { tenantId: 't', routedTenantId: 't', clientId: 'c', fhirVersion: 'STU3' });
          res.setHeader('content-type', 'application/fhir+json');
          if (new URL(req.url ?? '/', 'http://x').searchParams.get('family') === 'pieces') {
            const half = text.length >> 1;
            res.write(text.slice(0, half), 'utf8');
            res.end(text.slice(half));
          } else res.end(text);
        }),
      );
      cleanups.push(
        () => audit.shutdown(),
        () => app.close(),
      );
      for (const family of ['whole', 'pieces']) {
        const res = await fetch(`${app.url}/Patient?family=${family}`);
        const got = Buffer.from(await res.arrayBuffer());
        expect(got.equals(Buffer.from(text, 'utf8'))).toBe(true);
      }
      await audit.flush();
      const records = await spooled(dir);
      for (const family of ['whole', 'pieces']) {
        const rows = records.filter((r) => r.query === `family=${family}`);
        expect(rows.map((r) => r.patient_id).sort(), `${mode} ${family}`).toEqual([...ids].sort());
        expect(rows.every((r) => r.result_count === 3)).toBe(true);
      }
    }
  });

  it('a throwing requestHook or userExtractor never breaks the request; the user is then empty', async () => {
    const dir = await tempDir();
    const audit = fhirAudit({
      spoolDir: dir,
      hmacKey: 'k',
      flushIntervalMs: 1,
      userExtractor: () => {
        throw new Error('extractor bug');
      },
      requestHook: () => {
        throw new Error('hook bug');
      },
    });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    const res = await fetch(`${app.url}/Patient/pat-aa04`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe('pat-aa04');
    await audit.flush();
    const [r] = await spooled(dir);
    expect(r?.patient_id).toBe('pat-aa04');
    expect(r?.user_id).toBe('');
  });

  it('ignores x-fhirwatch-user-* headers unless configured as trusted', async () => {
    const dir = await tempDir();
    const audit = fhirAudit({ spoolDir: dir, hmacKey: 'k', flushIntervalMs: 1 });
    const app = await listen(audit.wrap(fhirHandler()));
    cleanups.push(
      () => audit.shutdown(),
      () => app.close(),
    );
    await (await fetch(`${app.url}/Patient/pat-aa05`, { headers: { 'x-fhirwatch-user-id': 'forged' } })).arrayBuffer();
    await audit.flush();
    expect((await spooled(dir))[0]?.user_id).toBe('');
  });
});

describe('Express and Fastify adapters', () => {
  it('Express: records the search with its disclosed patients (strict mode)', async () => {
    const dir = await tempDir();
    const receiver = await startReceiver();
    const audit = fhirAudit({ mode: 'strict', spoolDir: dir, hmacKey: 'k', sinkUrl: receiver.url, shipIntervalMs: 20 });
    const app = express();
    app.use(audit.express());
    const handler = fhirHandler();
    app.use((req, res) => handler(req, res));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    cleanups.push(
      () => receiver.close(),
      () => audit.shutdown(),
      () => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const res = await fetch(`${url}/Patient?family:contains=Zorvath`);
    expect(((await res.json()) as { entry: unknown[] }).entry).toHaveLength(7);
    await audit.drain();
    expect(receiver.records).toHaveLength(7);
  });

  it.each(['batched', 'strict'] as const)(
    'Fastify (%s): the plugin audits routes declared after it, incl. a batch',
    async (mode) => {
      const dir = await tempDir();
      const audit = fhirAudit({ mode, spoolDir: dir, hmacKey: 'k', flushIntervalMs: 1 });
      const app = Fastify();
      await app.register(audit.fastify);
      app.get('/Patient/:id', async (request, reply) => {
        const { id } = request.params as { id: string };
        reply.header('content-type', 'application/fhir+json');
        return { resourceType: 'Patient', id };
      });
      app.post('/', async () => ({
        resourceType: 'Bundle',
        type: 'batch-response',
        entry: [{ resource: { resourceType: 'Patient', id: 'pat-aa06' }, response: { status: '200 OK' } }],
      }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      cleanups.push(
        () => audit.shutdown(),
        () => app.close(),
      );
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const read = await fetch(`${url}/Patient/pat-aa07`);
      expect(((await read.json()) as { id: string }).id).toBe('pat-aa07');
      const batch = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          resourceType: 'Bundle',
          type: 'batch',
          entry: [{ request: { method: 'GET', url: 'Patient/pat-aa06' } }],
        }),
      });
      expect(batch.status).toBe(200);
      await batch.arrayBuffer();
      await audit.flush();
      const records = await spooled(dir);
      expect(records.map((r) => [r.event_type, r.patient_id, r.entry_index])).toEqual([
        ['PatientView', 'pat-aa07', -1],
        ['PatientView', 'pat-aa06', 0],
        ['PatientListView', 'pat-aa06', -1],
      ]);
    },
  );
});
