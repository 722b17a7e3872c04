/**
 * Incidents end to end in one sink (real chDB with the seeded dataset, the query API on its worker thread, real
 * receivers on 127.0.0.1): the monitor runs the monitoring reports on each tenant's schedule, every planted hit
 * becomes one incident, and each incident reaches every destination once — a Teams card (HTTP), a JSON webhook that
 * is down at first (connection refused, then up: the incident arrives later, once), syslog RFC 5424 over UDP and TCP
 * (octet counting) with a CEF payload — with no patient id in any payload at default settings, and the tenant that
 * allows them gets them. Two scheduled runs create nothing twice. The lifecycle (ack, close with a note) goes through
 * the query API with an officer's token, is recorded append-only and in audit_query_log; the routes are attacked.
 * Writes the Teams card as sent to <tmp>/fhirwatch-incident-teams-card.json (the closing note's payload).
 */
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putTenantSettings } from '../src/compliance/settings.ts';
import { monitoringReports } from '../src/incidents/monitor.ts';
import { type SinkServer, startSink } from '../src/ingest/server.ts';
import { DATASET_TENANTS } from '../src/testing/dataset.ts';
import { rawRequest } from '../src/testing/http.ts';
import { type LoadedStore, loadStore } from './queries-fixture.ts';

const ALICE = 'alice-officer-token-0001';
const WRITER = 'gw-a-ingest-token-000003';
const [EAST, BERLIN, UTC] = DATASET_TENANTS as [
  (typeof DATASET_TENANTS)[0],
  (typeof DATASET_TENANTS)[0],
  (typeof DATASET_TENANTS)[0],
];

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let store: LoadedStore;
let sink: SinkServer;
const teams: Received[] = [];
const webhook: Received[] = [];
const syslogUdp: string[] = [];
const syslogTcp: string[] = [];
let teamsServer: Server;
let webhookServer: Server | undefined;
let webhookPort: number;
let udp: ReturnType<typeof createSocket>;
let tcp: TcpServer;
const log: string[] = [];

function httpReceiver(into: Received[]): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      into.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('1');
    });
  });
}

const listen = (server: Server | TcpServer, port = 0): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

/** Octet-counting frames (RFC 6587): `<len> <msg>` repeated. */
function frames(data: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = Number(data.subarray(at, space).toString('ascii'));
    out.push(data.subarray(space + 1, space + 1 + length).toString('utf8'));
    at = space + 1 + length;
  }
  return out;
}

