/**
 * A deliberately broken FHIR server for the conformance tests: a node:http proxy in front of a real
 * gateway → mock EHR that breaks one thing of the contract and passes everything else through unchanged.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Breakage = 'no-birthdate' | 'no-oauth-extension' | 'prefix-only-family' | 'batch-refused';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Remove `birthDate` from every Patient, however deeply nested (bundles, batch entries). */
function dropBirthDates(value: unknown): void {
  if (Array.isArray(value)) for (const v of value) dropBirthDates(v);
  else if (isObject(value)) {
    if (value.resourceType === 'Patient') delete value.birthDate;
    for (const v of Object.values(value)) dropBirthDates(v);
  }
}

function families(patient: Json): string[] {
  const out: string[] = [];
  for (const n of Array.isArray(patient.name) ? patient.name : []) {
    if (!isObject(n)) continue;
    for (const f of Array.isArray(n.family) ? n.family : [n.family])
      if (typeof f === 'string') out.push(f.toLowerCase());
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startBrokenProxy(
  upstream: string,
  breakage: Breakage,
): Promise<{ url: string; close(): Promise<void> }> {
  const upstreamUrl = new URL(upstream);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      const path = req.url ?? '/';
      const isBatch = req.method === 'POST' && /^\/[^/]+\/?$/.test(path.split('?')[0]!);
      if (breakage === 'batch-refused' && isBatch) {
        res.writeHead(405, { 'content-type': 'application/fhir+json', allow: 'GET' });
        res.end(
          JSON.stringify({
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: 'not-supported', diagnostics: 'batch is not supported' }],
          }),
        );
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
      }
      const upstreamResponse = await fetch(new URL(path, upstreamUrl.origin), {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      const text = await upstreamResponse.text();
      let out = text;
      const json = (() => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return undefined;
        }
      })();
      if (json !== undefined) {
        if (breakage === 'no-birthdate') dropBirthDates(json);
        if (breakage === 'no-oauth-extension' && isObject(json) && Array.isArray(json.rest)) {
          for (const rest of json.rest) if (isObject(rest) && isObject(rest.security)) delete rest.security.extension;
        }
        if (breakage === 'prefix-only-family' && path.includes('/Patient/_search') && isObject(json)) {
          const form = new URLSearchParams(body.toString());
          const value = (form.get('family') ?? form.get('family:contains'))?.toLowerCase();
          if (value !== undefined && Array.isArray(json.entry)) {
            json.entry = json.entry.filter(
              (e) => isObject(e) && isObject(e.resource) && families(e.resource).some((f) => f.startsWith(value)),
            );
            json.total = (json.entry as unknown[]).length;
          }
        }
        out = JSON.stringify(json);
      }
      const responseHeaders: Record<string, string> = {};
      upstreamResponse.headers.forEach((v, k) => {
        if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k))
          responseHeaders[k] = v;
      });
      res.writeHead(upstreamResponse.status, responseHeaders);
      res.end(out);
    })().catch((error: unknown) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
