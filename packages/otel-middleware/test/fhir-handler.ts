/**
 * A small real FHIR-ish node:http handler for the middleware's own tests (the e2e tests use the real
 * gateway and mock EHR): Patient read/search (GET and POST _search), clinical searches by patient,
 * Location read, batch Bundles, /metadata, /token. Data is a fixed fixture whose PHI strings the
 * tests look for in telemetry.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordUpstream, setRequestContext } from '../src/context.ts';

export interface FixturePatient {
  id: string;
  mrn: string;
  family: string;
  given: string;
  birthDate: string;
}

/** Twelve patients; seven share the family-name fragment `Zorvath`. */
export const PATIENTS: FixturePatient[] = [
  { id: 'pat-aa01', mrn: 'MRN-771001', family: 'Zorvathian', given: 'Quillon', birthDate: '1941-03-07' },
  { id: 'pat-aa02', mrn: 'MRN-771002', family: 'Zorvathson', given: 'Mirabel', birthDate: '1952-11-19' },
  { id: 'pat-aa03', mrn: 'MRN-771003', family: 'Zorvathy', given: 'Tiberon', birthDate: '1963-06-23' },
  { id: 'pat-aa04', mrn: 'MRN-771004', family: 'Zorvathello', given: 'Ysolde', birthDate: '1974-01-30' },
  { id: 'pat-aa05', mrn: 'MRN-771005', family: 'Zorvathine', given: 'Corvin', birthDate: '1985-09-12' },
  { id: 'pat-aa06', mrn: 'MRN-771006', family: 'Zorvathberg', given: 'Elowen', birthDate: '1996-04-04' },
  { id: 'pat-aa07', mrn: 'MRN-771007', family: 'Zorvathez', given: 'Barnaby', birthDate: '2001-12-25' },
  { id: 'pat-bb08', mrn: 'MRN-882008', family: 'Quellmoor', given: 'Isadora', birthDate: '1939-08-14' },
  { id: 'pat-bb09', mrn: 'MRN-882009', family: 'Prynnwick', given: 'Octavian', birthDate: '1947-02-02' },
  { id: 'pat-bb10', mrn: 'MRN-882010', family: 'Halvorsk', given: 'Seraphine', birthDate: '1958-10-10' },
  { id: 'pat-bb11', mrn: 'MRN-882011', family: 'Dunmarrow', given: 'Lucan', birthDate: '1969-07-17' },
  { id: 'pat-bb12', mrn: 'MRN-882012', family: 'Ashcombe', given: 'Rowena', birthDate: '1980-05-29' },
];

export const PHI_STRINGS: string[] = PATIENTS.flatMap((p) => [p.id, p.mrn, p.family, p.given, p.birthDate]).concat([
  'Zorvath',
]);

function patientResource(p: FixturePatient): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    id: p.id,
    identifier: [{ type: { text: 'MRN' }, value: p.mrn }],
    name: [{ use: 'official', family: [p.family], given: [p.given] }],
    gender: 'female',
    birthDate: p.birthDate,
  };
}

function searchset(resources: Record<string, unknown>[]): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((resource) => ({ resource, search: { mode: 'match' } })),
  };
}