/** An RFC 5424 line: header fields, structured data, and the CEF message's header and extension. */
function parseSyslog(line: string) {
  const m =
    /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[[^\]]*(?:\\\][^\]]*)*\]|-) (CEF:0\|.*)$/.exec(line) ?? undefined;
  if (m === undefined) throw new Error(`not an RFC 5424 line with CEF: ${line.slice(0, 80)}`);
  const [, pri, timestamp, host, app, procId, msgId, sd, cef] = m as unknown as string[];
  const header: string[] = [];
  let rest = cef as string;
  for (let i = 0; i < 7; i += 1) {
    const bar = /(?<!\\)\|/.exec(rest);
    header.push(rest.slice(0, bar?.index));
    rest = rest.slice((bar?.index ?? 0) + 1);
  }
  const ext: Record<string, string> = {};
  for (const part of rest.split(/ (?=[A-Za-z0-9]+=)/)) {
    const eq = part.search(/(?<!\\)=/);
    ext[part.slice(0, eq)] = part.slice(eq + 1).replace(/\\([\\=])/g, '$1');
  }
  return { pri: Number(pri), timestamp, host, app, procId, msgId, sd: sd as string, header, ext };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 150_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const api = (path: string, init: { method?: string; body?: string; token?: string | null } = {}) =>
  rawRequest(sink.url, path, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token === null ? {} : { authorization: `Bearer ${init.token ?? ALICE}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: init.body }),
  });

beforeAll(async () => {
  store = await loadStore('incidents');
  teamsServer = httpReceiver(teams);
  const teamsPort = await listen(teamsServer);
  // the webhook's port, free: nothing listens there until the test brings the receiver up
  const probe = createServer();
  webhookPort = await listen(probe);
  await new Promise((r) => probe.close(r));
  udp = createSocket('udp4');
  udp.on('message', (msg) => syslogUdp.push(msg.toString('utf8')));
  const udpPort = await new Promise<number>((resolve) => udp.bind(0, '127.0.0.1', () => resolve(udp.address().port)));
  tcp = createTcpServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => syslogTcp.push(...frames(Buffer.concat(chunks))));
  });
  const tcpPort = await listen(tcp);

  await putTenantSettings(store.client, {
    tenantId: EAST.id,
    changedBy: 'test',
    settings: { displayName: 'East Clinic', timeZone: EAST.timeZone, incidents: { periodHours: 720 } },
  });
  // berlin lets its patient ids go out; utc has no incidents
  await putTenantSettings(store.client, {
    tenantId: BERLIN.id,
    changedBy: 'test',
    settings: {
      displayName: 'Berlin Praxis',
      timeZone: BERLIN.timeZone,
      incidents: { periodHours: 720, patientIds: true },
    },
  });
  await putTenantSettings(store.client, {
    tenantId: UTC.id,
    changedBy: 'test',
    settings: { incidents: { enabled: false } },
  });
  sink = await startSink({
    client: store.client,
    port: 0,
    queryApi: { tokens: [{ name: 'alice', token: ALICE }] },
    ingestTokens: [{ name: 'gw-a', token: WRITER }],
    selfMetricsIntervalMs: 0,
    logger: (entry) => log.push(JSON.stringify(entry)),
    incidents: {
      // the seeded data ends on 2026-11-20: evaluate there
      evaluateAt: store.dataset.plants.reportTo.toISOString(),
      consoleUrl: 'http://127.0.0.1:9/console',
      intervalMinutes: 0.02,
      tickMs: 200,
      deliveryPollMs: 100,
      retryBaseMs: 200,
      retryMaxMs: 800,
      sendTimeoutMs: 2000,
      destinations: [
        { name: 'privacy-teams', type: 'teams', url: `http://127.0.0.1:${teamsPort}/webhook` },
        { name: 'siem-json', type: 'webhook', url: `http://127.0.0.1:${webhookPort}/incidents` },
        { name: 'siem-udp', type: 'syslog', host: '127.0.0.1', port: udpPort, protocol: 'udp' },
        { name: 'siem-tcp', type: 'syslog', host: '127.0.0.1', port: tcpPort, protocol: 'tcp' },
      ],
    },
  });
}, 180_000);

afterAll(async () => {
  await sink?.close();
  await store?.close();
  teamsServer?.close();
  webhookServer?.close();
  tcp?.close();
  udp?.close();
});

const incidentIdsOf = (bodies: readonly string[], pick: (body: string) => string): string[] => bodies.map(pick).sort();

