/**
 * Where incidents go: a Microsoft Teams incoming webhook (an Adaptive Card in the `message`/`attachments`
 * envelope that Teams workflows' "post to a channel when a webhook request is received" accept), a generic JSON
 * webhook, and syslog (RFC 5424 over UDP, or TCP with RFC 6587 octet-counting framing) carrying a CEF event for a
 * SIEM. Every send has a timeout; URLs and hosts come from the sink's incidents config only, and must be loopback
 * or listed in its `allowHosts`; redirects are not followed.
 *
 * What a payload holds by default: the incident id, report, tenant (id and name), the principal (user id or
 * client:<id>), counts, the period and a console link. Patient ids only when the tenant's settings say
 * `incidents.patientIds: true`. Delivery is at-least-once: each payload carries an idempotency key
 * (`<incident id>:<destination>`: header `Idempotency-Key` and field `idempotency_key` on the webhooks, the
 * structured-data `incidentId` and CEF `externalId` on syslog) that a receiver can deduplicate on; a receiver
 * that does not (Teams) may see a repeat only if the sink stops between a send and its record.
 */
import { createSocket } from 'node:dgram';
import { connect, isIP } from 'node:net';
import { hostname } from 'node:os';
import { SinkError } from '../errors.ts';
import type { Incident } from './store.ts';

export type DestinationConfig =
  | { name: string; type: 'teams'; url: string; tenants?: readonly string[] }
  | { name: string; type: 'webhook'; url: string; tenants?: readonly string[]; headers?: Record<string, string> }
  | {
      name: string;
      type: 'syslog';
      host: string;
      port: number;
      protocol?: 'udp' | 'tcp';
      tenants?: readonly string[];
    };

