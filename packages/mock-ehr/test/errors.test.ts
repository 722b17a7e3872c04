/**
 * Every rejection is an OperationOutcome with the right status, and nothing a client sends (bad
 * bodies, aborted uploads, oversized headers, garbage) takes the server down.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockEhrServer, startMockEhr } from '../src/index.ts';
import { createRng } from '../src/prng.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // An explicit length: node's client sends an OPTIONS/DELETE body unframed otherwise.
    const headers = { ...options.headers };
    if (options.body !== undefined && headers['transfer-encoding'] === undefined) {
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    const req = request(url, { method: options.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function expectOutcome(reply: Reply, status: number, code?: string): void {
  expect(reply.status, reply.body).toBe(status);
  const outcome = JSON.parse(reply.body) as {
    resourceType: string;
    issue: { details?: { coding: { code: string }[] } }[];
  };
  expect(outcome.resourceType).toBe('OperationOutcome');
  if (code !== undefined) expect(outcome.issue[0]?.details?.coding[0]?.code).toBe(code);
}

/** Raw bytes on a socket; resolves with whatever the server answered before closing. */
function raw(port: number, payload: string, end = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
    socket.write(payload);
    if (end) socket.end();
  });
}

const BATCH_HEADERS = { 'content-type': 'application/fhir+json' };