function outcome(code: string, text: string): Record<string, unknown> {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

interface Answer {
  status: number;
  body: unknown;
}

function answer(method: string, path: string, query: URLSearchParams): Answer {
  const parts = path.split('/').filter((s) => s !== '');
  const type = parts[0] ?? '';
  if (type === 'metadata') return { status: 200, body: { resourceType: 'Conformance', fhirVersion: '1.0.2' } };
  if (type === 'Patient' && parts.length === 2 && parts[1] !== '_search') {
    const p = PATIENTS.find((x) => x.id === parts[1]);
    return p === undefined
      ? { status: 404, body: outcome('not-found', 'no such resource') }
      : { status: 200, body: patientResource(p) };
  }
  if (type === 'Patient' && (parts.length === 1 || parts[1] === '_search') && method !== 'DELETE') {
    const family = query.get('family:contains') ?? query.get('family') ?? '';
    const id = query.get('_id') ?? query.get('id');
    const found = PATIENTS.filter((p) => (family === '' || p.family.includes(family)) && (id === null || p.id === id));
    const count = Number(query.get('_count') ?? '100');
    return { status: 200, body: searchset(found.slice(0, count).map(patientResource)) };
  }
  if (type === 'Location' && parts.length === 2) {
    return { status: 200, body: { resourceType: 'Location', id: parts[1], name: 'Ward 7' } };
  }
  const patient = query.get('patient') ?? query.get('subject') ?? '';
  if (
    [
      'Observation',
      'Condition',
      'Encounter',
      'AllergyIntolerance',
      'MedicationOrder',
      'MedicationRequest',
      'MedicationStatement',
      'Coverage',
      'Location',
    ].includes(type)
  ) {
    if (patient === 'boom') return { status: 500, body: outcome('exception', 'upstream failed') };
    const resource: Record<string, unknown> = { resourceType: type, id: `${type.toLowerCase()}-1` };
    if (type === 'Encounter') {
      resource.patient = { reference: `Patient/${patient}` };
      resource.location = [{ location: { reference: 'Location/loc-1' } }];
    } else if (type === 'Coverage') resource.beneficiary = { reference: `Patient/${patient}` };
    else if (type !== 'Location') resource.patient = { reference: `Patient/${patient}` };
    return { status: 200, body: searchset(patient === '' && type !== 'Location' ? [] : [resource]) };
  }
  return { status: 404, body: outcome('not-found', 'unknown route') };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export interface HandlerOptions {
  tenantId?: string;
  clientId?: string;
  /** Send the body in this many write() calls (to exercise chunked capture). */
  chunks?: number;
}

/** The FHIR-ish handler. It sets the request context like the gateway does. */
export function fhirHandler(options: HandlerOptions = {}): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://local');
      const method = req.method ?? 'GET';
      const auth = req.headers.authorization;
      setRequestContext(req, {
        tenantId: options.tenantId ?? 'tenant-1',
        routedTenantId: options.tenantId ?? 'tenant-1',
        clientId: options.clientId ?? 'client-1',
        fhirVersion: 'DSTU2',
      });
      if (url.pathname === '/token') {
        setRequestContext(req, { route: '/token' });
        await readBody(req);
        send(res, 200, { access_token: 'x', token_type: 'bearer', expires_in: 3600 }, options.chunks);
        return;
      }
      if (auth === 'Bearer bad') {
        send(res, 401, outcome('login', 'invalid token'), options.chunks);
        return;
      }
      let query = url.searchParams;
      let result: Answer;
      const started = performance.now();
      if (method === 'POST' && url.pathname === '/') {
        const bundle = JSON.parse(await readBody(req)) as { entry?: { request?: { method?: string; url?: string } }[] };
        const entries = (bundle.entry ?? []).map((e) => {
          const u = new URL(`/${(e.request?.url ?? '').replace(/^\//, '')}`, 'http://local');
          const a = answer(e.request?.method ?? 'GET', u.pathname, u.searchParams);
          return { resource: a.body, response: { status: `${a.status} ${a.status === 200 ? 'OK' : 'Error'}` } };
        });
        result = { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: entries } };
      } else {
        if (method === 'POST') query = new URLSearchParams(await readBody(req));
        result = answer(method, url.pathname, query);
      }
      recordUpstream(req, {
        durationS: (performance.now() - started) / 1000,
        status: result.status,
        serverAddress: '127.0.0.1',
        serverPort: 9,
      });
      send(res, result.status, result.body, options.chunks);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
}

function send(res: ServerResponse, status: number, body: unknown, chunks = 1): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json+fhir', 'content-length': Buffer.byteLength(text) });
  if (chunks <= 1) {
    res.end(text);
    return;
  }
  const size = Math.ceil(text.length / chunks);
  for (let i = 0; i < text.length; i += size) res.write(text.slice(i, i + size));
  res.end();
}

export async function listen(
  handler: RequestListener,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