/** What a destination is sent about an incident (no PHI unless `patient_ids` is set by the tenant's settings). */
export interface IncidentMessage {
  idempotency_key: string;
  event: 'incident.opened';
  incident_id: string;
  report: string;
  title: string;
  tenant_id: string;
  tenant_name: string;
  principal: string;
  rows: number;
  patients: number;
  period_from: string;
  period_to: string;
  detected_at: string;
  console_url: string;
  patient_ids?: string[];
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return LOOPBACK_NAMES.has(host) || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** Check a destinations list (names unique, types known, URLs http(s) to loopback or an allowed host). */
export function checkDestinations(
  list: readonly DestinationConfig[],
  allowHosts: readonly string[] = [],
): DestinationConfig[] {
  const bad = (message: string): SinkError => new SinkError('FW_SINK_OPTIONS', `incidents: ${message}`);
  const allowed = (host: string): boolean => isLoopback(host) || allowHosts.includes(host.replace(/^\[|\]$/g, ''));
  const names = new Set<string>();
  for (const [i, d] of list.entries()) {
    const where = `destinations[${i}]`;
    if (typeof d !== 'object' || d === null) throw bad(`${where} must be an object`);
    if (typeof d.name !== 'string' || !/^[\w.-]{1,64}$/.test(d.name)) throw bad(`${where}.name must be a name`);
    if (names.has(d.name)) throw bad(`${where}.name repeats '${d.name}'`);
    names.add(d.name);
    if (d.tenants !== undefined && (!Array.isArray(d.tenants) || d.tenants.some((t) => typeof t !== 'string'))) {
      throw bad(`${where}.tenants must be a list of tenant ids`);
    }
    if (d.type === 'teams' || d.type === 'webhook') {
      let url: URL;
      try {
        url = new URL(d.url);
      } catch {
        throw bad(`${where}.url is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`${where}.url must be http or https`);
      if (url.username !== '' || url.password !== '') throw bad(`${where}.url must not carry credentials`);
      if (!allowed(url.hostname)) throw bad(`${where}.url: host is neither loopback nor in allowHosts`);
      const headers = d.type === 'webhook' ? (d.headers ?? {}) : {};
      if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
        throw bad(`${where}.headers must be an object of header names and values`);
      }
      for (const [name, value] of Object.entries(headers)) {
        if (!/^[A-Za-z0-9-]{1,64}$/.test(name) || typeof value !== 'string' || /[\r\n]/.test(value)) {
          throw bad(`${where}.headers: '${name}' is not a header name with a one-line text value`);
        }
        if (['content-type', 'content-length', 'idempotency-key', 'host'].includes(name.toLowerCase())) {
          throw bad(`${where}.headers: '${name}' is set by the sink`);
        }
      }
    } else if (d.type === 'syslog') {
      if (typeof d.host !== 'string' || !allowed(d.host)) {
        throw bad(`${where}.host is neither loopback nor in allowHosts`);
      }
      if (!Number.isInteger(d.port) || d.port < 1 || d.port > 65535) throw bad(`${where}.port must be a port`);
      if (d.protocol !== undefined && d.protocol !== 'udp' && d.protocol !== 'tcp') {
        throw bad(`${where}.protocol must be udp or tcp`);
      }
    } else {
      throw bad(`${where}.type must be teams, webhook or syslog`);
    }
  }
  return [...list];
}

/** The message of an incident for one destination. */
export function incidentMessage(
  incident: Incident,
  context: { destination: string; title: string; tenantName: string; consoleUrl: string; patientIds: boolean },
): IncidentMessage {
  return {
    idempotency_key: `${incident.incident_id}:${context.destination}`,
    event: 'incident.opened',
    incident_id: incident.incident_id,
    report: incident.report,
    title: context.title,
    tenant_id: incident.tenant_id,
    tenant_name: context.tenantName,
    principal: incident.principal,
    rows: incident.rows,
    patients: incident.patients,
    period_from: incident.period_from,
    period_to: incident.period_to,
    detected_at: incident.detected_at,
    console_url: `${context.consoleUrl.replace(/\/$/, '')}/#incident=${incident.incident_id}`,
    ...(context.patientIds ? { patient_ids: incident.patient_ids ?? [] } : {}),
  };
}

/**
 * The Teams payload: an Adaptive Card (version 1.4) as the single attachment of a `message`, the envelope Teams
 * workflows ("When a Teams webhook request is received") and incoming webhooks take.
 */
export function teamsCard(message: IncidentMessage): Record<string, unknown> {
  const facts = [
    { title: 'Report', value: `${message.title} (${message.report})` },
    { title: 'User', value: message.principal },
    {
      title: 'Tenant',
      value: message.tenant_name === '' ? message.tenant_id : `${message.tenant_name} (${message.tenant_id})`,
    },
    { title: 'Rows', value: String(message.rows) },
    { title: 'Patients', value: String(message.patients) },
    { title: 'Period', value: `${message.period_from} – ${message.period_to}` },
    { title: 'Incident', value: message.incident_id },
    ...(message.patient_ids === undefined ? [] : [{ title: 'Patient ids', value: message.patient_ids.join(', ') }]),
  ];
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body: [
            {
              type: 'TextBlock',
              size: 'Medium',
              weight: 'Bolder',
              wrap: true,
              text: `fhirwatch incident: ${message.title}`,
            },
            { type: 'FactSet', facts },
          ],
          actions: [{ type: 'Action.OpenUrl', title: 'Open in fhirwatch', url: message.console_url }],
        },
      },
    ],
  };
}

/** CEF header field: `\` and `|` escaped. */
const cefHeader = (text: string): string =>
  text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]/g, ' ');
/** CEF extension value: `\`, `=` and line ends escaped. */
const cefValue = (text: string): string =>
  text.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