describe('incidents', () => {
  it('turns the planted hits into incidents on each tenant schedule, once across scheduled runs', async () => {
    const incidents = sink.incidents!;
    await until('two scheduled runs of east and berlin', () => incidents.stats.runs >= 4);
    const runsBefore = incidents.stats.runs;
    const list = JSON.parse((await api('/api/audit/incidents?limit=5000')).text) as {
      rows: {
        incident_id: string;
        tenant_id: string;
        tenant_name: string;
        report: string;
        principal: string;
        state: string;
      }[];
    };
    expect(list.rows.length).toBeGreaterThan(3);
    expect(incidents.stats.created).toBe(list.rows.length);
    // utc is disabled by its settings
    expect(list.rows.filter((r) => r.tenant_id === UTC.id)).toEqual([]);
    expect(new Set(list.rows.map((r) => r.tenant_id))).toEqual(new Set([EAST.id, BERLIN.id]));
    expect(list.rows.find((r) => r.tenant_id === EAST.id)?.tenant_name).toBe('East Clinic');
    // the planted name probers and volume users of the monitored tenants are among them, each once
    const { plants } = store.dataset;
    const monitored = new Set([EAST.id, BERLIN.id]);
    const planted = [
      ...plants.nameProbing.map((p) => ['name-probing', p.tenant_id, p.principal]),
      ...plants.volumeHour.map((p) => ['volume', p.tenant_id, p.user_id]),
    ].filter(([, tenant]) => monitored.has(tenant as string));
    expect(planted.length).toBeGreaterThan(0);
    for (const [report, tenant, principal] of planted) {
      const hits = list.rows.filter((r) => r.report === report && r.tenant_id === tenant && r.principal === principal);
      expect(hits.length, `${report} ${principal}`).toBe(1);
    }
    for (const row of list.rows) expect(monitoringReports()).toContain(row.report);
    // further runs find the same hits: nothing new
    await until('two more runs', () => incidents.stats.runs >= runsBefore + 2);
    const again = JSON.parse((await api('/api/audit/incidents?limit=5000')).text) as { rows: unknown[] };
    expect(again.rows.length).toBe(list.rows.length);
    expect(incidents.stats.created).toBe(list.rows.length);
  });

  it('delivers each incident once to every destination; the webhook that was down gets it later', async () => {
    const incidents = sink.incidents!;
    const list = JSON.parse((await api('/api/audit/incidents?limit=5000')).text) as {
      rows: { incident_id: string; tenant_id: string }[];
    };
    const ids = list.rows.map((r) => r.incident_id).sort();
    await until('teams, udp and tcp deliveries', () => teams.length >= ids.length && syslogTcp.length >= ids.length);
    await until('the udp datagrams', () => syslogUdp.length >= ids.length);
    // the webhook refused connections meanwhile: attempts failed and were scheduled again
    expect(webhook).toEqual([]);
    const oneId = ids[0] as string;
    const pending = JSON.parse((await api(`/api/audit/incidents?id=${oneId}`)).text) as {
      deliveries: { destination: string; status: string; attempts: number; last_error: string }[];
    };
    const json = pending.deliveries.find((d) => d.destination === 'siem-json');
    expect(json?.status).toBe('pending');
    expect(json?.attempts).toBeGreaterThanOrEqual(1);
    expect(json?.last_error).toBe('ECONNREFUSED');
    expect(log.some((line) => line.includes('FW_INCIDENT_DELIVERY_FAILED') && line.includes('siem-json'))).toBe(true);
    // the receiver comes up
    webhookServer = httpReceiver(webhook);
    await listen(webhookServer, webhookPort);
    await until('the webhook deliveries', () => webhook.length >= ids.length);
    await until('two more delivery passes', async () => {
      const before = incidents.stats.delivered;
      await new Promise((r) => setTimeout(r, 500));
      return incidents.stats.delivered === before;
    });

    // once each, per destination
    expect(
      incidentIdsOf(
        teams.map((t) => t.body),
        (b) =>
          JSON.parse(b).attachments[0].content.body[1].facts.find((f: { title: string }) => f.title === 'Incident')
            .value,
      ),
    ).toEqual(ids);
    expect(
      incidentIdsOf(
        webhook.map((w) => w.body),
        (b) => JSON.parse(b).incident_id,
      ),
    ).toEqual(ids);
    expect(syslogUdp.map((l) => parseSyslog(l).ext.externalId).sort()).toEqual(ids);
    expect(syslogTcp.map((l) => parseSyslog(l).ext.externalId).sort()).toEqual(ids);
    for (const w of webhook) {
      const body = JSON.parse(w.body) as { idempotency_key: string; incident_id: string };
      expect(w.headers['idempotency-key']).toBe(`${body.incident_id}:siem-json`);
      expect(body.idempotency_key).toBe(`${body.incident_id}:siem-json`);
    }
    const shown = JSON.parse((await api(`/api/audit/incidents?id=${oneId}`)).text) as {
      deliveries: { destination: string; status: string }[];
    };
    expect(shown.deliveries.map((d) => [d.destination, d.status])).toEqual([
      ['privacy-teams', 'delivered'],
      ['siem-json', 'delivered'],
      ['siem-tcp', 'delivered'],
      ['siem-udp', 'delivered'],
    ]);

    // the Teams card: an Adaptive Card in the message envelope, with a console link
    const card = JSON.parse(teams[0]!.body);
    expect(card.type).toBe('message');
    expect(card.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card.attachments[0].content.type).toBe('AdaptiveCard');
    expect(card.attachments[0].content.actions[0].url).toMatch(
      /^http:\/\/127\.0\.0\.1:9\/console\/#incident=[0-9a-f]{32}$/,
    );
    // the card of a planted pattern (volume, then name probing) of the east tenant, for the closing note
    const reportOf = (t: Received): string =>
      JSON.parse(t.body).attachments[0].content.body[1].facts[0].value.replace(/^.*\((.*)\)$/, '$1');
    const eastCard =
      ['volume', 'name-probing', 'unexplained']
        .map((report) => teams.find((t) => t.body.includes('East Clinic') && reportOf(t) === report))
        .find((t) => t !== undefined) ?? teams[0]!;
    const file = join(tmpdir(), 'fhirwatch-incident-teams-card.json');
    writeFileSync(file, eastCard.body);
    process.stdout.write(`Teams card as sent (${file}):\n${eastCard.body}\n`);

    // syslog: RFC 5424 header and CEF fields
    const line = parseSyslog(syslogTcp[0]!);
    expect(line.pri).toBe(108);
    expect(Number.isNaN(Date.parse(line.timestamp as string))).toBe(false);
    expect(line.app).toBe('fhirwatch');
    expect(line.msgId).toBe('incident');
    expect(line.sd).toContain(`incidentId="${line.ext.externalId}"`);
    expect(line.header.slice(0, 3)).toEqual(['CEF:0', 'fhirwatch', 'fhirwatch']);
    expect(monitoringReports()).toContain(line.header[4]);
    expect(line.header[6]).toBe('7');
    expect(Number(line.ext.cnt)).toBeGreaterThan(0);
    expect(line.ext.cs1Label).toBe('tenant');
  });

  it('no patient id in any payload at default settings; the tenant that allows them gets them', () => {
    const patients = [...new Set(store.dataset.records.map((r) => r.patient_id))].filter((p) => p !== '' && p !== '*');
    expect(patients.length).toBeGreaterThan(100);
    const payloads = [...teams.map((t) => t.body), ...webhook.map((w) => w.body), ...syslogUdp, ...syslogTcp];
    const east = payloads.filter((p) => p.includes(EAST.id));
    const berlin = payloads.filter((p) => p.includes(BERLIN.id));
    expect(east.length).toBeGreaterThan(0);
    expect(east.length + berlin.length).toBe(payloads.length);
    const named = (text: string): string[] =>
      patients.filter((id) => new RegExp(`(?<![\\w-])${id.replace(/[-]/g, '\\-')}(?![\\w-])`).test(text));
    expect(east.flatMap(named)).toEqual([]);
    // berlin allows them: its record-level incidents (after-hours, vip, …) carry the patient ids
    const berlinWebhook = webhook.map((w) => JSON.parse(w.body)).filter((b) => b.tenant_id === BERLIN.id);
    expect(berlinWebhook.every((b) => Array.isArray(b.patient_ids))).toBe(true);
    expect(berlinWebhook.some((b) => b.patient_ids.length > 0)).toBe(true);
    // and nothing of a payload went to the log
    expect(log.filter((line) => patients.some((id) => line.includes(id)))).toEqual([]);
  });

  it('lifecycle: ack, close with a note, every change recorded; bad changes refused', async () => {
    const list = JSON.parse((await api('/api/audit/incidents?state=open')).text) as { rows: { incident_id: string }[] };
    const id = list.rows[0]!.incident_id;
    const post = (body: unknown, token?: string | null) =>
      api('/api/audit/incidents', {
        method: 'POST',
        body: JSON.stringify(body),
        ...(token === undefined ? {} : { token }),
      });

    expect((await post({ id, action: 'close' })).status).toBe(400); // a close needs a note
    const ack = await post({ id, action: 'ack', note: 'looking into it' });
    expect(ack.status).toBe(200);
    expect((await post({ id, action: 'ack' })).status).toBe(409);
    const close = await post({ id, action: 'close', note: 'confirmed with the department head; retrained' });
    expect(close.status).toBe(200);
    const again = await post({ id, action: 'close', note: 'twice' });
    expect(again.status).toBe(409);
    expect(JSON.parse(again.text).error.code).toBe('FW_SINK_CONFLICT');
    expect((await post({ id, action: 'ack' })).status).toBe(409);
    expect((await post({ id, action: 'reopen' })).status).toBe(400);

    const shown = JSON.parse((await api(`/api/audit/incidents?id=${id}`)).text) as {
      incident: { state: string };
      events: { actor: string; from_state: string; to_state: string; note: string }[];
    };
    expect(shown.incident.state).toBe('closed');
    expect(shown.events.map((e) => [e.actor, e.from_state, e.to_state, e.note])).toEqual([
      ['fhirwatch-sink', '', 'open', ''],
      ['alice', 'open', 'acknowledged', 'looking into it'],
      ['alice', 'acknowledged', 'closed', 'confirmed with the department head; retrained'],
    ]);
    const closed = JSON.parse((await api('/api/audit/incidents?state=closed')).text) as {
      rows: { incident_id: string }[];
    };
    expect(closed.rows.map((r) => r.incident_id)).toEqual([id]);

    // every read and change is in audit_query_log
    const reads = JSON.parse((await api('/api/audit/query-log?limit=5000')).text) as {
      rows: { endpoint: string; actor: string; status: number }[];
    };
    const endpoints = reads.rows.filter((r) => r.endpoint.startsWith('incidents'));
    expect(endpoints.some((r) => r.endpoint === 'incidents:post' && r.status === 200 && r.actor === 'alice')).toBe(
      true,
    );
    expect(endpoints.some((r) => r.endpoint === 'incidents:post' && r.status === 409)).toBe(true);
    expect(endpoints.some((r) => r.endpoint === 'incidents' && r.status === 200)).toBe(true);
  });

  it('attacks: no token, wrong token, prototype names as ids, huge notes, bad states', async () => {
    const list = JSON.parse((await api('/api/audit/incidents?state=open')).text) as { rows: { incident_id: string }[] };
    const id = list.rows[0]!.incident_id;
    expect((await api('/api/audit/incidents', { token: null })).status).toBe(401);
    expect((await api('/api/audit/incidents', { token: 'wrong-token-wrong-token' })).status).toBe(401);
    expect(
      (await api('/api/audit/incidents', { method: 'POST', token: null, body: JSON.stringify({ id, action: 'ack' }) }))
        .status,
    ).toBe(401);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '../x', `${id}x`]) {
      const shown = await api(`/api/audit/incidents?id=${encodeURIComponent(name)}`);
      expect(shown.status, name).toBe(404);
      const changed = await api('/api/audit/incidents', {
        method: 'POST',
        body: JSON.stringify({ id: name, action: 'ack' }),
      });
      expect(changed.status, name).toBe(404);
    }
    for (const action of ['__proto__', 'constructor', 'toString']) {
      const r = await api('/api/audit/incidents', { method: 'POST', body: JSON.stringify({ id, action }) });
      expect(r.status, action).toBe(400);
    }
    // FHIR callers get an OperationOutcome
    const fhir = await api('/api/audit/incidents?id=__proto__&format=fhir');
    expect(fhir.status).toBe(404);
    expect(JSON.parse(fhir.text).resourceType).toBe('OperationOutcome');
    const long = await api('/api/audit/incidents', {
      method: 'POST',
      body: JSON.stringify({ id, action: 'ack', note: 'x'.repeat(5000) }),
    });
    expect(long.status).toBe(400);
    const huge = await api('/api/audit/incidents', {
      method: 'POST',
      body: JSON.stringify({ id, action: 'ack', note: 'x'.repeat(200_000) }),
    });
    expect(huge.status).toBe(413);
    expect((await api('/api/audit/incidents?state=__proto__')).status).toBe(400);
    const text = await rawRequest(sink.url, '/api/audit/incidents', {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ id, action: 'ack' }),
    });
    expect(text.status).toBe(415);
    // nothing of it changed the incident
    const shown = JSON.parse((await api(`/api/audit/incidents?id=${id}`)).text) as { incident: { state: string } };
    expect(shown.incident.state).toBe('open');
  });
});