describe('error answers', () => {
  let server: MockEhrServer;
  let patientId: string;

  beforeAll(async () => {
    server = await startMockEhr({ fhirVersion: 'STU3', patients: 50, seed: 3, maxBodyBytes: 4096 });
    patientId = server.population.patients[0]!.id;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('404 for an unknown resource type, an unknown id and an unsupported path', async () => {
    expectOutcome(await send(`${server.url}/Spaceship/1`), 404, 'FW_MOCKEHR_UNKNOWN_TYPE');
    expectOutcome(await send(`${server.url}/MedicationOrder?patient=${patientId}`), 404, 'FW_MOCKEHR_UNKNOWN_TYPE');
    expectOutcome(await send(`${server.url}/Patient/nope`), 404, 'FW_MOCKEHR_NOT_FOUND');
    expectOutcome(await send(`${server.url}/Observation/${patientId}-obs-99999`), 404, 'FW_MOCKEHR_NOT_FOUND');
    expectOutcome(await send(`${server.url}/Patient/${patientId}/_history/1`), 404, 'FW_MOCKEHR_NOT_FOUND');
  });

  it('400 for parameters, modifiers and sort keys outside the contract, and malformed values', async () => {
    expectOutcome(await send(`${server.url}/Patient?foo=1`), 400, 'FW_MOCKEHR_BAD_PARAMETER');
    expectOutcome(await send(`${server.url}/Patient?family:sounds=smith`), 400, 'FW_MOCKEHR_BAD_PARAMETER');
    expectOutcome(await send(`${server.url}/Observation?patient=${patientId}&_sort=color`), 400);
    expectOutcome(await send(`${server.url}/Condition?patient=${patientId}&code=1234`), 400);
    expectOutcome(await send(`${server.url}/Patient?_count=many`), 400, 'FW_MOCKEHR_BAD_PARAMETER');
    expectOutcome(await send(`${server.url}/Patient?birthdate=yesterday`), 400, 'FW_MOCKEHR_BAD_PARAMETER');
    expectOutcome(await send(`${server.url}/Patient/%E0%A4%A`), 400, 'FW_MOCKEHR_BAD_ENCODING');
    // The message names the parameter, never the value searched for (PHI).
    const reply = await send(`${server.url}/Patient?nickname=Secretname`);
    expect(reply.body).not.toContain('Secretname');
    // A malformed %-escape in a query value is taken literally (no match), not a crash.
    const literal = await send(`${server.url}/Patient?family=%zz`);
    expect(literal.status).toBe(200);
    expect(JSON.parse(literal.body).total).toBe(0);
  });

  it('405 for methods the contract does not offer, with Allow', async () => {
    const put = await send(`${server.url}/Patient/${patientId}`, { method: 'PUT', headers: BATCH_HEADERS, body: '{}' });
    expectOutcome(put, 405, 'FW_MOCKEHR_METHOD_NOT_ALLOWED');
    expect(put.headers.allow).toBe('GET, HEAD');
    expectOutcome(await send(`${server.url}/Patient/${patientId}`, { method: 'DELETE' }), 405);
    expectOutcome(await send(`${server.url}/Patient`, { method: 'POST', headers: BATCH_HEADERS, body: '{}' }), 405);
    expectOutcome(await send(`${server.url}/metadata`, { method: 'POST' }), 405);
    const root = await send(`${server.url}/`);
    expectOutcome(root, 405);
    expect(root.headers.allow).toBe('POST');
  });

  it('415 for media types other than FHIR JSON (batch) or a form (_search); 406 for _format=xml', async () => {
    const bundle = JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [] });
    expectOutcome(
      await send(`${server.url}/`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: bundle }),
      415,
      'FW_MOCKEHR_UNSUPPORTED_MEDIA_TYPE',
    );
    expectOutcome(
      await send(`${server.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+xml' },
        body: '<x/>',
      }),
      415,
    );
    expectOutcome(
      await send(`${server.url}/Patient/_search`, { method: 'POST', headers: BATCH_HEADERS, body: '{"family":"x"}' }),
      415,
    );
    for (const type of ['application/json', 'application/json+fhir', 'application/fhir+json; charset=utf-8']) {
      const ok = await send(`${server.url}/`, { method: 'POST', headers: { 'content-type': type }, body: bundle });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body).type).toBe('batch-response');
    }
    expectOutcome(await send(`${server.url}/Patient?_format=xml`), 406);
    expect((await send(`${server.url}/Patient?_format=json&_count=1`)).status).toBe(200);
  });

  it('413 for a body over maxBodyBytes, declared or streamed, and the server keeps serving', async () => {
    const big = JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [], pad: 'x'.repeat(5000) });
    expectOutcome(
      await send(`${server.url}/`, { method: 'POST', headers: BATCH_HEADERS, body: big }),
      413,
      'FW_MOCKEHR_BODY_TOO_LARGE',
    );
    // Chunked: no content-length, the limit trips while reading.
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = request(
        `${server.url}/`,
        { method: 'POST', headers: { ...BATCH_HEADERS, 'transfer-encoding': 'chunked' }, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
          );
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
      req.end();
    });
    expectOutcome(chunked, 413);
    expect((await send(`${server.url}/Patient/${patientId}`)).status).toBe(200);
  });

  it('400 for malformed JSON, a non-Bundle, a non-batch Bundle and a bad entry list', async () => {
    const post = (body: string) => send(`${server.url}/`, { method: 'POST', headers: BATCH_HEADERS, body });
    expectOutcome(await post('{"resourceType":"Bundle",'), 400, 'FW_MOCKEHR_BAD_JSON');
    expectOutcome(await post(''), 400, 'FW_MOCKEHR_BAD_JSON');
    expectOutcome(await post('null'), 400, 'FW_MOCKEHR_BAD_BUNDLE');
    expectOutcome(await post('[1,2]'), 400, 'FW_MOCKEHR_BAD_BUNDLE');
    expectOutcome(await post('{"resourceType":"Patient"}'), 400, 'FW_MOCKEHR_BAD_BUNDLE');
    expectOutcome(
      await post('{"resourceType":"Bundle","type":"transaction","entry":[]}'),
      400,
      'FW_MOCKEHR_BAD_BUNDLE',
    );
    expectOutcome(await post('{"resourceType":"Bundle","type":"batch","entry":{}}'), 400, 'FW_MOCKEHR_BAD_BUNDLE');
    // Entries that are not objects fail one by one inside a 200 batch-response.
    const odd = await post(
      '{"resourceType":"Bundle","type":"batch","entry":[null,1,{"request":{"method":"GET","url":7}}]}',
    );
    expect(odd.status).toBe(200);
    const statuses = JSON.parse(odd.body).entry.map((e: { response: { status: string } }) => e.response.status);
    expect(statuses).toEqual(['400 Bad Request', '400 Bad Request', '400 Bad Request']);
  });

  it('survives an aborted upload, oversized headers and a malformed request line', async () => {
    // Headers promise 1,000 bytes, 10 arrive, the client hangs up.
    await raw(
      server.port,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{"resource`,
    );
    // The same on a GET (answered at once, the unread body dropped) and on a slow (latency) server below.
    await raw(server.port, `GET /metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789`);
    const huge = await raw(
      server.port,
      `GET /metadata HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`,
      false,
    );
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge).toContain('"OperationOutcome"');
    const garbage = await raw(server.port, 'GARBAGE\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect((await send(`${server.url}/metadata`)).status).toBe(200);
  });

  it('answers HEAD like GET without a body, with the version’s content type', async () => {
    const head = await send(`${server.url}/Patient/${patientId}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-type']).toBe('application/fhir+json;charset=utf-8');
  });

  it('never answers 5xx and never dies across a seeded corpus of malformed requests', async () => {
    const rng = createRng(7);
    const pieces = [
      'Patient',
      'Observation',
      '_search',
      '%',
      '%zz',
      '..',
      '',
      '?',
      '&',
      '=',
      ':contains',
      '_count',
      '-1',
      '\u00e9',
      'metadata',
      patientId,
      '_sort',
      ',',
      '|',
      'date',
      'ge2020',
      'Location',
      'loc-1',
    ];
    const methods = ['GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'PATCH'];
    const bodies = [
      '',
      '{',
      '{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"/%"}}]}',
      'a=b&&=&%',
      '\u0000\u0001',
      '[]',
    ];
    for (let i = 0; i < 300; i++) {
      let path = '';
      const n = rng.int(1, 5);
      for (let k = 0; k < n; k++) path += (rng.chance(0.6) ? '/' : '') + rng.pick(pieces);
      const method = rng.pick(methods);
      const body = method === 'GET' || method === 'HEAD' ? undefined : rng.pick(bodies);
      const contentType = rng.pick(['application/fhir+json', 'application/x-www-form-urlencoded', 'text/plain', '']);
      const headers: Record<string, string> = contentType === '' ? {} : { 'content-type': contentType };
      const reply = await send(`${server.url}/${encodeURI(path).replaceAll('%25', '%')}`, { method, headers, body });
      expect(reply.status, `${method} ${path}`).toBeLessThan(500);
      if (reply.status >= 400 && method !== 'HEAD')
        expect(JSON.parse(reply.body).resourceType).toBe('OperationOutcome');
    }
    expect((await send(`${server.url}/metadata`)).status).toBe(200);
  });
});

describe('injected faults', () => {
  it('errorRate = 1 answers every FHIR request (but /metadata) with a 500/503 OperationOutcome', async () => {
    const server = await startMockEhr({ fhirVersion: 'DSTU2', patients: 10, errorRate: 1 });
    try {
      const id = server.population.patients[0]!.id;
      const statuses = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const reply = await send(`${server.url}/Patient/${id}`);
        expectOutcome(reply, reply.status, 'FW_MOCKEHR_INJECTED_ERROR');
        expect([500, 503]).toContain(reply.status);
        expect(reply.headers['content-type']).toBe('application/json+fhir;charset=utf-8');
        if (reply.status === 503) expect(reply.headers['retry-after']).toBe('1');
        statuses.add(reply.status);
      }
      expect(statuses).toEqual(new Set([500, 503]));
      const batch = await send(`${server.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json+fhir' },
        body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [] }),
      });
      expectOutcome(batch, batch.status, 'FW_MOCKEHR_INJECTED_ERROR');
      expect((await send(`${server.url}/metadata`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('errorRate = 0.5 fails some requests and serves the others', async () => {
    const server = await startMockEhr({ patients: 10, errorRate: 0.5, seed: 9 });
    try {
      const id = server.population.patients[0]!.id;
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push((await send(`${server.url}/Patient/${id}`)).status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(5);
      expect(statuses.filter((s) => s >= 500).length).toBeGreaterThan(5);
    } finally {
      await server.close();
    }
  });

  it('added latency (fixed or lognormal) still answers correctly', async () => {
    for (const latency of [3, { p50Ms: 2, p99Ms: 20 }]) {
      const server = await startMockEhr({ patients: 5, latency });
      try {
        const id = server.population.patients[1]!.id;
        const reply = await send(`${server.url}/Patient/${id}`);
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body).id).toBe(id);
        // A client that hangs up while the answer is delayed does not take the server down.
        await raw(server.port, `GET /Patient/${id} HTTP/1.1\r\nHost: x\r\n\r\n`);
        expect((await send(`${server.url}/Patient/${id}`)).status).toBe(200);
      } finally {
        await server.close();
      }
    }
  });

  it('rejects invalid options with a stable code', async () => {
    await expect(startMockEhr({ errorRate: 2 })).rejects.toMatchObject({ code: 'FW_MOCKEHR_OPTIONS' });
    await expect(startMockEhr({ latency: { p50Ms: 10, p99Ms: 5 } })).rejects.toMatchObject({
      code: 'FW_MOCKEHR_OPTIONS',
    });
    await expect(startMockEhr({ patients: -1 })).rejects.toMatchObject({ code: 'FW_MOCKEHR_OPTIONS' });
    await expect(startMockEhr({ basePath: 'fhir' })).rejects.toMatchObject({ code: 'FW_MOCKEHR_OPTIONS' });
  });
});