/** RFC 5424 PARAM-VALUE: `"`, `\` and `]` escaped. */
const sdValue = (text: string): string => text.replace(/[\\"\]]/g, (c) => `\\${c}`);
/** RFC 5424 header fields are printable US-ASCII without spaces. */
const printable = (text: string, max: number): string => text.replace(/[^\x21-\x7e]/g, '').slice(0, max) || '-';

/** CEF severity (0–10) of an incident: 7 (high) for every monitoring hit. */
export const CEF_SEVERITY = 7;
/** RFC 5424 PRI: facility 13 (log audit), severity 4 (warning). */
export const SYSLOG_PRI = 13 * 8 + 4;

/** The CEF event of an incident (the syslog MSG). */
export function cefEvent(message: IncidentMessage, version: string): string {
  const ext: [string, string][] = [
    ['externalId', message.incident_id],
    ['rt', String(Date.parse(message.detected_at))],
    ['start', String(Date.parse(message.period_from))],
    ['end', String(Date.parse(message.period_to))],
    ['suser', message.principal],
    ['cs1Label', 'tenant'],
    ['cs1', message.tenant_id],
    ['cs2Label', 'tenantName'],
    ['cs2', message.tenant_name],
    ['cnt', String(message.rows)],
    ['cn1Label', 'patients'],
    ['cn1', String(message.patients)],
    ['request', message.console_url],
    ...(message.patient_ids === undefined
      ? []
      : ([
          ['cs3Label', 'patientIds'],
          ['cs3', message.patient_ids.join(',')],
        ] as [string, string][])),
  ];
  return `CEF:0|fhirwatch|fhirwatch|${cefHeader(version)}|${cefHeader(message.report)}|${cefHeader(
    `fhirwatch incident: ${message.title}`,
  )}|${CEF_SEVERITY}|${ext.map(([k, v]) => `${k}=${cefValue(v)}`).join(' ')}`;
}

/** One RFC 5424 syslog line: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`. */
export function syslogLine(message: IncidentMessage, version: string, at: Date = new Date()): string {
  const sd = `[fhirwatch@32473 incidentId="${sdValue(message.incident_id)}" idempotencyKey="${sdValue(message.idempotency_key)}"]`;
  return `<${SYSLOG_PRI}>1 ${at.toISOString()} ${printable(hostname(), 255)} fhirwatch ${process.pid} incident ${sd} ${cefEvent(message, version)}`;
}

/** What a send failed with: a short code for the outbox and the log (never a payload or response body). */
export class DeliveryError extends Error {
  readonly code: string;
  constructor(code: string) {
    super(code);
    this.name = 'DeliveryError';
    this.code = code;
  }
}

async function postJson(url: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const e = error as { name?: string; cause?: { code?: string } };
    throw new DeliveryError(e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? 'network'));
  }
  await response.arrayBuffer().catch(() => undefined);
  if (response.status < 200 || response.status > 299) throw new DeliveryError(`http ${response.status}`);
}

function sendUdp(host: string, port: number, line: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(host.replace(/^\[|\]$/g, '')) === 6 ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new DeliveryError('timeout'));
    }, timeoutMs);
    socket.send(Buffer.from(line, 'utf8'), port, host.replace(/^\[|\]$/g, ''), (error) => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(new DeliveryError((error as { code?: string }).code ?? 'network'));
      else resolve();
    });
  });
}

/** TCP with octet-counting framing (RFC 6587 3.4.1): `<length> <line>`; resolves once the bytes are flushed. */
function sendTcp(host: string, port: number, line: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const bytes = Buffer.from(line, 'utf8');
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port });
    let settled = false;
    const done = (error?: DeliveryError): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done(new DeliveryError('timeout')));
    socket.once('error', (error) => done(new DeliveryError((error as { code?: string }).code ?? 'network')));
    socket.once('connect', () => {
      socket.end(Buffer.concat([Buffer.from(`${bytes.length} `), bytes]), () => done());
    });
  });
}

/** Send one incident message to one destination; throws a {@link DeliveryError}. */
export async function deliver(
  destination: DestinationConfig,
  message: IncidentMessage,
  options: { timeoutMs: number; version: string },
): Promise<void> {
  switch (destination.type) {
    case 'teams':
      return postJson(
        destination.url,
        teamsCard(message),
        { 'idempotency-key': message.idempotency_key },
        options.timeoutMs,
      );
    case 'webhook':
      return postJson(
        destination.url,
        message,
        { ...destination.headers, 'idempotency-key': message.idempotency_key },
        options.timeoutMs,
      );
    case 'syslog': {
      const line = syslogLine(message, options.version);
      return destination.protocol === 'tcp'
        ? sendTcp(destination.host, destination.port, line, options.timeoutMs)
        : sendUdp(destination.host, destination.port, line, options.timeoutMs);
    }
  }
}
