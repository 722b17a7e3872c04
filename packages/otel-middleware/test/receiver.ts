/**
 * A real local HTTP receiver standing in for the sink in the middleware's own tests: it speaks the
 * ingest protocol of docs/wire.md (`POST /v1/audit` NDJSON or spool-framed lines → 200 {accepted,
 * duplicates}, dedup on the request's event_id; request records and legacy single records, expanded
 * into per-patient rows with the contract's `expandRequestRecord`, as the sink's view does) and captures raw OTLP/HTTP payloads (`/v1/traces|metrics|logs`) byte for byte, which
 * the PHI test inspects. Also used by packages/e2e; the e2e tests use the real sink where it matters.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import {
  type AuditRecord,
  type AuditRequestRecord,
  expandRequestRecord,
  isRequestLine,
  requestFromAuditRecord,
} from '@fhirwatch/contract';

export interface Receiver {
  url: string;
  /** Per-patient rows (the expansion of `requests`), in arrival order. */
  records: AuditRecord[];
  /** Unique request records by event_id (legacy single records lifted to v1), in arrival order. */
  requests: AuditRequestRecord[];
  /** Every record line received, duplicates included. */
  received: number;
  /** Audit batches that arrived spool-framed (`<crc> <json>` lines, the shipper's format). */
  framedBatches: number;
  batches: number;
  /** Audit batches that arrived gzip-compressed. */
  gzipBatches: number;
  /** Raw OTLP payloads (request bodies as text) per signal path. */
  otlp: { path: string; body: string }[];
  /** Answer the next N audit POSTs with this status (and Retry-After when set). */
  failNext(count: number, status: number, retryAfterS?: number): void;
  /**
   * Validate like the sink: refuse (400, nothing stored) any batch holding a record matching
   * `bad` (a line is bad when any of its per-patient rows is), naming the first bad line (1-based)
   * unless `nameLine` is false.
   */
  rejectRecords(bad: ((record: AuditRecord) => boolean) | undefined, nameLine?: boolean): void;
  /** Audit POSTs refused by `rejectRecords`. */
  refusedBatches: number;
  /** Resolves once `predicate(records)` holds (checked after every accepted batch). */
  waitFor(predicate: (records: AuditRecord[]) => boolean): Promise<void>;
  /** Resolves when at least `n` unique records have arrived. */
  waitForRecords(n: number): Promise<void>;
  waitForOtlp(predicate: (body: string) => boolean): Promise<void>;
  close(): Promise<void>;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const seen = new Set<string>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const otlpWaiters: { predicate: (b: string) => boolean; resolve: () => void }[] = [];
  const conditions: { predicate: (r: AuditRecord[]) => boolean; resolve: () => void }[] = [];
  let failures: { count: number; status: number; retryAfterS: number | undefined } = {
    count: 0,
    status: 503,
    retryAfterS: undefined,
  };
  let bad: ((record: AuditRecord) => boolean) | undefined;
  let nameLine = true;
  const receiver: Receiver = {
    url: '',
    refusedBatches: 0,
    rejectRecords(predicate, name = true) {
      bad = predicate;
      nameLine = name;
    },
    records: [],
    requests: [],
    framedBatches: 0,
    received: 0,
    batches: 0,
    gzipBatches: 0,
    otlp: [],
    failNext(count, status, retryAfterS) {
      failures = { count, status, retryAfterS };
    },
    waitFor(predicate) {
      if (predicate(receiver.records)) return Promise.resolve();
      return new Promise((resolve) => conditions.push({ predicate, resolve }));
    },
    waitForRecords(n) {
      if (receiver.records.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    waitForOtlp(predicate) {
      if (receiver.otlp.some((p) => predicate(p.body))) return Promise.resolve();
      return new Promise((resolve) => otlpWaiters.push({ predicate, resolve }));
    },
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((req, res) => {
    void readAll(req).then((raw) => {
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (path === '/v1/audit' && req.method === 'POST') {
        if (failures.count > 0) {
          failures.count--;
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (failures.retryAfterS !== undefined) headers['retry-after'] = String(failures.retryAfterS);
          res.writeHead(failures.status, headers);
          res.end(JSON.stringify({ error: { code: 'FW_SINK_TEST', message: 'refused by test' } }));
          return;
        }
        const framed = (req.headers['content-type'] ?? '').startsWith('application/x-fhirwatch-spool');
        if (framed) receiver.framedBatches++;
        const lines = body
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => (framed ? l.slice(9) : l));
        const parsed = lines.map((l) => {
          const value = JSON.parse(l) as AuditRequestRecord | AuditRecord;
          return isRequestLine(value) ? (value as AuditRequestRecord) : requestFromAuditRecord(value as AuditRecord);
        });
        const badIndex =
          bad === undefined ? -1 : parsed.findIndex((r) => expandRequestRecord(r).some((row) => bad?.(row)));
        if (badIndex !== -1) {
          receiver.refusedBatches++;
          res.writeHead(400, { 'content-type': 'application/json' });
          const error: { code: string; message: string; line?: number } = {
            code: 'FW_SINK_BAD_RECORD',
            message: 'invalid record',
          };
          if (nameLine) error.line = badIndex + 1;
          res.end(JSON.stringify({ error }));
          return;
        }
        let accepted = 0;
        let duplicates = 0;
        for (const record of parsed) {
          receiver.received++;
          if (seen.has(record.event_id)) duplicates++;
          else {
            seen.add(record.event_id);
            receiver.requests.push(record);
            receiver.records.push(...expandRequestRecord(record));
            accepted++;
          }
        }
        receiver.batches++;
        if (req.headers['content-encoding'] === 'gzip') receiver.gzipBatches++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ accepted, duplicates }));
        for (const w of waiters.splice(0)) {
          if (receiver.records.length >= w.n) w.resolve();
          else waiters.push(w);
        }
        for (const c of conditions.splice(0)) {
          if (c.predicate(receiver.records)) c.resolve();
          else conditions.push(c);
        }
        return;
      }
      if (path.startsWith('/v1/')) {
        const text = body.toString('utf8');
        receiver.otlp.push({ path, body: text });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
        for (const w of otlpWaiters.splice(0)) {
          if (w.predicate(text)) w.resolve();
          else otlpWaiters.push(w);
        }
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
